/**
 * Recovery paths through the emulator: refunds whose outcome is unknown, orders stuck between steps,
 * configs edited under live orders, hooks that report failure. Each ends with money counted exactly once.
 */
import { manualClock } from '../../shared/core/clock';
import { DEMO_APPID, DEMO_MCHID } from '../../scripts/emulator/seed';
import { buildFlatXml } from '../../shared/crypto/xml';
import { aes256EcbEncrypt } from '../../shared/crypto/aes';
import { md5Hex } from '../../shared/crypto/hash';
import { signV2 } from '../../shared/providers/wechatpay-v2/sign';
import { testEmulator, type TestEmulator } from '../support/emu';

const clock = manualClock(Date.now());
let hookAnswer: unknown = { ok: true };
let emu: TestEmulator;
let baseConfig: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator({ tls: true, clock, functions: { 'paid-hook': async () => hookAnswer } });
  baseConfig = (await emu.db('config', 'payment'))!;
});
afterAll(() => emu.stop());
afterEach(async () => {
  emu.sandboxes['wechatpay-v2'].setFault(null);
  hookAnswer = { ok: true };
  await emu.put('config', 'payment', baseConfig);
});

const TRUSTED = { source: 'wx_client,scf' };
let seq = 0;
async function paidOrder(amount = 400, openid = 'o-rec') {
  const id = `rec-${++seq}`;
  await emu.put('orders', id, { _openid: openid, amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid, appid: DEMO_APPID });
  await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: r.data.out_trade_no });
  return { bizId: id, no: r.data.out_trade_no as string };
}
const sandboxRefunded = (no: string) => emu.sandboxes['wechatpay-v2'].order(DEMO_MCHID, no)!.refunded;

describe('refunds whose outcome is unknown', () => {
  it('a refusal on a retry keeps the refund in flight: the late success is counted once, no second refund', async () => {
    const { no } = await paidOrder(400);
    emu.sandboxes['wechatpay-v2'].setFault('badsign'); // WeChat takes the refund, the answer cannot be believed
    expect((await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100, out_refund_no: 'UNK-1' }, TRUSTED)).error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(sandboxRefunded(no)).toBe(100);
    const other = emu.tls!.issueClient('1234567890');
    await emu.put('config', 'payment', { ...baseConfig, v2: { ...baseConfig.v2, cert_pem: other.certPem, key_pem: other.keyPem } });
    const retry = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(retry.error.code).toBe('PROVIDER_REJECTED');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDING', refunding: { out_refund_no: 'UNK-1' } });
    expect((await emu.db('pay_refunds', 'UNK-1')).status).toBe('REQUESTED');

    await emu.post('/sandbox/wechatpay-v2/refund', { out_refund_no: 'UNK-1' });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
    await emu.put('config', 'payment', baseConfig);
    const rest = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(rest.data.amount).toBe(300);
    expect(sandboxRefunded(no)).toBe(400);
  });

  it('queryrefund ends a refund the provider never received, once no send can still be on its way', async () => {
    const { no } = await paidOrder(200);
    emu.sandboxes['wechatpay-v2'].setFault('5xx'); // the request never reached the refund desk
    expect((await emu.fn('pay', { action: 'refund', out_trade_no: no, out_refund_no: 'LOST-1' }, TRUSTED)).error.code).toBe('PROVIDER_UNAVAILABLE');
    const soon = await emu.fn('pay', { action: 'queryrefund', out_refund_no: 'LOST-1' }, TRUSTED);
    expect(soon.data.status).toBe('REQUESTED');
    clock.advance(5 * 60_000 + 1_000);
    const later = await emu.fn('pay', { action: 'queryrefund', out_refund_no: 'LOST-1' }, TRUSTED);
    expect(later.data.status).toBe('REJECTED');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunding: null, refunded_amount: 0 });

    // Should the provider report it done after all, the money is counted: it can never be refunded twice.
    const plain = buildFlatXml({ out_trade_no: no, out_refund_no: 'LOST-1', refund_id: '50000000009', total_fee: '200', refund_fee: '200', refund_status: 'SUCCESS', success_time: '2026-11-22 12:00:00' }, 'root');
    const reqInfo = aes256EcbEncrypt(Buffer.from(plain), Buffer.from(md5Hex(baseConfig.v2.key), 'ascii')).toString('base64');
    const res = await fetch(`${emu.url}/http/notify/v2`, { method: 'POST', body: buildFlatXml({ return_code: 'SUCCESS', appid: DEMO_APPID, mch_id: DEMO_MCHID, nonce_str: 'n', req_info: reqInfo }) });
    expect(await res.text()).toContain('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 200 });
    expect((await emu.db('pay_refunds', 'LOST-1')).status).toBe('SUCCESS');
    expect((await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 1 }, TRUSTED)).error.code).toBe('CONFLICT');
  });

  it('an order left REFUNDING after its refund ended is released by queryrefund and by a refund retry, never resent', async () => {
    const { no } = await paidOrder(300);
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 300 }, TRUSTED);
    await emu.post('/sandbox/wechatpay-v2/refund', { out_refund_no: r.data.out_refund_no });
    // As if the run that applied the notification stopped between the refund record and the order:
    await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), status: 'REFUNDING', refunded_amount: 0, refunding: { out_refund_no: r.data.out_refund_no, amount: 300 } });
    const stuck = await emu.db('pay_orders', no);
    const again = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(again.data.status).toBe('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 300 });
    await emu.put('pay_orders', no, stuck);
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: r.data.out_refund_no }, TRUSTED)).data.status).toBe('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 300 });
    expect(sandboxRefunded(no)).toBe(300);
  });

  it('an ABNORMAL refund counts as refunded: the money cannot be refunded a second time', async () => {
    const { no } = await paidOrder(500);
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    await emu.post('/sandbox/wechatpay-v2/refund', { out_refund_no: r.data.out_refund_no, result: 'CHANGE' });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 500 });
    expect((await emu.db('pay_refunds', r.data.out_refund_no)).status).toBe('ABNORMAL');
    expect((await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 1 }, TRUSTED)).error.code).toBe('CONFLICT');
  });

  it('a client certificate that does not match its key is a config error, and the order is released', async () => {
    const { no } = await paidOrder(100);
    const a = emu.tls!.issueClient(DEMO_MCHID);
    const b = emu.tls!.issueClient(DEMO_MCHID);
    await emu.put('config', 'payment', { ...baseConfig, v2: { ...baseConfig.v2, cert_pem: a.certPem, key_pem: b.keyPem } });
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(r.error.code).toBe('CONFIG_INVALID');
    expect(r.error.message).toContain('config/payment.v2.cert_pem and key_pem belong together');
    expect(JSON.stringify(r)).not.toContain('PRIVATE KEY');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunding: null });
  });
});

describe('business orders whose attempt went stale', () => {
  it('an expired attempt that never reached WeChat is closed and replaced by the next unifiedorder', async () => {
    const id = `rec-${++seq}`;
    await emu.put('orders', id, { _openid: 'o-rec', amount: 50, status: 'unpaid' });
    emu.sandboxes['wechatpay-v2'].setFault('5xx');
    expect((await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-rec' })).error.code).toBe('PROVIDER_UNAVAILABLE');
    const [first] = await emu.store.find<any>('pay_orders', { 'business.id': id });
    clock.advance(31 * 60_000);
    const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-rec' });
    expect(r.ok).toBe(true);
    expect(r.data.out_trade_no).not.toBe(first.out_trade_no);
    expect((await emu.db('pay_orders', first.out_trade_no)).status).toBe('CLOSED');
  });

  it('a changed business amount replaces the attempt (after the five-minute close rule), never pays the old amount', async () => {
    const id = `rec-${++seq}`;
    await emu.put('orders', id, { _openid: 'o-rec', amount: 50, status: 'unpaid' });
    const first = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-rec' });
    await emu.put('orders', id, { _openid: 'o-rec', amount: 80, status: 'unpaid' });
    const early = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-rec' });
    expect(early.error.code).toBe('CONFLICT');
    expect(early.error.message).toContain('now asks 80, not 50');
    clock.advance(5 * 60_000 + 1);
    const later = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-rec' });
    expect(later.data).toMatchObject({ amount: 80 });
    expect(later.data.out_trade_no).not.toBe(first.data.out_trade_no);
    expect(emu.sandboxes['wechatpay-v2'].order(DEMO_MCHID, first.data.out_trade_no)!.state).toBe('CLOSED');
  });
});

describe('configs edited under live orders', () => {
  it('an order keeps verifying under its own config after a per-appid copy holding the same merchant appears', async () => {
    const id = `rec-${++seq}`;
    await emu.put('orders', id, { _openid: 'o-rec', amount: 70, status: 'unpaid' });
    const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-rec', appid: DEMO_APPID });
    await emu.put('config', `payment_${DEMO_APPID}`, baseConfig);
    try {
      const p = await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: r.data.out_trade_no });
      expect(p.body.notify.body).toContain('SUCCESS');
      expect((await emu.db('pay_orders', r.data.out_trade_no)).status).toBe('PAID');
    } finally {
      await fetch(`${emu.url}/db/config/payment_${DEMO_APPID}`, { method: 'DELETE' });
    }
  });

  it('a genuine notification meeting a broken config gets 500 (delivered again later), not a FAIL that blames the merchant', async () => {
    const id = `rec-${++seq}`;
    await emu.put('orders', id, { _openid: 'o-rec', amount: 70, status: 'unpaid' });
    const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-rec' });
    await emu.put('config', 'payment', { ...baseConfig, max_amount: 0 });
    const f: Record<string, string> = { return_code: 'SUCCESS', appid: DEMO_APPID, mch_id: DEMO_MCHID, nonce_str: 'x1', result_code: 'SUCCESS', openid: 'o-rec', total_fee: '70', fee_type: 'CNY', transaction_id: '4200000000000000000000000001', out_trade_no: r.data.out_trade_no, time_end: '20261122120000' };
    const res = await fetch(`${emu.url}/http/notify/v2`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: buildFlatXml({ ...f, sign: signV2(f, baseConfig.v2.key, 'MD5') }) });
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(body).toContain('CONFIG_INVALID');
    expect(body).not.toContain('max_amount'); // anyone can POST here: the field is named in the log only
    expect(emu.log.lines!.some((l) => l.includes('config/payment.max_amount'))).toBe(true);
    expect((await emu.db('pay_orders', r.data.out_trade_no)).status).toBe('CREATED');
  });
});

describe('hooks that report failure', () => {
  it.each([[{ ok: false, error: { code: 'INTERNAL', message: 'db down' } }], [{ errcode: 40001, errmsg: 'invalid credential' }]])('a hook answering %j is failed, not done', async (answer) => {
    hookAnswer = answer;
    await emu.put('config', 'payment', { ...baseConfig, on_paid: { call_function: 'paid-hook' } });
    const { no } = await paidOrder(10);
    expect((await emu.db('pay_orders', no)).hooks.on_paid).toMatchObject({ state: 'failed', attempts: 1 });
    hookAnswer = { ok: true };
    await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-rec' });
    expect((await emu.db('pay_orders', no)).hooks.on_paid).toMatchObject({ state: 'done', attempts: 2 });
  });
});
