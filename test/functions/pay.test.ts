/**
 * The `pay` function through the emulator (POST /fn/pay over loopback HTTP), with the WeChat Pay v2 sandbox
 * behind it over mutual TLS, as `npm start` runs it.
 */
import { manualClock } from '../../shared/core/clock';
import { DEMO_APPID, DEMO_MCHID } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

const clock = manualClock(Date.now());
let emu: TestEmulator;
let baseConfig: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator({ tls: true, clock });
  baseConfig = (await emu.db('config', 'payment'))!;
});
afterAll(() => emu.stop());
afterEach(async () => {
  emu.sandboxes['wechatpay-v2'].setFault(null);
  await emu.put('config', 'payment', baseConfig);
});

const TRUSTED = { source: 'wx_client,scf' };
let seq = 0;
/** A business order owned by `openid` in the seeded `orders` collection. */
async function businessOrder(openid: string, amount: unknown = 250) {
  const id = `biz-${++seq}`;
  await emu.put('orders', id, { _openid: openid, amount, description: `停车 ${seq}`, status: 'unpaid' });
  return id;
}
async function order(openid = 'o-alice', amount = 250) {
  const id = await businessOrder(openid, amount);
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid, appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  return { bizId: id, no: r.data.out_trade_no as string, res: r };
}
const pay = (no: string, result?: string) => emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: no, mch_id: DEMO_MCHID, result });
const completeRefund = (no: string, result?: string) => emu.post('/sandbox/wechatpay-v2/refund', { out_refund_no: no, mch_id: DEMO_MCHID, result });

describe('order mode: amount and payer from the business order', () => {
  it('orders, pays by notification, marks the business order, refunds in parts, applies refund notifications', async () => {
    const { bizId, no, res } = await order('o-alice', 250);
    expect(res.data).toMatchObject({ status: 'CREATED', amount: 250, currency: 'CNY', provider: 'v2' });
    expect(Object.keys(res.data.payment).sort()).toEqual(['appId', 'nonceStr', 'package', 'paySign', 'signType', 'timeStamp']);

    const delivered = await pay(no);
    expect(delivered.body.notify.body).toContain('SUCCESS');
    const paid = await emu.db('pay_orders', no);
    expect(paid).toMatchObject({ status: 'PAID', paid_amount: 250, transaction_id: delivered.body.transaction_id, hooks: { on_paid: { state: 'done', attempts: 1 } } });
    expect(await emu.db('orders', bizId)).toMatchObject({ status: 'paid', paid_out_trade_no: no });
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-alice' })).data.status).toBe('PAID');

    const r1 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100, reason: '提前离场' }, TRUSTED);
    expect(r1.data).toMatchObject({ status: 'PROCESSING', amount: 100, out_refund_no: `${no}R1` });
    expect((await emu.db('pay_orders', no)).status).toBe('REFUNDING');
    const busy = await emu.fn('pay', { action: 'refund', out_trade_no: no, out_refund_no: 'another1', amount: 50 }, TRUSTED);
    expect(busy.error.code).toBe('CONFLICT');
    expect(busy.error.message).toContain(`${no}R1`);

    expect((await completeRefund(`${no}R1`)).body.notify.body).toContain('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100, refunding: null });

    const tooMuch = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 151 }, TRUSTED);
    expect(tooMuch.error).toMatchObject({ code: 'INVALID_INPUT' });
    expect(tooMuch.error.message).toContain('150');

    const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(r2.data).toMatchObject({ amount: 150, out_refund_no: `${no}R2` });
    await completeRefund(`${no}R2`);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 250 });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: `${no}R2` }, { openid: 'o-alice' })).data.status).toBe('SUCCESS');
    expect((await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 1 }, TRUSTED)).error.code).toBe('CONFLICT');
  });

  it('a retry for the same business order reuses the order number and the prepay id', async () => {
    const { bizId, no, res } = await order('o-bob');
    const again = await emu.fn('pay', { action: 'unifiedorder', order_id: bizId }, { openid: 'o-bob', appid: DEMO_APPID });
    expect(again.data.out_trade_no).toBe(no);
    expect(again.data.payment.package).toBe(res.data.payment.package);
  });

  it('concurrent first calls for one business order agree on one order number', async () => {
    const bizId = await businessOrder('o-carol');
    const all = await Promise.all(
      Array.from({ length: 8 }, () => emu.fn('pay', { action: 'unifiedorder', order_id: bizId }, { openid: 'o-carol', appid: DEMO_APPID })),
    );
    const numbers = new Set(all.map((r) => r.data?.out_trade_no));
    expect(numbers.size).toBe(1);
    expect(all.every((r) => r.ok)).toBe(true);
  });

  it('refuses someone else’s business order, a client amount, an unknown order, a paid order, a malformed amount', async () => {
    const mine = await businessOrder('o-dave');
    const other = await emu.fn('pay', { action: 'unifiedorder', order_id: mine }, { openid: 'o-eve' });
    expect(other.error.code).toBe('FORBIDDEN');
    const withAmount = await emu.fn('pay', { action: 'unifiedorder', order_id: mine, amount: 1 }, { openid: 'o-dave' });
    expect(withAmount.error).toMatchObject({ code: 'INVALID_INPUT' });
    expect(withAmount.error.message).toContain('amount comes from the business order');
    expect((await emu.fn('pay', { action: 'unifiedorder', order_id: 'nope' }, { openid: 'o-dave' })).error.code).toBe('NOT_FOUND');
    expect((await emu.fn('pay', { action: 'unifiedorder' }, { openid: 'o-dave' })).error.message).toContain('order_id is required');

    const { bizId, no } = await order('o-dave');
    await pay(no);
    expect((await emu.fn('pay', { action: 'unifiedorder', order_id: bizId }, { openid: 'o-dave' })).error.code).toBe('CONFLICT');

    const floaty = await businessOrder('o-dave', 2.5);
    const bad = await emu.fn('pay', { action: 'unifiedorder', order_id: floaty }, { openid: 'o-dave' });
    expect(bad.error.code).toBe('CONFLICT');
    expect(bad.error.message).toContain('whole number');
    expect(await emu.db('pay_orders', `${floaty}`)).toBeNull();
  });

  it('a client without OPENID cannot order', async () => {
    const id = await businessOrder('o-x');
    expect((await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { source: 'wx_http' })).error.code).toBe('FORBIDDEN');
  });
});

describe('who may query, close and refund', () => {
  it('only the payer queries and closes its order; refunds are for trusted callers and admins', async () => {
    const { no } = await order('o-frank');
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-grace' })).error.code).toBe('FORBIDDEN');
    expect((await emu.fn('pay', { action: 'closeorder', out_trade_no: no }, { openid: 'o-grace' })).error.code).toBe('FORBIDDEN');
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: 'NOSUCHORDER1' }, { openid: 'o-grace' })).error.code).toBe('NOT_FOUND');
    await pay(no);
    const byPayer = await emu.fn('pay', { action: 'refund', out_trade_no: no }, { openid: 'o-frank' });
    expect(byPayer.error.code).toBe('FORBIDDEN');
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');

    await emu.put('config', 'payment', { ...baseConfig, admins: ['o-admin'] });
    const byAdmin = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 10 }, { openid: 'o-admin' });
    expect(byAdmin.data).toMatchObject({ status: 'PROCESSING', amount: 10 });
    expect((await emu.db('pay_refunds', byAdmin.data.out_refund_no)).requested_by).toBe('admin:o-admin');
  });
});

describe('close', () => {
  it('is refused in the first five minutes, then closes; the business order then gets a new order number', async () => {
    const { bizId, no } = await order('o-henry');
    const early = await emu.fn('pay', { action: 'closeorder', out_trade_no: no }, { openid: 'o-henry' });
    expect(early.error.code).toBe('CONFLICT');
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
    clock.advance(5 * 60_000 + 1);
    const closed = await emu.fn('pay', { action: 'closeorder', out_trade_no: no }, { openid: 'o-henry' });
    expect(closed.data.status).toBe('CLOSED');
    expect(emu.sandboxes['wechatpay-v2'].order(DEMO_MCHID, no)!.state).toBe('CLOSED');
    const next = await emu.fn('pay', { action: 'unifiedorder', order_id: bizId }, { openid: 'o-henry' });
    expect(next.data.out_trade_no).not.toBe(no);
    expect((await emu.db('pay_order_links', `orders:${bizId}`)).attempts).toBe(2);
  });

  it('an order paid meanwhile is applied as paid, not closed', async () => {
    const { no } = await order('o-ivy');
    await pay(no);
    await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), status: 'CREATED' }); // as if the notification never came
    clock.advance(5 * 60_000 + 1);
    const r = await emu.fn('pay', { action: 'closeorder', out_trade_no: no }, { openid: 'o-ivy' });
    expect(r.data.status).toBe('PAID');
  });
});

describe('query finds what no notification said', () => {
  it('a SUCCESS found by queryorder marks the order paid and runs the hook, like a notification', async () => {
    await emu.put('config', 'payment', { ...baseConfig, notify_url: 'http://127.0.0.1:9/nowhere' });
    const { bizId, no } = await order('o-jack');
    const p = await pay(no); // the sandbox cannot deliver: the payment is known only to the provider
    expect(p.status).toBe(500);
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-jack' });
    expect(r.data).toMatchObject({ status: 'PAID', transaction_id: expect.stringMatching(/^4200/) });
    expect((await emu.db('orders', bizId)).status).toBe('paid');
    const events = await emu.store.find<any>('pay_events', { out_trade_no: no });
    expect(events).toHaveLength(0); // queries are not notifications
  });
});

describe('client mode', () => {
  beforeEach(() => emu.put('config', 'payment', { ...baseConfig, amount_source: 'client', max_amount: 100000 }));

  it('records the client amount and order number', async () => {
    const r = await emu.fn('pay', { action: 'unifiedorder', amount: 99, out_trade_no: 'CLIENT_0001', description: '打赏' }, { openid: 'o-kate' });
    expect(r.data).toMatchObject({ out_trade_no: 'CLIENT_0001', amount: 99 });
    expect(await emu.db('pay_orders', 'CLIENT_0001')).toMatchObject({ amount: 99, payer_openid: 'o-kate', description: '打赏', status: 'CREATED' });
    const reuse = await emu.fn('pay', { action: 'unifiedorder', amount: 100, out_trade_no: 'CLIENT_0001' }, { openid: 'o-kate' });
    expect(reuse.error.code).toBe('CONFLICT');
  });

  it.each([
    [1.5, 'whole number'],
    [-1, 'greater than 0'],
    [0, 'greater than 0'],
    [100001, 'above the limit'],
    ['100', 'amount must be a whole number'],
  ])('refuses amount %p', async (amount, words) => {
    const r = await emu.fn('pay', { action: 'unifiedorder', amount }, { openid: 'o-kate' });
    expect(r.error.code).toBe('INVALID_INPUT');
    expect(r.error.message).toContain(words);
  });

  it.each(['abc', 'x'.repeat(33), 'bad#chars!'])('refuses out_trade_no %p', async (no) => {
    const r = await emu.fn('pay', { action: 'unifiedorder', amount: 1, out_trade_no: no }, { openid: 'o-kate' });
    expect(r.error.code).toBe('INVALID_INPUT');
    expect(await emu.db('pay_orders', no)).toBeNull();
  });
});

describe('bad calls and bad config', () => {
  it('an unknown action lists the valid ones; an unknown field is named', async () => {
    const r = await emu.fn('pay', { action: 'pay' }, { openid: 'o' });
    expect(r.error.code).toBe('UNKNOWN_ACTION');
    expect(r.error.message).toContain('closeorder, queryorder, queryrefund, reconcile, refund, unifiedorder');
    const u = await emu.fn('pay', { action: 'queryorder', out_trade_no: 'x', outTradeNo: 'x' }, { openid: 'o' });
    expect(u.error.message).toContain('outTradeNo is not a known field');
    const t = await emu.fn('pay', { action: 'queryorder', out_trade_no: 12 }, { openid: 'o' });
    expect(t.error.message).toContain('out_trade_no');
  });

  it('a body that is not JSON gets INVALID_INPUT', async () => {
    const r = await emu.post('/fn/pay', '{"action":');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('INVALID_INPUT');
  });

  it('a missing config, an unknown pay_sp, a missing key: each named', async () => {
    const id = await businessOrder('o-liam');
    const call = () => emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-liam' });
    await fetch(`${emu.url}/db/config/payment`, { method: 'DELETE' });
    const missing = await call();
    expect(missing.error).toMatchObject({ code: 'CONFIG_MISSING' });
    expect(missing.error.message).toContain('config/payment');
    await emu.put('config', 'payment', { ...baseConfig, pay_sp: 'v9' });
    const sp = await call();
    expect(sp.error.code).toBe('CONFIG_INVALID');
    expect(sp.error.message).toContain('config/payment.pay_sp must be one of "v2", "v2sp"');
    const { key, ...noKey } = baseConfig.v2;
    await emu.put('config', 'payment', { ...baseConfig, v2: noKey });
    const k = await call();
    expect(k.error.code).toBe('CONFIG_INVALID');
    expect(k.error.message).toContain('config/payment.v2.key');
    expect(JSON.stringify([missing, sp, k])).not.toContain(key);
    expect(await emu.store.find('pay_orders', { 'business.id': id })).toHaveLength(0);
  });

  it('the provider failing leaves the order CREATED for a retry with the same number', async () => {
    const id = await businessOrder('o-mia');
    emu.sandboxes['wechatpay-v2'].setFault('5xx');
    const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-mia' });
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    const [created] = await emu.store.find<any>('pay_orders', { 'business.id': id });
    expect(created.status).toBe('CREATED');
    const retry = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-mia' });
    expect(retry.data.out_trade_no).toBe(created.out_trade_no);
  });
});

describe('cloud environment sharing', () => {
  it('the payer is FROM_OPENID and the config is config/payment_<FROM_APPID> before config/payment', async () => {
    const sharedAppid = 'wxfedcba9876543210';
    const v2 = { ...baseConfig.v2, appid: sharedAppid };
    await emu.put('config', `payment_${sharedAppid}`, { ...baseConfig, v2 });
    const id = await businessOrder('o-overseas');
    const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-host-env', appid: 'wxhost000000000000', fromOpenid: 'o-overseas', fromAppid: sharedAppid });
    expect(r.data.payment.appId).toBe(sharedAppid);
    expect(await emu.db('pay_orders', r.data.out_trade_no)).toMatchObject({ payer_openid: 'o-overseas', config_id: `payment_${sharedAppid}` });
    expect((await pay(r.data.out_trade_no)).body.notify.body).toContain('SUCCESS');
    expect((await emu.db('pay_orders', r.data.out_trade_no)).status).toBe('PAID');
  });
});

describe('when the provider misbehaves mid-flow', () => {
  const sandbox = () => emu.sandboxes['wechatpay-v2'];

  it.each(['5xx', 'timeout', 'badsign', 'garbage'] as const)('queryorder under %s: PROVIDER_UNAVAILABLE and the order untouched', async (fault) => {
    const { no } = await order('o-nora');
    const before = await emu.db('pay_orders', no);
    sandbox().setFault(fault);
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-nora' });
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(await emu.db('pay_orders', no)).toEqual(before);
  });

  it('a refund with no answer stays in flight, and its retry with the same number refunds once', async () => {
    const { no } = await order('o-oscar', 400);
    await pay(no);
    sandbox().setFault('timeout');
    const first = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100, out_refund_no: 'RF-OSCAR-1' }, TRUSTED);
    expect(first.error.code).toBe('PROVIDER_UNAVAILABLE');
    // The outcome is unknown: the order stays locked for this refund rather than being released.
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDING', refunding: { out_refund_no: 'RF-OSCAR-1', amount: 100 } });
    const other = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 50, out_refund_no: 'RF-OSCAR-2' }, TRUSTED);
    expect(other.error.code).toBe('CONFLICT');
    const retry = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(retry.data).toMatchObject({ out_refund_no: 'RF-OSCAR-1', amount: 100, status: 'PROCESSING' });
    await completeRefund('RF-OSCAR-1');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
  });

  it('a refund the provider refuses releases the order and is recorded as REJECTED', async () => {
    const { no } = await order('o-paul', 400);
    await pay(no);
    emu.sandboxes['wechatpay-v2'].order(DEMO_MCHID, no)!.fields.total_fee = '999'; // the provider now disagrees on the total
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100, out_refund_no: 'RF-PAUL-1' }, TRUSTED);
    expect(r.error).toMatchObject({ code: 'PROVIDER_REJECTED', provider_code: 'INVALID_REQUEST' });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunding: null, refunded_amount: 0 });
    expect((await emu.db('pay_refunds', 'RF-PAUL-1')).status).toBe('REJECTED');
  });
});

describe('refund_currency', () => {
  it('refunds go in the order currency; a refund_currency that differs is refused before anything is written', async () => {
    await emu.put('config', 'payment', { ...baseConfig, refund_currency: 'CNY' });
    const { no } = await order('o-quinn', 300);
    await pay(no);
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 120 }, TRUSTED);
    expect(r.data).toMatchObject({ currency: 'CNY', amount: 120 });
    await completeRefund(r.data.out_refund_no);
    await emu.put('config', 'payment', { ...baseConfig, refund_currency: 'HKD' });
    const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 10 }, TRUSTED);
    expect(r2.error.code).toBe('NOT_SUPPORTED');
    expect(r2.error.message).toContain('config/payment.refund_currency is HKD');
    expect(await emu.store.find('pay_refunds', { out_trade_no: no })).toHaveLength(1);
  });
});
