/**
 * YabandPay end to end through the emulator: the sandbox checks our signatures and delivers `{sign, data}`
 * notifications; each is verified over `data` and confirmed by v3.QueryOrder before anything changes, and
 * every forged, inconsistent or unconfirmable one changes nothing and is answered `bad`.
 */
import { DEMO_APPID } from '../../scripts/emulator/seed';
import { hmacSha256Hex } from '../../shared/crypto/hash';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let base: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator();
  base = (await emu.db('config', 'payment'))!;
});
afterAll(() => emu.stop());
beforeEach(() => emu.put('config', 'payment', { ...base, pay_sp: 'yaband', currency: 'EUR' }));
afterEach(() => emu.sandboxes.yaband.setFault(null));

const TRUSTED = { source: 'wx_client,scf' };
const sandbox = () => emu.sandboxes.yaband;
let seq = 0;
async function order(over: Record<string, unknown> = {}, openid = 'o-yb') {
  const id = `yb-biz-${++seq}`;
  await emu.put('orders', id, { _openid: openid, amount: 300, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id, ...over }, { openid, appid: DEMO_APPID });
  return { bizId: id, no: r.data?.out_trade_no as string, res: r };
}
const state = async () => JSON.stringify([await emu.store.find('pay_orders', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('pay_refunds', {}, { orderBy: ['_id', 'asc'] })]);
async function send(body: string, contentType = 'application/json') {
  const res = await fetch(`${emu.url}/http/notify/yaband`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}
/** Notification data for an order as the sandbox knows it (after it was marked paid there, without a delivery). */
function paidData(no: string, over: Record<string, unknown> = {}) {
  const t = sandbox().trade(no)!;
  t.state = 'paid';
  t.transaction_id ??= `4200${Date.now()}${seq}`;
  return { state: 'paid', trade_id: t.trade_id, order_id: no, transaction_id: t.transaction_id, amount: t.amount, currency: t.currency, ...over };
}
const signed = (data: Record<string, unknown>) => JSON.stringify(sandbox().signNotification(base.yaband.user, data));

it('orders with sub_app_id / sub_open_id, is paid by a confirmed notification (ok), refunds in parts', async () => {
  const { bizId, no, res } = await order();
  expect(res.ok).toBe(true);
  expect(Object.keys(res.data.payment).sort()).toEqual(['nonceStr', 'package', 'paySign', 'signType', 'timeStamp']);
  const trade = sandbox().trade(no)!;
  expect(trade.data).toMatchObject({ sub_app_id: DEMO_APPID, sub_open_id: 'o-yb', amount: '3.00', currency: 'EUR', notify_url: `${base.notify_url}/yaband` });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'CREATED', provider: 'yaband', provider_trade_no: trade.trade_id });

  const paid = await emu.post('/sandbox/yaband/pay', { out_trade_no: no });
  expect(paid.body.notify).toMatchObject({ status: 200, body: 'ok' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 300, transaction_id: paid.body.transaction_id, provider_trade_no: trade.trade_id });
  expect((await emu.db('orders', bizId)).status).toBe('paid');
  // Delivered again: nothing changes, still acknowledged.
  expect((await emu.post('/sandbox/yaband/pay', { out_trade_no: no })).body.notify.body).toBe('ok');
  expect((await emu.store.find<any>('pay_events', { out_trade_no: no })).map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-yb' })).data).toMatchObject({ status: 'PAID', provider: 'yaband' });

  const r1 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
  expect(r1.data).toMatchObject({ status: 'PROCESSING', amount: 100, refund_id: expect.stringMatching(/^R/) });
  expect(sandbox().refund(r1.data.out_refund_no)).toMatchObject({ amount: 100, m_refund_id: r1.data.out_refund_no });
  expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: r1.data.out_refund_no }, TRUSTED)).data.status).toBe('PROCESSING');
  expect((await emu.post('/sandbox/yaband/refund', { out_refund_no: r1.data.out_refund_no })).body.notify.body).toBe('ok');
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
  const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
  expect((await emu.post('/sandbox/yaband/refund', { out_refund_no: r2.data.out_refund_no, form: true })).body.notify.body).toBe('ok');
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 300 });
  expect(await emu.db('pay_refunds', r2.data.out_refund_no)).toMatchObject({ status: 'SUCCESS', refund_id: sandbox().refund(r2.data.out_refund_no)!.refund_id });
});

it('an out-of-date notification (pending, after the payment) gets the query’s state applied, not refused forever', async () => {
  const { no } = await order();
  const data = { ...paidData(no), state: 'pending' }; // the trade is paid at Yaband; this notification lags behind
  expect(await send(signed(data))).toMatchObject({ status: 200, body: 'ok' });
  expect((await emu.db('pay_orders', no)).status).toBe('PAID');
});

it('a resultData= form notification is heard too; the ack is plain-text ok', async () => {
  const { no } = await order();
  const paid = await emu.post('/sandbox/yaband/pay', { out_trade_no: no, form: true });
  expect(paid.body.notify.body).toBe('ok');
  expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  const again = await send(`resultData=${encodeURIComponent(signed(paidData(no)))}`, 'application/x-www-form-urlencoded');
  expect(again).toMatchObject({ status: 200, body: 'ok', type: expect.stringContaining('text/plain') });
});

it('unifiedorder again after the payer paid (notification lost): Yaband knows the order_id as paid, the query applies it', async () => {
  const { bizId, no } = await order();
  sandbox().trade(no)!.state = 'paid';
  const again = await emu.fn('pay', { action: 'unifiedorder', order_id: bizId }, { openid: 'o-yb', appid: DEMO_APPID });
  expect(again.data).toMatchObject({ out_trade_no: no, status: 'PAID' });
  expect(again.data.payment).toBeUndefined();
});

it('a delivery signed with the wrong key is answered bad; the genuine redelivery pays', async () => {
  const { no } = await order();
  sandbox().setFault('badsign');
  const before = await state();
  expect((await emu.post('/sandbox/yaband/pay', { out_trade_no: no })).body.notify).toMatchObject({ status: 200, body: 'bad' });
  expect(await state()).toBe(before);
  expect((await emu.post('/sandbox/yaband/pay', { out_trade_no: no })).body.notify.body).toBe('ok');
  expect((await emu.db('pay_orders', no)).status).toBe('PAID');
});

it('a payment-page method returns its url and is paid the same way', async () => {
  const { no, res } = await order({ pay_method: 'alipay' });
  expect(res.data).toMatchObject({ pay_method: 'alipay', url: expect.stringMatching(/^https:\/\//) });
  expect(res.data.payment).toBeUndefined();
  expect(sandbox().trade(no)!.data).toMatchObject({ sub_pay_method: 'Alipay' });
  expect((await emu.post('/sandbox/yaband/pay', { out_trade_no: no })).body.notify.body).toBe('ok');
  expect((await emu.db('pay_orders', no)).status).toBe('PAID');
});

it('a method Yaband does not offer is NOT_SUPPORTED, named, before anything is written', async () => {
  const before = await state();
  const { res } = await order({ pay_method: 'paypal' });
  expect(res.error.code).toBe('NOT_SUPPORTED');
  expect(res.error.message).toContain('"paypal"');
  expect(res.error.message).toContain('alipay');
  expect(await state()).toBe(before);
});

it('Yaband timing out or answering garbage on queryorder changes nothing', async () => {
  const { no } = await order();
  sandbox().trade(no)!.state = 'paid';
  const before = await state();
  for (const fault of ['timeout', 'garbage'] as const) {
    sandbox().setFault(fault);
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-yb' })).error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(await state()).toBe(before);
  }
  // Once Yaband answers, the query is what pays the order.
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-yb' })).data.status).toBe('PAID');
});

describe('notifications that change nothing (answered bad)', () => {
  const wrongKey = (data: Record<string, unknown>) => {
    const text = Object.keys(data).sort().map((k) => `${k}=${data[k]}`).join('&');
    return JSON.stringify({ sign: hmacSha256Hex('not-the-secret', text), data });
  };
  const cases: [string, (no: string) => string, string, string?][] = [
    ['signed with another secret', (no) => wrongKey(paidData(no)), 'bad sign'],
    ['unsigned', (no) => JSON.stringify({ data: paidData(no) }), 'bad sign'],
    ['tampered after signing', (no) => signed(paidData(no)).replace('"amount":"3.00"', '"amount":"0.03"'), 'bad sign'],
    ['an amount that differs from v3.QueryOrder (correctly signed)', (no) => signed(paidData(no, { amount: '0.01' })), "differs from v3.QueryOrder's 3.00 EUR"],
    ['a currency that differs from v3.QueryOrder (correctly signed)', (no) => signed(paidData(no, { currency: 'GBP' })), 'differs from v3.QueryOrder'],
    ['paid, while v3.QueryOrder says pending', (no) => {
      const d = paidData(no);
      sandbox().trade(no)!.state = 'pending';
      return signed(d);
    }, 'v3.QueryOrder says pending'],
    ['a trade of another order', (no) => signed(paidData(no, { order_id: 'ANOTHERORDER1' })), 'at YabandPay, not ANOTHERORDER1'],
    ['an unknown order and trade', () => signed({ state: 'paid', trade_id: 'T404', order_id: 'NOSUCHORDER1', amount: '3.00', currency: 'EUR' }), 'does not exist'],
    ['a refund notification for an unknown refund', (no) => signed({ ...paidData(no), m_refund_id: 'NOSUCHREFUND', refund_amount: '1.00', state: 'refunded' }), 'unknown refund'],
    ['Yaband timing out on the confirming query', (no) => {
      sandbox().setFault('timeout');
      return signed(paidData(no));
    }, 'no answer in time'],
    ['Yaband answering the confirming query in an unexpected shape', (no) => {
      sandbox().setFault('garbage');
      return signed(paidData(no));
    }, 'unexpected shape'],
    ['malformed JSON', () => '{"sign":', 'malformed JSON'],
    ['an empty body', () => '', 'empty body'],
  ];

  it.each(cases)('%s', async (_name, make, reason) => {
    const { no } = await order();
    const before = await state();
    const seen = new Set((await emu.store.find<any>('pay_events', {}, { limit: 1000 })).map((e) => e._id));
    const r = await send(make(no));
    expect(r).toMatchObject({ status: 200, body: 'bad' });
    expect(await state()).toBe(before);
    const fresh = (await emu.store.find<any>('pay_events', {}, { limit: 1000 })).filter((e) => !seen.has(e._id));
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ outcome: 'rejected' });
    expect(fresh[0].reason).toContain(reason);
  });

  it.each([
    ['amount', { amount: '0.01' }, 'amount 1 differs'],
    ['currency', { currency: 'GBP' }, 'currency GBP differs'],
  ])('Yaband itself reporting another %s than the order (signed and confirmed) is not applied', async (_n, change, reason) => {
    const { no } = await order();
    const data = paidData(no, change);
    Object.assign(sandbox().trade(no)!, change);
    const before = await state();
    expect(await send(signed(data))).toMatchObject({ status: 200, body: 'bad' });
    expect(await state()).toBe(before);
    const events = await emu.store.find<any>('pay_events', { out_trade_no: no });
    expect(events.map((e) => [e.outcome, e.reason])).toEqual([['rejected', expect.stringContaining(reason)]]);
  });
});

it('a retry after the payment (notification lost) is answered already paid, and the trade it names settles the order', async () => {
  const { bizId, no } = await order();
  const paid = await emu.post('/sandbox/yaband/pay', { out_trade_no: no });
  expect(paid.body.notify.body).toBe('ok');
  // As if that notification never came, and the prepay had lapsed: the next unifiedorder asks Yaband again.
  await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), status: 'CREATED', prepay_expires_at: 0, provider_trade_nos: [], provider_trade_no: null, trade_count: 0 });
  await emu.put('orders', bizId, { ...(await emu.db('orders', bizId)), status: 'unpaid' });
  const again = await emu.fn('pay', { action: 'unifiedorder', order_id: bizId }, { openid: 'o-yb', appid: DEMO_APPID });
  expect(again.data).toMatchObject({ out_trade_no: no, status: 'PAID' });
  expect(again.data.payment).toBeUndefined();
  expect((await emu.db('pay_orders', no)).provider_trade_nos).toEqual([sandbox().trade(no)!.trade_id]);
});

it('a query answer about another trade id than the order opened is refused; the order stays unchanged', async () => {
  const { no } = await order();
  const t = sandbox().trade(no)!;
  t.state = 'paid';
  t.trade_id = 'TNOTTHISORDERS'; // the sandbox still files it under the order's trade id, but answers with another
  const before = await state();
  const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-yb' });
  expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
  expect(r.error.message).toContain('but answered about TNOTTHISORDERS');
  expect(await state()).toBe(before);
  expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
  expect(emu.log.lines!.some((l) => l.includes('answered a query about another id') && l.includes('TNOTTHISORDERS'))).toBe(true);
});

it('a signed notification naming a trade this order never opened (confirmed by the query for that trade) is refused and recorded', async () => {
  const { no } = await order();
  // A second trade at Yaband under the same order_id and amount, paid, that this order never opened.
  const { no: otherNo } = await order();
  const other = sandbox().trade(otherNo)!;
  Object.assign(other, { order_id: no, state: 'paid', transaction_id: '4200000000000000000001' });
  const before = await state();
  const data = { state: 'paid', trade_id: other.trade_id, order_id: no, transaction_id: other.transaction_id, amount: other.amount, currency: other.currency };
  expect(await send(signed(data))).toMatchObject({ status: 200, body: 'bad' });
  expect(await state()).toBe(before);
  const events = await emu.store.find<any>('pay_events', { out_trade_no: no });
  expect(events.map((e) => [e.outcome, e.reason])).toEqual([['rejected', `trade ${other.trade_id} is not one this order opened`]]);
});

it('a currency the yaband section does not list is NOT_SUPPORTED before anything is written, naming the field', async () => {
  await emu.put('config', 'payment', { ...base, pay_sp: 'yaband', currency: 'EUR', currencies: ['EUR', 'GBP'], yaband: { ...base.yaband, currencies: ['EUR'] } });
  const before = await state();
  const { res } = await order({ currency: 'GBP' });
  expect(res.error.code).toBe('NOT_SUPPORTED');
  expect(res.error.message).toContain('config/payment.yaband.currencies');
  expect(await state()).toBe(before);
});

describe('settlement in EUR of an order paid in CNY', () => {
  const cny = (over: Record<string, unknown> = {}) =>
    emu.put('config', 'payment', { ...base, pay_sp: 'yaband', currency: 'CNY', refund_currency: 'EUR', ...over });
  async function paidCnyOrder(amount: number) {
    await cny();
    const id = `yb-cny-${++seq}`;
    await emu.put('orders', id, { _openid: 'o-yb', amount, status: 'unpaid' });
    const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-yb', appid: DEMO_APPID });
    expect(r.ok).toBe(true);
    return r.data.out_trade_no as string;
  }

  it('is recorded from the create answer, replaced by the confirmed one when paid, and shown by queryorder', async () => {
    const no = await paidCnyOrder(10000); // 100.00 CNY at 0.1285 = 12.85 EUR
    expect(await emu.db('pay_orders', no)).toMatchObject({ currency: 'CNY', settlement_amount: 1285, settlement_currency: 'EUR', exchange_rate: '0.1285' });
    // Yaband's rate moved before the payer paid: the order keeps what v3.QueryOrder confirms.
    Object.assign(sandbox().trade(no)!, { settlement_amount: '12.90', exchange_rate: '0.1290' });
    expect((await emu.post('/sandbox/yaband/pay', { out_trade_no: no })).body.notify.body).toBe('ok');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 10000, settlement_amount: 1290, settlement_currency: 'EUR', exchange_rate: '0.1290' });
    const q = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-yb' });
    expect(q.data).toMatchObject({ amount: 10000, currency: 'CNY', settlement_amount: 1290, settlement_currency: 'EUR', exchange_rate: '0.1290' });
  });

  it('refunds in refund_currency EUR as exact shares of the settlement (428 + 857 = 1285), by notification and by queryrefund', async () => {
    const no = await paidCnyOrder(10000);
    await emu.post('/sandbox/yaband/pay', { out_trade_no: no });
    const r1 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 3333 }, TRUSTED);
    // 1285 × 3333 / 10000 = 428.29 → 428 cents
    expect(r1.data).toMatchObject({ status: 'PROCESSING', amount: 3333, currency: 'CNY', settled_amount: 428, settled_currency: 'EUR' });
    expect(sandbox().requests.at(-1)).toMatchObject({ method: 'v3.CreateRefund', data: { refund_amount: '4.28', refund_currency: 'EUR', m_refund_id: r1.data.out_refund_no } });
    expect((await emu.post('/sandbox/yaband/refund', { out_refund_no: r1.data.out_refund_no })).body.notify.body).toBe('ok');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 3333 });

    // The rest: what remains of the settlement, 1285 − 428.
    const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(r2.data).toMatchObject({ amount: 6667, settled_amount: 857, settled_currency: 'EUR' });
    // Its notification is lost: queryrefund finds it in v3.TimeRefundOrder's list.
    expect((await emu.post('/sandbox/yaband/refund', { out_refund_no: r2.data.out_refund_no, deliver: false })).body.notify).toBeNull();
    const q = await emu.fn('pay', { action: 'queryrefund', out_refund_no: r2.data.out_refund_no }, TRUSTED);
    expect(q.data).toMatchObject({ status: 'SUCCESS', amount: 6667, settled_amount: 857 });
    expect(sandbox().requests.at(-1)).toMatchObject({ method: 'v3.TimeRefundOrder', data: { start_time: expect.any(Number), end_time: expect.any(Number) } });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 10000 });
    expect(sandbox().trade(no)).toMatchObject({ refunded_settled: 1285, state: 'refunded' });
  });

  it('a refund notification in EUR for another amount than the refund’s share is refused and recorded', async () => {
    const no = await paidCnyOrder(10000);
    await emu.post('/sandbox/yaband/pay', { out_trade_no: no });
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 5000 }, TRUSTED);
    expect(r.data.settled_amount).toBe(643); // 642.5 rounds half up
    const t = sandbox().trade(no)!;
    const before = await state();
    const data = { state: 'refunded', trade_id: t.trade_id, order_id: no, transaction_id: t.transaction_id, refund_id: 'R1', m_refund_id: r.data.out_refund_no, amount: t.amount, currency: t.currency, refund_amount: '6.42', refund_currency: 'EUR' };
    expect(await send(signed(data))).toMatchObject({ body: 'bad' });
    expect(await state()).toBe(before);
    const events = await emu.store.find<any>('pay_events', { out_refund_no: r.data.out_refund_no });
    expect(events.map((e) => [e.outcome, e.reason])).toEqual([['rejected', "refund amount 642 EUR differs from the request's 643 EUR"]]);
  });

  it('a refund too small to be worth a cent in EUR is refused before anything is written', async () => {
    const no = await paidCnyOrder(10000);
    await emu.post('/sandbox/yaband/pay', { out_trade_no: no });
    const before = await state();
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 3 }, TRUSTED);
    expect(r.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('worth 0 EUR') });
    expect(await state()).toBe(before);
  });

  it('a paying trade reported without a settlement keeps the quote made for that same trade', async () => {
    const no = await paidCnyOrder(10000);
    const t = sandbox().trade(no)!;
    expect(await emu.db('pay_orders', no)).toMatchObject({ settlement_amount: 1285, settlement_trade_no: t.trade_id });
    t.omit_settlement = true;
    expect((await emu.post('/sandbox/yaband/pay', { out_trade_no: no })).body.notify.body).toBe('ok');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', settlement_amount: 1285, settlement_currency: 'EUR', exchange_rate: '0.1285', settlement_trade_no: t.trade_id });
    expect((await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 5000 }, TRUSTED)).data).toMatchObject({ settled_amount: 643, settled_currency: 'EUR' });
  });

  it('the first of two trades paying, reported without a settlement, takes not the second trade’s quote: a refund in EUR is CONFLICT', async () => {
    await cny();
    const id = `yb-cny-${++seq}`;
    await emu.put('orders', id, { _openid: 'o-yb', amount: 10000, status: 'unpaid' });
    // A payment page (no prepay to reuse), so each unifiedorder asks Yaband again.
    const unifiedorder = () => emu.fn('pay', { action: 'unifiedorder', order_id: id, pay_method: 'alipay' }, { openid: 'o-yb', appid: DEMO_APPID });
    const no = (await unifiedorder()).data.out_trade_no as string;
    const t1 = sandbox().trade(no)!;
    // Yaband opens a new trade for the retry (the sandbox files the first one elsewhere meanwhile).
    t1.order_id = `${no}-first`;
    expect((await unifiedorder()).ok).toBe(true);
    const t2 = sandbox().trade(no)!;
    t1.order_id = no;
    expect(t2.trade_id).not.toBe(t1.trade_id);
    expect(await emu.db('pay_orders', no)).toMatchObject({ provider_trade_nos: [t1.trade_id, t2.trade_id], settlement_amount: 1285, settlement_trade_no: t2.trade_id });

    // The payer pays the first page; Yaband's answers about that trade carry no settlement.
    t1.omit_settlement = true;
    expect((await emu.post('/sandbox/yaband/pay', { trade_id: t1.trade_id })).body.notify.body).toBe('ok');
    expect(await emu.db('pay_orders', no)).toMatchObject({
      status: 'PAID', provider_trade_no: t1.trade_id, settlement_amount: null, settlement_currency: null, exchange_rate: null, settlement_trade_no: null,
    });
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(r.error).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('no settlement is recorded for it') });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-yb' })).data.settlement_currency).toBeUndefined();
  });

  it('refund_currency other than the recorded settlement currency is CONFLICT, naming the field', async () => {
    const no = await paidCnyOrder(10000);
    await emu.post('/sandbox/yaband/pay', { out_trade_no: no });
    await cny({ refund_currency: 'GBP' });
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(r.error.code).toBe('CONFLICT');
    expect(r.error.message).toContain('config/payment.refund_currency is GBP');
    expect(r.error.message).toContain('its settlement is recorded in EUR');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
  });
});

describe('refund confirmation through the refund list (refund_query_method)', () => {
  async function paid() {
    const { no } = await order();
    await emu.post('/sandbox/yaband/pay', { out_trade_no: no });
    return no;
  }

  it('reconcile ends a refund whose notification was lost', async () => {
    const no = await paid();
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 120 }, TRUSTED);
    await emu.post('/sandbox/yaband/refund', { out_refund_no: r.data.out_refund_no, deliver: false });
    const rec = await emu.fn('pay', { action: 'reconcile', older_than_minutes: 0, spacing_ms: 0 }, TRUSTED);
    expect(rec.ok).toBe(true);
    expect(await emu.db('pay_refunds', r.data.out_refund_no)).toMatchObject({ status: 'SUCCESS', refund_id: sandbox().refund(r.data.out_refund_no)!.refund_id });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 120 });
  });

  it('a failed refund in the list ends CLOSED and gives the amount back', async () => {
    const no = await paid();
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    await emu.post('/sandbox/yaband/refund', { out_refund_no: r.data.out_refund_no, result: 'failed', deliver: false });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: r.data.out_refund_no }, TRUSTED)).data.status).toBe('CLOSED');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
  });

  /** A paid order and a refund of 100 that ended CLOSED here (failed) and that Yaband then made after all. */
  async function lateRefund() {
    const no = await paid();
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
    const refundNo: string = r.data.out_refund_no;
    await emu.post('/sandbox/yaband/refund', { out_refund_no: refundNo, result: 'failed', deliver: false });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: refundNo }, TRUSTED)).data.status).toBe('CLOSED');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
    sandbox().refund(refundNo)!.state = 'refunded'; // made after all, under the same m_refund_id
    const deliver = async () => (await emu.post('/sandbox/yaband/refund', { out_refund_no: refundNo })).body.notify;
    return { no, refundNo, deliver };
  }

  /** Runs `fn` while the store fails the order's refunded count (`times` times), after the refund record took the provider's state. */
  async function whileOrderCountFails<T>(no: string, times: number, fn: () => Promise<T>): Promise<{ result: T; failed: number }> {
    const update = emu.store.update.bind(emu.store);
    let failed = 0;
    emu.store.update = async (coll, id, when, patch) => {
      if (coll === 'pay_orders' && id === no && 'refunded_amount' in patch && failed < times) {
        failed++;
        throw new Error('database unavailable');
      }
      return update(coll, id, when, patch);
    };
    try {
      return { result: await fn(), failed };
    } finally {
      emu.store.update = update;
    }
  }

  it('a refund ended CLOSED (failed) that Yaband later reports refunded is counted, so it cannot be refunded again', async () => {
    const { no, refundNo, deliver } = await lateRefund();
    expect(await deliver()).toMatchObject({ body: 'ok' });
    expect(await emu.db('pay_refunds', refundNo)).toMatchObject({ status: 'SUCCESS', late: true });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
    expect(await deliver()).toMatchObject({ body: 'ok' });
    expect(await emu.db('pay_orders', no)).toMatchObject({ refunded_amount: 100 }); // counted once
  });

  it('a late refund whose count on the order failed is counted by the next delivery, once', async () => {
    const { no, refundNo, deliver } = await lateRefund();
    const { result, failed } = await whileOrderCountFails(no, 1, deliver);
    expect(failed).toBe(1);
    expect(result).not.toMatchObject({ body: 'ok' });
    expect(await emu.db('pay_refunds', refundNo)).toMatchObject({ status: 'SUCCESS', late: true, late_counted: false });
    // The amount left the merchant: the order must not offer it for refund again.
    expect(await deliver()).toMatchObject({ body: 'ok' });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
    expect(await emu.db('pay_refunds', refundNo)).toMatchObject({ late_counted: true });
    expect(await deliver()).toMatchObject({ body: 'ok' });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: refundNo }, TRUSTED)).data.status).toBe('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ refunded_amount: 100 }); // counted once
  });

  it('a late refund whose count on the order failed is counted by queryrefund', async () => {
    const { no, refundNo, deliver } = await lateRefund();
    await whileOrderCountFails(no, 100, deliver);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: refundNo }, TRUSTED)).data.status).toBe('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
  });

  it('a late refund that is also the refund the order still waits on (its release never ran) is counted once', async () => {
    const no = await paid();
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
    const refundNo: string = r.data.out_refund_no;
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDING', refunding: { out_refund_no: refundNo } });
    // Ended CLOSED by a run that stopped before releasing the order; then Yaband reports it made.
    await emu.put('pay_refunds', refundNo, { ...(await emu.db('pay_refunds', refundNo)), status: 'CLOSED' });
    sandbox().refund(refundNo)!.state = 'refunded';
    expect((await emu.post('/sandbox/yaband/refund', { out_refund_no: refundNo })).body.notify).toMatchObject({ body: 'ok' });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: refundNo }, TRUSTED)).data.status).toBe('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100, refunding: null });
  });

  it('a list entry with our m_refund_id but of another trade is refused (PROVIDER_UNAVAILABLE, logged); the refund stays in flight', async () => {
    const no = await paid();
    const other = await paid();
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
    sandbox().refund(r.data.out_refund_no)!.trade_id = sandbox().trade(other)!.trade_id;
    await emu.post('/sandbox/yaband/refund', { out_refund_no: r.data.out_refund_no, deliver: false });
    const before = await state();
    const q = await emu.fn('pay', { action: 'queryrefund', out_refund_no: r.data.out_refund_no }, TRUSTED);
    expect(q.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(q.error.message).toContain('v3.TimeRefundOrder asked about trade_id');
    expect(await state()).toBe(before);
    expect(emu.log.lines!.some((l) => l.includes('answered a query about another id') && l.includes('v3.TimeRefundOrder'))).toBe(true);
  });

  it('a configured refund_query_method is the one called; one Yaband does not know is PROVIDER_REJECTED and changes nothing', async () => {
    const no = await paid();
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
    await emu.put('config', 'payment', { ...base, pay_sp: 'yaband', currency: 'EUR', yaband: { ...base.yaband, refund_query_method: 'v3.ListRefunds' } });
    const before = await state();
    const q = await emu.fn('pay', { action: 'queryrefund', out_refund_no: r.data.out_refund_no }, TRUSTED);
    expect(q.error).toMatchObject({ code: 'PROVIDER_REJECTED', message: expect.stringContaining('v3.ListRefunds') });
    expect(sandbox().requests.at(-1)).toMatchObject({ method: 'v3.ListRefunds' });
    expect(await state()).toBe(before);
  });
});
