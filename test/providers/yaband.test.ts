/**
 * The YabandPay provider against its sandbox over loopback HTTP: request signing (and the §1a test vector),
 * amounts as major-unit strings, states, Yaband's refusals and answers that are not Yaband's.
 */
import { AppError } from '../../shared/core/errors';
import { hmacSha256Hex } from '../../shared/crypto/hash';
import { HttpUnavailableError, type HttpClient } from '../../shared/http/client';
import { yaband } from '../../shared/providers/yaband';
import { parseNotification } from '../../shared/providers/yaband/notify';
import { notifySignTexts, signRequest, verifyNotifySign } from '../../shared/providers/yaband/sign';
import { miniPayData, refundData, refundEntries, refundReport, settlementOf } from '../../shared/providers/yaband/transform';
import type { YabandMerchant } from '../../shared/providers/yaband/wire';
import type { CreatePaymentInput } from '../../shared/providers/types';
import { testEmulator, type TestEmulator } from '../support/emu';
import { paymentInput, providerCtx, rejection as rejectionOf } from '../support/provider';

const USER = 'shop@example.com';
const SECRET = 'sandbox-secret-0123456789';
const PAYER_APPID = 'wx0123456789abcdef';

let emu: TestEmulator;
beforeAll(async () => {
  emu = await testEmulator({ seed: false });
  emu.sandboxes.yaband.addMerchant({ user: USER, secret: SECRET });
});
afterAll(() => emu.stop());
afterEach(() => emu.sandboxes.yaband.setFault(null));

const ctx = (over: Partial<YabandMerchant> = {}, http?: HttpClient) =>
  providerCtx<YabandMerchant>(
    { user: USER, secret: SECRET, api_base: `${emu.url}/sandbox/yaband`, time_unit: 's', currencies: ['EUR'], refund_query_method: 'v3.TimeRefundOrder', ...over },
    `${emu.url}/http/notify/yaband`,
    { timeoutMs: 1000, http },
  );
const input = (over: Partial<CreatePaymentInput> = {}) =>
  paymentInput({ payer_appid: PAYER_APPID, amount: 1234, currency: 'EUR', description: 'Parking, 1 hour', ...over });
const lastRequest = () => emu.sandboxes.yaband.requests[emu.sandboxes.yaband.requests.length - 1] as any;
const pay = (no: string, result?: string) => emu.post('/sandbox/yaband/pay', { out_trade_no: no, result });
async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await rejectionOf(p);
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('signatures', () => {
  it('signs the acquirers.md §1a test vector', () => {
    const data = {
      amount: '0.10', currency: 'EUR', description: 'Test', notify_url: 'https://env.example.com/pay/notify', order_id: 'ORD123', pay_method: 'online',
      sub_app_id: 'wx0000000000000000', sub_open_id: 'oUser123', sub_pay_method: 'WeChat Pay', timeout: 15,
    };
    expect(signRequest('test_secret', { user: 'cashier@example.com', method: 'v3.CreatePaymentsWechatMiniPay', time: 1700000000 }, data)).toBe(
      'e3d8efcf96470f3418c98116bc6b2eddbb76e6be1085f632029beb36ecb29482',
    );
  });

  it('verifies a notification over data only; empty values as the official library (kept) or TIG (dropped) sign them', () => {
    const data = { state: 'paid', trade_id: 'T-1', order_id: 'ORD123', transaction_id: '4200000001', amount: '0.10', currency: 'EUR' };
    expect(notifySignTexts(data)).toEqual(['amount=0.10&currency=EUR&order_id=ORD123&state=paid&trade_id=T-1&transaction_id=4200000001']);
    const withDemo = { ...data, demo: '' };
    const [kept, dropped] = notifySignTexts(withDemo)!;
    expect(kept).toContain('demo=&');
    expect(dropped).not.toContain('demo');
    expect(verifyNotifySign(withDemo, hmacSha256Hex('k', kept), 'k')).toBe(true);
    expect(verifyNotifySign(withDemo, hmacSha256Hex('k', dropped).toUpperCase(), 'k')).toBe(true);
    expect(verifyNotifySign(withDemo, hmacSha256Hex('other', kept), 'k')).toBe(false);
    expect(verifyNotifySign(withDemo, undefined, 'k')).toBe(false);
    expect(verifyNotifySign({ ...data, '3ds': { eci: '05' } }, hmacSha256Hex('k', kept), 'k')).toBe(false);
  });

  it('reads the raw JSON body and the resultData form alike', () => {
    const n = { sign: 'ab', data: { order_id: 'O 1+', state: 'paid' } };
    expect(parseNotification(Buffer.from(JSON.stringify(n)))).toEqual(n);
    expect(parseNotification(Buffer.from(`resultData=${encodeURIComponent(JSON.stringify(n))}`))).toEqual(n);
    expect(yaband.notify!.peek({ method: 'POST', headers: {}, query: {}, body: Buffer.from(JSON.stringify(n)) }).out_trade_no).toBe('O 1+');
  });

  it('sends amounts with the currency exponent and nothing empty', () => {
    const base = ctx().config;
    expect(miniPayData(base, input({ amount: 500, currency: 'JPY' }), PAYER_APPID, 'https://n').amount).toBe('500');
    expect(miniPayData(base, input({ amount: 5, currency: 'EUR' }), PAYER_APPID, 'https://n').amount).toBe('0.05');
    expect(miniPayData(base, input({ amount: 1, currency: 'KWD' }), PAYER_APPID, 'https://n').amount).toBe('0.001');
    expect(Object.values(miniPayData(base, input({ description: '' }), PAYER_APPID, 'https://n'))).not.toContain('');
  });

  it('reads the settlement in its own currency’s minor units, keeps the rate as sent, and nothing half-given', () => {
    expect(settlementOf({ settlement_amount: '12.85', settlement_currency: 'EUR', exchange_rate: '0.1285' })).toEqual({ settlement_amount: 1285, settlement_currency: 'EUR', exchange_rate: '0.1285' });
    expect(settlementOf({ settlement_amount: '1285', settlement_currency: 'JPY' })).toEqual({ settlement_amount: 1285, settlement_currency: 'JPY' });
    expect(settlementOf({ settlement_amount: '12.855', settlement_currency: 'EUR' })).toBeUndefined(); // finer than a cent
    expect(settlementOf({ settlement_amount: '12.85' })).toBeUndefined();
    expect(settlementOf({ settlement_currency: 'EUR' })).toBeUndefined();
  });

  it('a refund in the settlement currency sends that amount and currency; otherwise the order’s', () => {
    const r = { out_trade_no: 'O1', out_refund_no: 'O1R1', total: 10000, amount: 3333, currency: 'CNY' };
    expect(refundData(r, 'T1', 'https://n')).toMatchObject({ refund_amount: '33.33', refund_currency: 'CNY' });
    expect(refundData({ ...r, settled: { amount: 428, currency: 'EUR' } }, 'T1', 'https://n')).toMatchObject({ refund_amount: '4.28', refund_currency: 'EUR' });
  });

  it('a refund report pairs refund_amount with refund_currency, and the trade’s amount only with its own currency', () => {
    const m = ctx().config;
    const refunded = { state: 'refunded', m_refund_id: 'O1R1', order_id: 'O1' };
    expect(refundReport(m, { ...refunded, refund_amount: '4.28', refund_currency: 'EUR', amount: '10.00', currency: 'GBP' }, 'O1')).toMatchObject({ amount: 428, currency: 'EUR' });
    expect(refundReport(m, { ...refunded, refund_amount: '4.28', currency: 'EUR' }, 'O1')).toMatchObject({ amount: 428, currency: 'EUR' });
    // No refund_amount: "10.00" is the GBP trade's total, not 10.00 EUR (which could equal a settled refund's amount).
    expect(refundReport(m, { ...refunded, refund_currency: 'EUR', amount: '10.00', currency: 'GBP' }, 'O1')).toMatchObject({ amount: 1000, currency: 'GBP' });
    expect(refundReport(m, { ...refunded, refund_currency: 'EUR', amount: '10.00' }, 'O1')).toMatchObject({ amount: undefined, currency: undefined });
  });

  it('a refund list is the first array in data, objects only [?]', () => {
    expect(refundEntries({ total: 2, list: [{ m_refund_id: 'A' }, 'x', null, { m_refund_id: 'B' }] })).toEqual([{ m_refund_id: 'A' }, { m_refund_id: 'B' }]);
    expect(refundEntries({ total: 0 })).toEqual([]);
  });
});

describe('flows against the sandbox', () => {
  it('MiniPay: sub_app_id is the paying mini-program, the sandbox verifies the sign, parameters pass through', async () => {
    const i = input();
    const out = await yaband.create(ctx(), i);
    if (out.kind !== 'pay') throw new Error(`expected pay, got ${out.kind}`);
    expect(out.payment).toMatchObject({ signType: 'MD5', package: expect.stringMatching(/^prepay_id=wx/) });
    expect(out.prepay_id).toBe(out.payment.package.slice('prepay_id='.length));
    const req = lastRequest();
    expect(req).toMatchObject({ user: USER, method: 'v3.CreatePaymentsWechatMiniPay', sign: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(req.data).toMatchObject({ pay_method: 'online', sub_pay_method: 'WeChat Pay', order_id: i.out_trade_no, amount: '12.34', currency: 'EUR', sub_app_id: PAYER_APPID, sub_open_id: 'o-payer', timeout: 30 });
    expect(Math.abs(req.time - Date.now() / 1000)).toBeLessThan(60);
    expect(out.provider_trade_no).toBe(emu.sandboxes.yaband.trade(i.out_trade_no)!.trade_id);
  });

  it('config: sub_app_id overrides the caller, time in milliseconds, timeout_minutes', async () => {
    await yaband.create(ctx({ sub_app_id: 'wx1111111111111111', time_unit: 'ms', timeout_minutes: 90 }), input());
    const req = lastRequest();
    expect(req.data).toMatchObject({ sub_app_id: 'wx1111111111111111', timeout: 90 });
    expect(Math.abs(req.time - Date.now())).toBeLessThan(60_000);
  });

  // The section's `currencies` is checked once, by unifiedorder before the order is written (test/functions/yaband.test.ts).
  it('refuses before calling when no paying appid is known (CONFIG_MISSING)', async () => {
    const n = emu.sandboxes.yaband.requests.length;
    expect((await rejection(yaband.create(ctx(), input({ payer_appid: undefined })))).message).toContain('config/payment.yaband.sub_app_id');
    expect(emu.sandboxes.yaband.requests.length).toBe(n);
  });

  it('a payment page method returns the url; redirect_url is sent when configured', async () => {
    const i = input({ pay_method: 'ideal' });
    const out = await yaband.create(ctx({ redirect_url: 'https://shop.example.com/paid?x=1' }), i);
    expect(out).toMatchObject({ kind: 'redirect', url: expect.stringContaining('https://'), provider_trade_no: expect.any(String) });
    expect(lastRequest()).toMatchObject({ method: 'v3.CreatePayments', data: { sub_pay_method: 'iDeal', redirect_url: 'https://shop.example.com/paid?x=1' } });
    expect(lastRequest().data.sub_app_id).toBeUndefined();
  });

  it('query maps the states and converts amounts back; close and refund follow them', async () => {
    const c = ctx();
    const q = async (i: CreatePaymentInput) => yaband.query(c, i.out_trade_no, emu.sandboxes.yaband.trade(i.out_trade_no)!.trade_id);
    const paid = input();
    await yaband.create(c, paid);
    expect(await q(paid)).toMatchObject({ state: 'PENDING', provider_state: 'pending' });
    expect((await rejection(yaband.close(c, paid.out_trade_no, emu.sandboxes.yaband.trade(paid.out_trade_no)!.trade_id))).code).toBe('CONFLICT');
    await pay(paid.out_trade_no);
    const tradeId = emu.sandboxes.yaband.trade(paid.out_trade_no)!.trade_id;
    expect(await q(paid)).toMatchObject({
      out_trade_no: paid.out_trade_no, state: 'PAID', amount: 1234, currency: 'EUR', provider_trade_no: tradeId,
      transaction_id: emu.sandboxes.yaband.trade(tradeId)!.transaction_id, merchant: { mchid: USER },
    });
    expect(await yaband.close(c, paid.out_trade_no, tradeId)).toBe('PAID');

    for (const [result, state] of [['failed', 'FAILED'], ['canceled', 'CLOSED'], ['expired', 'CLOSED']] as const) {
      const i = input();
      await yaband.create(c, i);
      await pay(i.out_trade_no, result);
      expect((await q(i)).state).toBe(state);
    }
    expect(await yaband.query(c, 'NEVER-ANSWERED')).toEqual({ out_trade_no: 'NEVER-ANSWERED', state: 'NOT_FOUND' });
    expect(await yaband.close(c, 'NEVER-ANSWERED')).toBe('CLOSED');

    const refund = { out_trade_no: paid.out_trade_no, provider_trade_no: tradeId, out_refund_no: `${paid.out_trade_no}R1`, total: 1234, amount: 234, currency: 'EUR' };
    const r = await yaband.refund(c, refund);
    expect(r).toMatchObject({ state: 'PROCESSING', amount: 234, refund_id: expect.stringMatching(/^R/) });
    expect(lastRequest().data).toMatchObject({ trade_id: tradeId, refund_amount: '2.34', refund_currency: 'EUR', m_refund_id: refund.out_refund_no });
    expect((await yaband.refund(c, refund)).refund_id).toBe(r.refund_id); // the same m_refund_id is the same refund
    expect((await rejection(yaband.queryRefund(c, refund.out_refund_no))).code).toBe('NOT_SUPPORTED');
    expect((await rejection(yaband.refund(c, { ...refund, provider_trade_no: undefined, out_refund_no: 'X2' }))).code).toBe('CONFLICT');
  });
});

describe('refund list entries', () => {
  /** A client whose refund list answers `list`, whatever is asked. */
  const listing = (list: Record<string, unknown>[]): HttpClient => ({
    request: async () => ({ status: 200, headers: {}, body: JSON.stringify({ status: true, code: 200, message: 'ok', data: { total: list.length, list } }) }),
  });
  const known = { out_trade_no: 'YB1', provider_trade_no: 'T1', currency: 'EUR', refunded_before: 0, created_at: Date.now() };
  const entry = (state: string) => ({ m_refund_id: 'YB1R1', trade_id: 'T1', order_id: 'YB1', state, refund_amount: '2.34', refund_currency: 'EUR' });

  it('a failed try and a made refund under our number: the made one is reported, never the failure', async () => {
    for (const list of [[entry('failed'), entry('refunded')], [entry('refunded'), entry('failed')]]) {
      expect(await yaband.queryRefund(ctx({}, listing(list)), 'YB1R1', known)).toMatchObject({ state: 'SUCCESS', amount: 234, currency: 'EUR' });
    }
    expect(await yaband.queryRefund(ctx({}, listing([entry('failed'), entry('processing')])), 'YB1R1', known)).toMatchObject({ state: 'PROCESSING' });
    expect(await yaband.queryRefund(ctx({}, listing([entry('failed')])), 'YB1R1', known)).toMatchObject({ state: 'CLOSED' });
  });

  it('any entry under our number of another trade refuses the answer', async () => {
    const e = await rejection(yaband.queryRefund(ctx({}, listing([entry('refunded'), { ...entry('failed'), trade_id: 'T2' }])), 'YB1R1', known));
    expect(e.code).toBe('PROVIDER_UNAVAILABLE');
  });
});

describe('refusals and answers that are not believed', () => {
  it("Yaband's refusal is PROVIDER_REJECTED with its code: a wrong secret, an unknown trade", async () => {
    const bad = await rejection(yaband.create(ctx({ secret: 'not-the-secret' }), input()));
    expect(bad).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: '401' });
    expect(bad.message).toContain('sign error');
    expect(bad.message).not.toContain('not-the-secret');
    expect(await rejection(yaband.query(ctx(), 'X', 'T000'))).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: '404' });
  });

  it.each(['5xx', 'garbage'] as const)('%s → PROVIDER_UNAVAILABLE', async (fault) => {
    emu.sandboxes.yaband.setFault(fault);
    expect((await rejection(yaband.query(ctx(), 'X', 'T000'))).code).toBe('PROVIDER_UNAVAILABLE');
  });

  it('no answer in time → HttpUnavailableError', async () => {
    emu.sandboxes.yaband.setFault('timeout');
    await expect(yaband.query(ctx(), 'X', 'T000')).rejects.toBeInstanceOf(HttpUnavailableError);
  });

  it.each([
    ['no status', '{"code":200,"data":{}}'],
    ['data not an object', '{"status":true,"data":"ok"}'],
    ['status as a string', '{"status":"true","data":{}}'],
  ])('an answer with %s → PROVIDER_UNAVAILABLE', async (_name, body) => {
    const http: HttpClient = { request: async () => ({ status: 200, headers: {}, body }) };
    expect((await rejection(yaband.query(ctx({}, http), 'X', 'T1'))).code).toBe('PROVIDER_UNAVAILABLE');
  });

  it('amounts sent as JSON numbers are read exactly, never through a float', async () => {
    const info = '"trade_id":"T1","order_id":"X","state":"paid","amount":90071992547409.91,"currency":"EUR","settlement_amount":12345678901234.57,"settlement_currency":"EUR"';
    const http: HttpClient = { request: async () => ({ status: 200, headers: {}, body: `{"status":true,"code":200,"data":{"transaction_info":{${info}}}}` }) };
    expect(await yaband.query(ctx({}, http), 'X', 'T1')).toMatchObject({
      state: 'PAID', amount: 9007199254740991, currency: 'EUR', settlement: { settlement_amount: 1234567890123457, settlement_currency: 'EUR' },
    });
  });

  it('a MiniPay answer without parameters → PROVIDER_UNAVAILABLE', async () => {
    const http: HttpClient = { request: async () => ({ status: 200, headers: {}, body: '{"status":true,"data":{"trade_id":"T1","state":"pending"}}' }) };
    expect((await rejection(yaband.create(ctx({}, http), input()))).code).toBe('PROVIDER_UNAVAILABLE');
  });
});
