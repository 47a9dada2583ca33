/**
 * 2paynow end to end through the emulator: the sandbox checks our md5 signs and sends the query-string
 * notification, whose sign covers neither amount nor state; the order becomes PAID only through what
 * `function=query` then says. Every forged or inconsistent notification changes nothing.
 */
import { md5Hex } from '../../shared/crypto/hash';
import { DEMO_APPID } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let base: Record<string, any>;
let section: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator({ httpTimeoutMs: 500, sandboxStallMs: 900 });
  base = (await emu.db('config', 'payment'))!;
  section = base['2paynow'];
});
afterAll(() => emu.stop());
beforeEach(() => useConfig());
afterEach(() => emu.sandboxes['2paynow'].setFault(null));

const TRUSTED = { source: 'wx_client,scf' };
const useConfig = (over: Record<string, unknown> = {}) => emu.put('config', 'payment', { ...base, pay_sp: '2paynow', currency: 'EUR', ...over });
let seq = 0;
async function order(payMethod?: string, amount = 250) {
  const id = `tp-biz-${++seq}`;
  await emu.put('orders', id, { _openid: 'o-tp', amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id, pay_method: payMethod }, { openid: 'o-tp', appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  return { bizId: id, no: r.data.out_trade_no as string, res: r };
}
const trade = (no: string) => emu.sandboxes['2paynow'].trade(section.mid, no)!;
const pay = (no: string, body: Record<string, unknown> = {}) => emu.post('/sandbox/2paynow/pay', { out_trade_no: no, ...body });
const state = async () => JSON.stringify([await emu.store.find('pay_orders', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('pay_refunds', {}, { orderBy: ['_id', 'asc'] })]);

/** A notification as 2paynow sends it, signed with `key` (the merchant's unless given). */
function notification(no: string, over: Record<string, string> = {}, key: string = section.key): Record<string, string> {
  const f: Record<string, string> = {
    function: 'precreate',
    mid: section.mid,
    timestamp: String(Date.now()),
    trade_no: trade(no)?.trade_no ?? 'A00000000000000000',
    merchant_trade_no: '',
    trade_status: 'TRADE_SUCCESS',
    amount: '2.50',
    currency: 'EUR',
    amount_cny: '19.50',
    passback_parameters: JSON.stringify({ out_trade_no: no }),
    ...over,
  };
  return { ...f, sign: md5Hex(`${f.function}${f.mid}${f.timestamp}${key}`) };
}
/** A form POST, or (inQuery) a GET with the fields in the query string, as 2paynow is reported to send. */
async function send(fields: Record<string, string>, inQuery = false) {
  const form = new URLSearchParams(fields).toString();
  const res = inQuery
    ? await fetch(`${emu.url}/http/notify/2paynow?${form}`)
    : await fetch(`${emu.url}/http/notify/2paynow`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  return { status: res.status, body: await res.text() };
}

it('wechat: five requestPayment fields, paid by the notification once the query confirms it, queried, refunded in parts', async () => {
  const { bizId, no, res } = await order();
  expect(Object.keys(res.data.payment).sort()).toEqual(['appId', 'nonceStr', 'package', 'paySign', 'signType', 'timeStamp']);
  expect(trade(no)).toMatchObject({ function: 'jsapi_precreate', amount: '2.50', currency: 'EUR' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ provider: '2paynow', status: 'CREATED', provider_trade_no: trade(no).trade_no, merchant: { mchid: section.mid } });

  const paid = await pay(no);
  expect(paid.body.notify).toMatchObject({ status: 200, body: 'success' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 250, provider_trade_no: trade(no).trade_no });
  expect((await emu.db('orders', bizId)).status).toBe('paid');
  // 2paynow delivers again until it reads success: the duplicate changes nothing and is acknowledged.
  expect((await pay(no)).body.notify).toMatchObject({ status: 200, body: 'success' });
  expect((await emu.store.find<any>('pay_events', { out_trade_no: no })).map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-tp' })).data).toMatchObject({ status: 'PAID', provider: '2paynow' });

  const r1 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
  expect(r1.data).toMatchObject({ status: 'SUCCESS', amount: 100, currency: 'EUR' });
  expect((await emu.post('/sandbox/2paynow/refund', { out_refund_no: r1.data.out_refund_no })).body).toMatchObject({ refund_amount: '1.00', refund_status: 'REFUND_SUCCESS', notify: null });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
  const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
  expect(r2.data).toMatchObject({ status: 'SUCCESS', amount: 150 });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 250 });
  expect(trade(no).refunded).toBe(250);
});

it.each(['alipay', 'wechat_qr'])('%s returns a payment url and is paid the same way', async (method) => {
  const { no, res } = await order(method);
  expect(res.data).toMatchObject({ pay_method: method, url: trade(no).qr_code });
  expect(res.data.payment).toBeUndefined();
  expect((await pay(no)).body.notify.body).toBe('success');
  expect((await emu.db('pay_orders', no)).status).toBe('PAID');
});

it('a pay_method 2paynow does not offer is NOT_SUPPORTED, named', async () => {
  await emu.put('orders', 'tp-paypal', { _openid: 'o-tp', amount: 250, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: 'tp-paypal', pay_method: 'paypal' }, { openid: 'o-tp', appid: DEMO_APPID });
  expect(r.error.code).toBe('NOT_SUPPORTED');
  expect(r.error.message).toContain('"paypal"');
  expect(r.error.message).toContain('wechat, alipay, wechat_qr');
});

it('without refund_function a refund is NOT_SUPPORTED, naming the field, and the order stays PAID', async () => {
  const { refund_function: _drop, ...noRefund } = section;
  void _drop;
  await useConfig({ '2paynow': noRefund });
  const { no } = await order();
  await pay(no);
  const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
  expect(r.error.code).toBe('NOT_SUPPORTED');
  expect(r.error.message).toContain('config/payment.2paynow.refund_function');
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
  expect(trade(no).refunded).toBe(0);
  expect(await emu.store.find('pay_refunds', { out_trade_no: no })).toHaveLength(0); // refused before anything was written
});

it('a lost notification: queryorder finds the payment when the mini-program comes back', async () => {
  const { no } = await order();
  expect((await pay(no, { deliver: false })).body.notify).toBeNull();
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-tp' })).data.status).toBe('PAID');
});

it('a notification as a GET with a query string is read as well as a form POST', async () => {
  const { no } = await order();
  await pay(no, { deliver: false });
  await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), status: 'CREATED' });
  expect(await send(notification(no, { function: 'jsapi_precreate' }), true)).toEqual({ status: 200, body: 'success' });
  expect((await emu.db('pay_orders', no)).status).toBe('PAID');
});

describe('notifications that change nothing', () => {
  it.each([
    ['forged (signed with another key)', (no: string) => notification(no, {}, 'not-the-merchant-key')],
    ['unsigned', (no: string) => ({ ...notification(no), sign: '' })],
    ['from another mid', (no: string) => notification(no, { mid: '4000000999' })],
    ['with a changed timestamp', (no: string) => ({ ...notification(no), timestamp: '1571034662245' })],
  ])('%s: failure reply', async (_name, make) => {
    const { no } = await order();
    await pay(no, { deliver: false });
    await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), status: 'CREATED' });
    const before = await state();
    expect(await send(make(no))).toEqual({ status: 500, body: 'fail' });
    expect(await state()).toBe(before);
  });

  it('the sandbox’s own notification under a badsign fault: failure reply; the next genuine delivery settles it', async () => {
    const { no } = await order();
    const before = await state();
    emu.sandboxes['2paynow'].setFault('badsign');
    expect((await pay(no)).body.notify).toMatchObject({ status: 500, body: 'fail' });
    expect(await state()).toBe(before);
    expect((await pay(no)).body.notify.body).toBe('success');
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  });

  it('an unknown order: failure reply', async () => {
    const before = await state();
    const f = notification('TPNOSUCHORDER01', { trade_no: 'A99999999999999999' });
    expect(await send(f)).toEqual({ status: 500, body: 'fail' });
    expect(await state()).toBe(before);
  });

  it('a notification claiming more than the query says (unpaid): nothing to apply, acknowledged as the composition decides', async () => {
    const { no } = await order();
    const before = await state();
    // Authentic but premature or wrong: the query (UNKNOWN) is the truth, and that changes nothing.
    expect((await send(notification(no, { amount: '9.99' }))).body).toBe('success');
    expect(await state()).toBe(before);
    expect((await emu.store.find<any>('pay_events', { out_trade_no: no }))[0]).toMatchObject({ outcome: 'ignored' });
  });

  it.each([
    ['an amount', { amount: '9.99' }],
    ['a currency', { currency: 'GBP' }],
  ])('the query reports %s other than the order’s: failure reply', async (_name, reshaped) => {
    const { no } = await order();
    Object.assign(trade(no), reshaped);
    const before = await state();
    expect((await pay(no)).body.notify).toEqual({ url: `${base.notify_url}/2paynow`, status: 500, body: 'fail' });
    expect(await state()).toBe(before);
  });

  it.each(['timeout', 'garbage'] as const)('the confirming query meets %s: 500, nothing changes', async (fault) => {
    const { no } = await order();
    await pay(no, { deliver: false });
    const before = await state();
    emu.sandboxes['2paynow'].setFault(fault);
    const r = await send(notification(no));
    expect(r.status).toBe(500);
    expect(r.body).not.toBe('success');
    expect(await state()).toBe(before);
  });
});

it.each(['timeout', 'garbage', '5xx'] as const)('queryorder while 2paynow answers %s: PROVIDER_UNAVAILABLE, nothing changes', async (fault) => {
  const { no } = await order();
  await pay(no, { deliver: false });
  const before = await state();
  emu.sandboxes['2paynow'].setFault(fault);
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-tp' })).error.code).toBe('PROVIDER_UNAVAILABLE');
  expect(await state()).toBe(before);
});

describe('answers about a trade the order never opened', () => {
  it('a signed notification naming another trade_no for this order: failure reply, recorded, nothing changes', async () => {
    const { no } = await order();
    await pay(no, { deliver: false }); // paid at 2paynow, so only the trade check stands in the way
    const before = await state();
    expect(await send(notification(no, { trade_no: 'A11111111111111111' }))).toEqual({ status: 500, body: 'fail' });
    expect(await state()).toBe(before);
    const events = await emu.store.find<any>('pay_events', { out_trade_no: no });
    expect(events.map((e) => [e.outcome, e.reason])).toEqual([['rejected', 'the notification names a trade this order never had']]);
  });

  it('a query answer about another trade_no than the stored one: PROVIDER_UNAVAILABLE, logged, nothing changes', async () => {
    const { no } = await order();
    await pay(no, { deliver: false });
    const asked = trade(no).trade_no;
    trade(no).trade_no = 'A22222222222222222'; // still filed under the stored id, but answers with another
    const before = await state();
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-tp' });
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.error.message).toContain(`trade_no ${asked} but answered about A22222222222222222`);
    expect(await state()).toBe(before);
    expect(emu.log.lines!.some((l) => l.includes('answered a query about another id') && l.includes('A22222222222222222'))).toBe(true);
  });

  it('an order with no stored trade is queried by our number in trade_no; an answer naming another merchant_trade_no is refused', async () => {
    const { no } = await order();
    await pay(no, { deliver: false });
    const stored = await emu.db('pay_orders', no);
    await emu.put('pay_orders', no, { ...stored, provider_trade_no: null, provider_trade_nos: [], trade_count: 0 });
    const t = trade(no);
    const tradeNo = t.trade_no;
    // The sandbox still finds it by our number (now its trade_no), but the answer names another merchant_trade_no.
    Object.assign(t, { trade_no: no, merchant_trade_no: 'SOMEONEELSES01' });
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-tp' });
    expect(r.error.message).toContain(`merchant_trade_no ${no} but answered about SOMEONEELSES01`);
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
    Object.assign(t, { trade_no: tradeNo, merchant_trade_no: no }); // the genuine answer pays it, and its trade_no is kept
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-tp' })).data.status).toBe('PAID');
    expect((await emu.db('pay_orders', no)).provider_trade_no).toBe(trade(no).trade_no);
  });

  it('an answer about the stored trade_no that names another merchant_trade_no is refused: the trade is not this order’s', async () => {
    const { no } = await order();
    await pay(no, { deliver: false });
    trade(no).merchant_trade_no = 'SOMEONEELSES02';
    const before = await state();
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-tp' });
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.error.message).toContain(`merchant_trade_no ${no} but answered about SOMEONEELSES02`);
    expect(await state()).toBe(before);
  });
});

it('a currency the 2paynow section does not list is NOT_SUPPORTED before anything is written, naming the field', async () => {
  await useConfig({ currencies: ['EUR', 'GBP'] });
  const before = await state();
  await emu.put('orders', 'tp-gbp', { _openid: 'o-tp', amount: 250, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: 'tp-gbp', currency: 'GBP' }, { openid: 'o-tp', appid: DEMO_APPID });
  expect(r.error.code).toBe('NOT_SUPPORTED');
  expect(r.error.message).toContain('config/payment.2paynow.currencies');
  expect(await state()).toBe(before);
});

describe('a refund whose answer was lost is confirmed by the trade’s refunded total', () => {
  /** A paid order and a refund of `amount` sent while 2paynow does not answer (the refund record stays REQUESTED). */
  async function lostRefund(amount: number) {
    const { no } = await order();
    await pay(no);
    emu.sandboxes['2paynow'].setFault('timeout');
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount }, TRUSTED);
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    const [refund] = await emu.store.find<any>('pay_refunds', { out_trade_no: no });
    expect(refund).toMatchObject({ status: 'REQUESTED', amount });
    return { no, refundNo: refund._id as string };
  }
  const queryRefund = (refundNo: string) => emu.fn('pay', { action: 'queryrefund', out_refund_no: refundNo }, TRUSTED);

  it('a total that grew by exactly the refund: SUCCESS (and a later refund counts from the new total)', async () => {
    const { no, refundNo } = await lostRefund(100);
    trade(no).refunded += 100; // 2paynow made it; only the answer was lost
    expect((await queryRefund(refundNo)).data).toMatchObject({ status: 'SUCCESS', amount: 100 });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });

    emu.sandboxes['2paynow'].setFault('timeout');
    expect((await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 50 }, TRUSTED)).error.code).toBe('PROVIDER_UNAVAILABLE');
    trade(no).refunded += 50;
    expect((await queryRefund(`${no}R2`)).data).toMatchObject({ status: 'SUCCESS', amount: 50 });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 150 });
  });

  it('an unchanged total: never made; the refund is ended (REJECTED) once no send can still be on its way', async () => {
    const { no, refundNo } = await lostRefund(100);
    expect((await queryRefund(refundNo)).data.status).toBe('REQUESTED'); // too early to tell
    const rec = await emu.db('pay_refunds', refundNo);
    await emu.put('pay_refunds', refundNo, { ...rec, last_sent_at: Date.now() - 6 * 60_000 });
    expect((await queryRefund(refundNo)).data.status).toBe('REJECTED');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
  });

  it('a total that matches neither: refused and logged, the refund stays in flight, nothing changes', async () => {
    const { no, refundNo } = await lostRefund(100);
    trade(no).refunded += 70;
    const before = await state();
    expect((await queryRefund(refundNo)).data.status).toBe('REQUESTED');
    expect(await state()).toBe(before);
    expect(emu.log.lines!.some((l) => l.includes('refund query does not match the record') && l.includes("refund amount 70 EUR differs from the request's 100 EUR"))).toBe(true);
  });

  describe('a retry of the lost refund asks first, and sends again only if it was never made', () => {
    const retry = (no: string) => emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);

    it('made (the total grew by it): SUCCESS without a second send, so 2paynow refunds it once', async () => {
      const { no, refundNo } = await lostRefund(100);
      trade(no).refunded += 100; // made at 2paynow; only the answer was lost
      expect((await retry(no)).data).toMatchObject({ out_refund_no: refundNo, status: 'SUCCESS', amount: 100 });
      expect(trade(no).refunded).toBe(100);
      expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
    });

    it('not made yet (the total unchanged) while the lost send may still be on its way: not sent again (CONFLICT, retry_after)', async () => {
      const { no, refundNo } = await lostRefund(100);
      const before = await state();
      const r = await retry(no);
      expect(r.error).toMatchObject({ code: 'CONFLICT', retryable: true });
      expect(r.error.message).toContain(`refund ${refundNo} was last sent`);
      const rec = await emu.db('pay_refunds', refundNo);
      expect(r.error.retry_after).toBe(rec.last_sent_at + 5 * 60_000);
      expect(trade(no).refunded).toBe(0); // not sent again: should 2paynow still make the lost send, it is made once
      expect(await state()).toBe(before);
    });

    it('never made (the total unchanged once no send can still be on its way): sent again and done', async () => {
      const { no, refundNo } = await lostRefund(100);
      const rec = await emu.db('pay_refunds', refundNo);
      await emu.put('pay_refunds', refundNo, { ...rec, last_sent_at: Date.now() - 6 * 60_000 });
      expect((await retry(no)).data).toMatchObject({ out_refund_no: refundNo, status: 'SUCCESS', amount: 100 });
      expect(trade(no).refunded).toBe(100);
      expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
    });

    it('two retries at once, once no send can still be on its way: the refund is sent again once', async () => {
      const { no, refundNo } = await lostRefund(100);
      const rec = await emu.db('pay_refunds', refundNo);
      await emu.put('pay_refunds', refundNo, { ...rec, last_sent_at: Date.now() - 6 * 60_000 });
      const sends = emu.sandboxes['2paynow'].refundRequests(refundNo);
      const both = await Promise.all([0, 1].map(() => emu.fn('pay', { action: 'refund', out_trade_no: no, out_refund_no: refundNo }, TRUSTED)));
      expect(emu.sandboxes['2paynow'].refundRequests(refundNo)).toBe(sends + 1);
      expect(both.filter((r) => r.ok && r.data.status === 'SUCCESS').length).toBeGreaterThanOrEqual(1);
      expect(trade(no).refunded).toBe(100);
      expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
    });

    it('a total that matches neither: not sent again, the refund stays in flight, nothing changes', async () => {
      const { no } = await lostRefund(100);
      trade(no).refunded += 70;
      const before = await state();
      const r = await retry(no);
      expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
      expect(r.error.message).toContain('was not sent again');
      expect(trade(no).refunded).toBe(70);
      expect(await state()).toBe(before);
    });
  });

  it('reconcile confirms a lost refund the same way', async () => {
    const { no, refundNo } = await lostRefund(250);
    trade(no).refunded += 250;
    expect((await emu.fn('pay', { action: 'reconcile', older_than_minutes: 0, spacing_ms: 0 }, TRUSTED)).ok).toBe(true);
    expect(await emu.db('pay_refunds', refundNo)).toMatchObject({ status: 'SUCCESS' });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 250 });
  });

  it('refund_currency other than the order’s is NOT_SUPPORTED: 2paynow refunds only in the order’s currency', async () => {
    const { no } = await order();
    await pay(no);
    await useConfig({ refund_currency: 'CNY' });
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(r.error.code).toBe('NOT_SUPPORTED');
    expect(r.error.message).toContain("config/payment.refund_currency is CNY but order");
    expect(r.error.message).toContain("2paynow refunds only in the order's currency");
    expect(await emu.store.find('pay_refunds', { out_trade_no: no })).toHaveLength(0);
  });
});
