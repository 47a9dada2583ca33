/**
 * The WeChat Pay v2 provider against the v2 sandbox over real loopback HTTP (and mutual TLS for refunds).
 * The sandbox checks every sign it receives and signs every answer; these tests drive the provider's flows.
 */
import { createHash, createHmac } from 'crypto';
import { HttpUnavailableError } from '../../shared/http/client';
import { wechatPayV2 } from '../../shared/providers/wechatpay-v2';
import type { V2Merchant } from '../../shared/providers/wechatpay-v2/wire';
import { randomKey } from '../../scripts/emulator/seed';
import { tradeStateReport } from '../../shared/providers/wechatpay-v2/transform';
import { testEmulator, type TestEmulator } from '../support/emu';
import { paymentInput, providerCtx, rejection } from '../support/provider';

let emu: TestEmulator;
beforeAll(async () => {
  emu = await testEmulator({ tls: true, seed: false });
});
afterAll(() => emu.stop());

let seq = 0;
function merchant(over: Partial<V2Merchant> = {}): V2Merchant {
  const m: V2Merchant = { appid: 'wx11112222333344445', mchid: String(1900001000 + ++seq), key: randomKey(), sign_type: 'MD5', api_base: `${emu.url}/sandbox/wechatpay-v2`, ...over };
  emu.sandboxes['wechatpay-v2'].addMerchant({ mchid: m.mchid, key: m.key });
  return m;
}
const ctx = (config: V2Merchant, timeoutMs = 1500) => providerCtx(config, `${emu.url}/http/notify/v2`, { timeoutMs });
const order = paymentInput;
const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex').toUpperCase();
const hmac = (k: string, s: string) => createHmac('sha256', k).update(s, 'utf8').digest('hex').toUpperCase();

const v2 = wechatPayV2('v2');
const v2sp = wechatPayV2('v2sp');

describe('unifiedorder and the requestPayment fields', () => {
  it('returns a prepay id and a paySign over appId, nonceStr, package, signType, timeStamp (MD5)', async () => {
    const m = merchant();
    const res = await v2.create(ctx(m), order());
    if (res.kind !== 'pay') throw new Error(res.kind);
    const p = res.payment;
    expect(p.package).toBe(`prepay_id=${res.prepay_id}`);
    expect(p.appId).toBe(m.appid);
    expect(p.signType).toBe('MD5');
    const text = `appId=${p.appId}&nonceStr=${p.nonceStr}&package=${p.package}&signType=MD5&timeStamp=${p.timeStamp}&key=${m.key}`;
    expect(p.paySign).toBe(md5(text));
  });

  it('signs with HMAC-SHA256 when the merchant is configured so, and the sandbox accepts it', async () => {
    const m = merchant({ sign_type: 'HMAC-SHA256' });
    const res = await v2.create(ctx(m), order());
    if (res.kind !== 'pay') throw new Error(res.kind);
    const p = res.payment;
    expect(p.signType).toBe('HMAC-SHA256');
    const text = `appId=${p.appId}&nonceStr=${p.nonceStr}&package=${p.package}&signType=HMAC-SHA256&timeStamp=${p.timeStamp}&key=${m.key}`;
    expect(p.paySign).toBe(hmac(m.key, text));
  });

  it('in service-provider mode sends sub_mch_id, sub_appid and sub_openid, and signs the paySign for the sub appid', async () => {
    const m = merchant({ sub_mchid: '1900009999', sub_appid: 'wxaaaabbbbccccdddd' });
    const input = order();
    const res = await v2sp.create(ctx(m), input);
    if (res.kind !== 'pay') throw new Error(res.kind);
    expect(res.payment.appId).toBe('wxaaaabbbbccccdddd');
    const seen = emu.sandboxes['wechatpay-v2'].order(m.mchid, input.out_trade_no)!.fields;
    expect(seen.sub_mch_id).toBe('1900009999');
    expect(seen.sub_appid).toBe('wxaaaabbbbccccdddd');
    expect(seen.sub_openid).toBe('o-payer');
    expect(seen.openid).toBeUndefined();
    expect(v2sp.merchantIds(m)).toEqual({ appid: m.appid, mchid: m.mchid, sub_mchid: '1900009999', sub_appid: 'wxaaaabbbbccccdddd' });
  });

  it('a retry with the same parameters gets the same prepay id', async () => {
    const m = merchant();
    const input = order();
    const a = await v2.create(ctx(m), input);
    const b = await v2.create(ctx(m), input);
    expect(a.kind === 'pay' && b.kind === 'pay' && a.prepay_id === b.prepay_id).toBe(true);
  });

  it('maps ORDERPAID to already_paid, not to a failure', async () => {
    const m = merchant();
    const input = order();
    await v2.create(ctx(m), input);
    await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: input.out_trade_no, mch_id: m.mchid });
    expect(await v2.create(ctx(m), input)).toEqual({ kind: 'already_paid' });
  });

  it('a wrong key is refused by the provider with its own message', async () => {
    const m = merchant();
    const e = await rejection(v2.create(ctx({ ...m, key: randomKey() }), order()));
    expect(e.code).toBe('PROVIDER_REJECTED');
    expect(e.message).toContain('签名错误');
    expect(e.message).not.toContain(m.key);
  });
});

describe('query, close', () => {
  it('reports NOT_FOUND, then PENDING, then PAID with amount, ids and time', async () => {
    const m = merchant();
    const input = order({ amount: 777 });
    expect((await v2.query(ctx(m), input.out_trade_no)).state).toBe('NOT_FOUND');
    await v2.create(ctx(m), input);
    expect((await v2.query(ctx(m), input.out_trade_no)).state).toBe('PENDING');
    const paid = await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: input.out_trade_no, mch_id: m.mchid });
    const r = await v2.query(ctx(m), input.out_trade_no);
    expect(r).toMatchObject({ state: 'PAID', amount: 777, currency: 'CNY', transaction_id: paid.body.transaction_id, merchant: { appid: m.appid, mchid: m.mchid } });
    expect(typeof r.paid_at).toBe('number');
  });

  it('close answers CLOSED, and PAID for an order paid meanwhile', async () => {
    const m = merchant();
    const a = order();
    await v2.create(ctx(m), a);
    expect(await v2.close(ctx(m), a.out_trade_no)).toBe('CLOSED');
    expect(await v2.close(ctx(m), a.out_trade_no)).toBe('CLOSED'); // ORDERCLOSED is the true state
    expect((await v2.query(ctx(m), a.out_trade_no)).state).toBe('CLOSED');
    const b = order();
    await v2.create(ctx(m), b);
    await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: b.out_trade_no, mch_id: m.mchid });
    expect(await v2.close(ctx(m), b.out_trade_no)).toBe('PAID');
  });
});

describe('refund over mutual TLS, refundquery', () => {
  async function paidOrder(m: V2Merchant) {
    const input = order({ amount: 1000 });
    await v2.create(ctx(m), input);
    await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: input.out_trade_no, mch_id: m.mchid });
    return input;
  }

  /** A merchant calling the sandbox's TLS port with the client certificate issued for it. */
  function tlsMerchant(): V2Merchant {
    const base = merchant();
    const client = emu.tls!.issueClient(base.mchid);
    return { ...base, api_base: `${emu.tlsUrl}/sandbox/wechatpay-v2`, tls_ca: emu.tls!.caPem, cert_pem: client.certPem, key_pem: client.keyPem };
  }

  it('refunds with the merchant certificate; PROCESSING until the refund ends; refundquery reports it', async () => {
    const m = tlsMerchant();
    const input = await paidOrder(m);
    const r = await v2.refund(ctx(m), { out_trade_no: input.out_trade_no, out_refund_no: `${input.out_trade_no}R1`, total: 1000, amount: 300, currency: 'CNY' });
    expect(r).toMatchObject({ state: 'PROCESSING', amount: 300 });
    expect(r.refund_id).toMatch(/^50/);
    expect((await v2.queryRefund(ctx(m), `${input.out_trade_no}R1`)).state).toBe('PROCESSING');
    await emu.post('/sandbox/wechatpay-v2/refund', { out_refund_no: `${input.out_trade_no}R1`, mch_id: m.mchid });
    expect(await v2.queryRefund(ctx(m), `${input.out_trade_no}R1`)).toMatchObject({ state: 'SUCCESS', amount: 300, refund_id: r.refund_id });
    expect((await v2.queryRefund(ctx(m), 'NOPE123')).state).toBe('NOT_FOUND');
  });

  it('the same out_refund_no sent again is the same refund, not a second one', async () => {
    const m = tlsMerchant();
    const input = await paidOrder(m);
    const req = { out_trade_no: input.out_trade_no, out_refund_no: `${input.out_trade_no}R1`, total: 1000, amount: 1000, currency: 'CNY' };
    const a = await v2.refund(ctx(m), req);
    const b = await v2.refund(ctx(m), req);
    expect(b.refund_id).toBe(a.refund_id);
  });

  it('without a client certificate the TLS endpoint refuses the refund', async () => {
    const base = merchant();
    const other = emu.tls!.issueClient('1234567890'); // issued for another merchant
    const m = { ...base, api_base: `${emu.tlsUrl}/sandbox/wechatpay-v2`, tls_ca: emu.tls!.caPem, cert_pem: other.certPem, key_pem: other.keyPem };
    const input = await paidOrder(m);
    const e = await rejection(v2.refund(ctx(m), { out_trade_no: input.out_trade_no, out_refund_no: 'R-x-1', total: 1000, amount: 1, currency: 'CNY' }));
    expect(e.code).toBe('PROVIDER_REJECTED');
    expect(e.message).toContain('证书');
  });

  it('a merchant with no certificate in its config gets a config error naming the fields, before any call', async () => {
    const m = merchant();
    const e = await rejection(v2.refund(ctx(m), { out_trade_no: 'whatever1', out_refund_no: 'R1', total: 1, amount: 1, currency: 'CNY' }));
    expect(e.code).toBe('CONFIG_MISSING');
    expect(e.message).toMatch(/v2\.cert_pem and key_pem/);
  });
});

describe('when the provider misbehaves', () => {
  const sandbox = () => emu.sandboxes['wechatpay-v2'];
  afterEach(() => sandbox().setFault(null));

  // A missing answer surfaces as HttpUnavailableError, which the handler wrapper reports as PROVIDER_UNAVAILABLE.
  it('HTTP 5xx → PROVIDER_UNAVAILABLE', async () => {
    sandbox().setFault('5xx');
    expect((await rejection(v2.create(ctx(merchant()), order()))).code).toBe('PROVIDER_UNAVAILABLE');
  });

  it('no answer in time → HttpUnavailableError (timeout)', async () => {
    sandbox().setFault('timeout');
    const e = await rejection(v2.query(ctx(merchant(), 500), 'T0000001'));
    expect(e).toBeInstanceOf(HttpUnavailableError);
    expect((e as unknown as HttpUnavailableError).reason).toBe('timeout');
  });

  it('an answer with a bad sign is not believed → PROVIDER_UNAVAILABLE, whatever it says', async () => {
    const m = merchant();
    sandbox().setFault('badsign');
    const e = await rejection(v2.create(ctx(m), order()));
    expect(e.code).toBe('PROVIDER_UNAVAILABLE');
    expect(e.message).toMatch(/signature verification/);
  });

  it('unreadable XML → PROVIDER_UNAVAILABLE', async () => {
    sandbox().setFault('garbage');
    expect((await rejection(v2.query(ctx(merchant()), 'T0000002'))).code).toBe('PROVIDER_UNAVAILABLE');
  });
});

describe('pure transforms', () => {
  it('an unknown trade_state is not settled (PENDING), never an error or a payment', () => {
    expect(tradeStateReport({ trade_state: 'ACCEPT', out_trade_no: 'T1', total_fee: '1' }).state).toBe('PENDING');
    expect(tradeStateReport({ trade_state: 'REFUND', out_trade_no: 'T1', total_fee: '1', time_end: '20261122120000' })).toMatchObject({ state: 'PAID', amount: 1 });
    expect(tradeStateReport({ trade_state: 'REVOKED', out_trade_no: 'T1' }).state).toBe('CLOSED');
  });
});
