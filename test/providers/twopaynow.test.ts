/**
 * The 2paynow provider against the 2paynow sandbox over real loopback HTTP: the sandbox checks every
 * request's md5 sign with the merchant's key; these tests drive the flows, the amount conversion, the state
 * mapping, the error mapping and the notification checks.
 */
import { md5Hex } from '../../shared/crypto/hash';
import { createHttpClient, HttpUnavailableError, type HttpClient } from '../../shared/http/client';
import { memoryLogger } from '../../shared/core/logger';
import { twoPayNow } from '../../shared/providers/twopaynow';
import * as notify from '../../shared/providers/twopaynow/notify';
import { paymentState, parseAnswer, requestPayment, signedQuery, signOf } from '../../shared/providers/twopaynow/transform';
import type { TwoPayNowMerchant } from '../../shared/providers/twopaynow/wire';
import { NotificationRejected, type CreatePaymentInput, type NotifyRequest } from '../../shared/providers/types';
import { randomKey } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';
import { paymentInput, providerCtx, rejection } from '../support/provider';

let emu: TestEmulator;
beforeAll(async () => {
  emu = await testEmulator({ seed: false, sandboxStallMs: 800 });
});
afterAll(() => emu.stop());
afterEach(() => emu.sandboxes['2paynow'].setFault(null));

let seq = 0;
function merchant(over: Partial<TwoPayNowMerchant> = {}): TwoPayNowMerchant {
  const m: TwoPayNowMerchant = {
    mid: String(4000001000 + ++seq),
    key: randomKey(),
    api_base: `${emu.url}/sandbox/2paynow`,
    gateway_path: '/zhifu/mc_itf',
    currencies: ['EUR', 'JPY'],
    timeout: '30m',
    jsapi_function: 'jsapi_precreate',
    jsapi_openid_param: 'sub_openid',
    jsapi_appid_param: 'sub_appid',
    jsapi_answer_field: 'pay_info',
    ...over,
  };
  emu.sandboxes['2paynow'].addMerchant({ mid: m.mid, key: m.key });
  return m;
}
const ctx = (config: TwoPayNowMerchant, timeoutMs = 1500) => providerCtx(config, `${emu.url}/http/notify/2paynow`, { timeoutMs });
const order = (over: Partial<CreatePaymentInput> = {}) =>
  paymentInput({ payer_appid: 'wx0123456789abcdef', currency: 'EUR', description: 'Parken 1 Std.', ...over });
const pay = (no: string, body: Record<string, unknown> = {}) => emu.post('/sandbox/2paynow/pay', { out_trade_no: no, deliver: false, ...body });

describe('signing', () => {
  it('signs md5(function + mid + timestamp + key) in lower-case hex (vector computed from the rule)', () => {
    expect(signOf('precreate', '4000000001', '1700000000000', 'vector-key-2paynow')).toBe('2aa9b53b7e14f02627c670d1f3ede8d2');
  });

  it('puts function, mid, the ms timestamp and the sign after the business fields; the key never leaves', () => {
    const m = { mid: '4000000001', key: 'vector-key-2paynow' } as TwoPayNowMerchant;
    const q = new URLSearchParams(signedQuery(m, 'precreate', { amount: '0.10', function: 'forged' }, 1_700_000_000_000));
    expect(Object.fromEntries(q)).toEqual({ amount: '0.10', function: 'precreate', mid: '4000000001', timestamp: '1700000000000', sign: '2aa9b53b7e14f02627c670d1f3ede8d2' });
    expect(q.toString()).not.toContain('vector-key');
  });
});

describe('create', () => {
  it('wechat: the JSAPI function gets the payer and the major-unit amount; pay_info becomes the five fields', async () => {
    const m = merchant();
    const input = order();
    const r = await twoPayNow.create(ctx(m), input);
    if (r.kind !== 'pay') throw new Error(`expected pay, got ${r.kind}`);
    const trade = emu.sandboxes['2paynow'].trade(m.mid, input.out_trade_no)!;
    expect(trade).toMatchObject({ function: 'jsapi_precreate', type: '1', amount: '1.23', currency: 'EUR', notify_url: `${emu.url}/http/notify/2paynow` });
    expect(JSON.parse(trade.passback_parameters)).toEqual({ out_trade_no: input.out_trade_no });
    expect(r.provider_trade_no).toBe(trade.trade_no);
    expect(r.payment).toEqual(JSON.parse(trade.pay_info!));
    expect(r.payment).toMatchObject({ appId: 'wx0123456789abcdef', signType: 'MD5' });
    expect(r.prepay_id).toBe(r.payment.package.replace('prepay_id=', ''));
  });

  it('converts with the currency’s own exponent: 5 JPY is "5", 7 EUR cents "0.07"', async () => {
    const m = merchant();
    const jpy = order({ amount: 5, currency: 'JPY' });
    await twoPayNow.create(ctx(m), jpy);
    expect(emu.sandboxes['2paynow'].trade(m.mid, jpy.out_trade_no)!.amount).toBe('5');
    const eur = order({ amount: 7, pay_method: 'alipay' });
    await twoPayNow.create(ctx(m), eur);
    expect(emu.sandboxes['2paynow'].trade(m.mid, eur.out_trade_no)!.amount).toBe('0.07');
  });

  it.each([
    ['alipay', '0', /^https:\/\/qr\.alipay\.com\//],
    ['wechat_qr', '1', /^weixin:\/\/wxpay\//],
  ])('%s: precreate with type %s; its qr_code is the url', async (method, type, url) => {
    const m = merchant();
    const input = order({ pay_method: method });
    const r = await twoPayNow.create(ctx(m), input);
    if (r.kind !== 'redirect') throw new Error(`expected redirect, got ${r.kind}`);
    const trade = emu.sandboxes['2paynow'].trade(m.mid, input.out_trade_no)!;
    expect(trade).toMatchObject({ function: 'precreate', type });
    expect(r.url).toMatch(url);
    expect(r.provider_trade_no).toBe(trade.trade_no);
  });
});

describe('query and close', () => {
  it('maps trans_status; reads JSON-number amounts as text; queries by our number when no trade id was stored', async () => {
    const m = merchant();
    const input = order({ amount: 10, pay_method: 'alipay' });
    const created = await twoPayNow.create(ctx(m), input);
    const tradeNo = created.kind === 'redirect' ? created.provider_trade_no : undefined;
    expect(await twoPayNow.query(ctx(m), input.out_trade_no, tradeNo)).toMatchObject({ state: 'PENDING', provider_state: 'UNKNOWN' });
    await pay(input.out_trade_no);
    const paid = await twoPayNow.query(ctx(m), input.out_trade_no, tradeNo);
    expect(paid).toMatchObject({ out_trade_no: input.out_trade_no, state: 'PAID', amount: 10, currency: 'EUR', provider_trade_no: tradeNo, merchant: { mchid: m.mid } });
    expect(await twoPayNow.query(ctx(m), input.out_trade_no)).toMatchObject({ state: 'PAID', amount: 10, provider_trade_no: tradeNo });
  });

  it.each([
    ['TRADE_FAILED', 'FAILED'],
    ['TRADE_CLOSED', 'CLOSED'],
  ])('%s → %s', async (status, state) => {
    const m = merchant();
    const input = order();
    await twoPayNow.create(ctx(m), input);
    await pay(input.out_trade_no, { result: status });
    expect((await twoPayNow.query(ctx(m), input.out_trade_no)).state).toBe(state);
  });

  it('an unlisted trans_status is not settled', () => {
    expect(paymentState('WAIT_BUYER_PAY')).toBe('PENDING');
    expect(paymentState(undefined)).toBe('PENDING');
  });

  it('close cancels an unpaid trade; a paid one answers PAID (the refusal is checked by query)', async () => {
    const m = merchant();
    const open = order();
    await twoPayNow.create(ctx(m), open);
    expect(await twoPayNow.close(ctx(m), open.out_trade_no)).toBe('CLOSED');
    expect(emu.sandboxes['2paynow'].trade(m.mid, open.out_trade_no)!.trans_status).toBe('TRADE_CLOSED');
    const paid = order();
    await twoPayNow.create(ctx(m), paid);
    await pay(paid.out_trade_no);
    expect(await twoPayNow.close(ctx(m), paid.out_trade_no)).toBe('PAID');
  });
});

describe('refund', () => {
  const refundInput = (out_trade_no: string, amount: number, out_refund_no = `${out_trade_no}R1`) => ({ out_trade_no, out_refund_no, total: 123, amount, currency: 'EUR' });

  it('without refund_function: NOT_SUPPORTED naming config/payment.2paynow.refund_function, before any call', async () => {
    const m = merchant({ api_base: 'http://127.0.0.1:9' });
    for (const p of [twoPayNow.refund(ctx(m), refundInput('TPX000001', 1)), twoPayNow.queryRefund(ctx(m), 'TPX000001R1')]) {
      const e = await rejection(p);
      expect(e.code).toBe('NOT_SUPPORTED');
      expect(e.message).toContain('config/payment.2paynow.refund_function');
    }
  });

  it('with refund_function: done when answered, in major units, idempotent on merchant_refund_no; confirmed by the refunded total', async () => {
    const m = merchant({ refund_function: 'refund' });
    const input = order();
    const created = await twoPayNow.create(ctx(m), input);
    await pay(input.out_trade_no);
    const r = await twoPayNow.refund(ctx(m), refundInput(input.out_trade_no, 23));
    expect(r).toMatchObject({ out_refund_no: `${input.out_trade_no}R1`, state: 'SUCCESS', amount: 23 });
    expect(r.refund_id).toMatch(/^R\d+$/);
    expect((await twoPayNow.refund(ctx(m), refundInput(input.out_trade_no, 23))).refund_id).toBe(r.refund_id);
    expect(emu.sandboxes['2paynow'].trade(m.mid, input.out_trade_no)!.refunded).toBe(23);
    const tooMuch = await rejection(twoPayNow.refund(ctx(m), refundInput(input.out_trade_no, 101, 'R2')));
    expect(tooMuch).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: '400' });
    // No refund query: function=query's refunded total (0.23 EUR) must be what was refunded before plus this refund.
    const known = { out_trade_no: input.out_trade_no, provider_trade_no: created.provider_trade_no, currency: 'EUR', refunded_before: 0, created_at: Date.now() };
    expect(await twoPayNow.queryRefund(ctx(m), r.out_refund_no, known)).toMatchObject({ out_refund_no: r.out_refund_no, state: 'SUCCESS', amount: 23 });
    expect(await twoPayNow.queryRefund(ctx(m), 'R2', { ...known, refunded_before: 23 })).toMatchObject({ state: 'NOT_FOUND' });
    expect(await twoPayNow.queryRefund(ctx(m), 'R2', { ...known, refunded_before: 3 })).toMatchObject({ state: 'SUCCESS', amount: 20 }); // refused when applied: not 23
    expect((await rejection(twoPayNow.queryRefund(ctx(m), r.out_refund_no))).code).toBe('NOT_SUPPORTED'); // without its order
  });

  it('an answer about another refund or amount is not taken as done', async () => {
    const m = merchant({ refund_function: 'refund' });
    const input = order();
    await twoPayNow.create(ctx(m), input);
    await pay(input.out_trade_no);
    const inner = createHttpClient(memoryLogger(), { timeoutMs: 1500 });
    const lying: HttpClient = {
      request: async (req) => {
        const res = await inner.request(req);
        return { ...res, body: res.body.replace(/"refund_amount":[0-9.]+/, '"refund_amount":9.99') };
      },
    };
    const e = await rejection(twoPayNow.refund(providerCtx(m, `${emu.url}/http/notify/2paynow`, { http: lying }), refundInput(input.out_trade_no, 23)));
    expect(e.code).toBe('PROVIDER_UNAVAILABLE');
    expect(e.message).toContain('stays in flight');
  });
});

describe('errors', () => {
  it('2paynow’s error shape (status + error_info) is PROVIDER_REJECTED with its status as the code', async () => {
    const unknown = { ...merchant(), mid: '4999999999' };
    const e1 = await rejection(twoPayNow.create(ctx(unknown), order()));
    expect(e1).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: '403' });
    expect(e1.message).toContain('mid not exist');
    expect(e1.message).toContain('config/payment.2paynow.mid and key');
    const e2 = await rejection(twoPayNow.query(ctx({ ...merchant(), key: randomKey() }), 'TPX000001'));
    expect(e2).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: '403' });
    expect(e2.message).toContain('sign check failed');
    const e3 = await rejection(twoPayNow.create(ctx(merchant({ jsapi_function: 'wx_jsapi' })), order()));
    expect(e3).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: '404' });
    expect(e3.message).toContain('function not exist');
    const e4 = await rejection(twoPayNow.query(ctx(merchant({ gateway_path: '/zhifu/nowhere' })), 'TPX000001'));
    expect(e4).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'HTTP_404' });
    expect(e4.message).toContain('gateway_path');
  });

  it('a JSAPI answer without the five fields where the config says is PROVIDER_UNAVAILABLE naming jsapi_answer_field', async () => {
    const e = await rejection(twoPayNow.create(ctx(merchant({ jsapi_answer_field: 'payment' })), order()));
    expect(e.code).toBe('PROVIDER_UNAVAILABLE');
    expect(e.message).toContain('config/payment.2paynow.jsapi_answer_field');
  });

  it('an answer’s own sign is not relied on (it covers no answer field): a wrong one is still read', async () => {
    const m = merchant();
    const input = order({ pay_method: 'alipay' });
    await twoPayNow.create(ctx(m), input);
    emu.sandboxes['2paynow'].setFault('badsign');
    expect((await twoPayNow.query(ctx(m), input.out_trade_no)).state).toBe('PENDING');
  });

  it.each(['5xx', 'garbage'] as const)('%s → PROVIDER_UNAVAILABLE', async (fault) => {
    const m = merchant();
    emu.sandboxes['2paynow'].setFault(fault);
    expect((await rejection(twoPayNow.query(ctx(m), 'TPX000001'))).code).toBe('PROVIDER_UNAVAILABLE');
  });

  it('no answer in time → HttpUnavailableError (nothing is known)', async () => {
    const m = merchant();
    emu.sandboxes['2paynow'].setFault('timeout');
    expect(await rejection(twoPayNow.query(ctx(m, 300), 'TPX000001'))).toBeInstanceOf(HttpUnavailableError);
  });
});

describe('answers read without floats or guesses', () => {
  it('quotes numeric amounts before parsing', () => {
    expect(parseAnswer('{"status":200,"amount":0.10,"refund_amount":12345678901234.99,"currency":"EUR"}')).toEqual({
      status: 200,
      amount: '0.10',
      refund_amount: '12345678901234.99',
      currency: 'EUR',
    });
    expect(parseAnswer('[1]')).toBeUndefined();
    expect(parseAnswer('<html>')).toBeUndefined();
  });

  it('finds the five fields under the configured field (object or JSON string) or at the top level', () => {
    const five = { timeStamp: '1700000000', nonceStr: 'n', package: 'prepay_id=wx1', signType: 'MD5', paySign: 'S' };
    expect(requestPayment({ pay_info: JSON.stringify(five) }, 'pay_info')).toEqual(five);
    expect(requestPayment({ js: { ...five, timeStamp: 1700000000 } }, 'js')).toEqual(five);
    expect(requestPayment({ status: 200, ...five }, 'pay_info')).toEqual(five);
    expect(requestPayment({ pay_info: { ...five, paySign: '' } }, 'pay_info')).toBeUndefined();
  });
});

describe('notifications', () => {
  const m = { mid: '4000000077', key: 'notify-key-0001' } as TwoPayNowMerchant;
  function fields(over: Record<string, string> = {}, key = m.key): Record<string, string> {
    const f: Record<string, string> = {
      timestamp: '1571034662245',
      trade_no: 'A19101413542297869',
      merchant_trade_no: '',
      amount_cny: '0.08',
      function: 'precreate',
      currency: 'EUR',
      trade_status: 'TRADE_SUCCESS',
      mid: m.mid,
      passback_parameters: '{"out_trade_no":"TP20261122000001"}',
      amount: '0.01',
      ...over,
    };
    return { ...f, sign: md5Hex(`${f.function}${f.mid}${f.timestamp}${key}`) };
  }
  const asGet = (f: Record<string, string>): NotifyRequest => ({ method: 'GET', headers: {}, query: f, body: Buffer.alloc(0) });
  const asForm = (f: Record<string, string>): NotifyRequest => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    query: {},
    body: Buffer.from(new URLSearchParams(f).toString()),
  });

  it('a signed one (query string or form body) is a hint naming the trade and our order, never a payment', () => {
    for (const req of [asGet(fields()), asForm(fields())]) {
      expect(notify.peek(req)).toEqual({ appids: [], out_trade_no: 'TP20261122000001' });
      const e = notify.verify(m, req);
      expect(e).toMatchObject({ kind: 'hint', out_trade_no: 'TP20261122000001', provider_trade_no: 'A19101413542297869', dedupe_key: '2paynow:payment:A19101413542297869:TRADE_SUCCESS' });
    }
    // merchant_trade_no, when 2paynow fills it, names the order before passback_parameters.
    expect(notify.verify(m, asGet(fields({ merchant_trade_no: 'TP20261122000002' })))).toMatchObject({ out_trade_no: 'TP20261122000002' });
  });

  it('refuses a wrong key, another merchant, a changed signed field, a missing sign, and a trade it cannot name', () => {
    const refused = (req: NotifyRequest, why: RegExp) => {
      expect(() => notify.verify(m, req)).toThrow(NotificationRejected);
      expect(() => notify.verify(m, req)).toThrow(why);
    };
    refused(asGet(fields({}, 'another-key-0001')), /bad sign/);
    refused(asGet({ ...fields(), timestamp: '1571034662246' }), /bad sign/);
    refused(asGet(fields({ mid: '4000000078' })), /not this merchant/);
    const { sign: _sign, ...unsigned } = fields();
    void _sign;
    expect(() => notify.peek(asForm(unsigned))).toThrow(/unsigned/);
    expect(() => notify.peek({ method: 'POST', headers: {}, query: {}, body: Buffer.alloc(0) })).toThrow(/unsigned/);
    refused(asGet(fields({ trade_no: '', passback_parameters: '' })), /names no trade/);
  });

  it('acks plain-text success; a failure is a 500 that is not success', () => {
    expect(notify.reply(true)).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'success' });
    expect(notify.reply(false)).toMatchObject({ statusCode: 500, body: 'fail' });
  });
});
