/**
 * The SuPay provider against the SuPay sandbox over loopback HTTP. The sandbox checks every request's sign
 * with the merchant's key and signs its answers; its notifications are caught by a local receiver and fed
 * to the provider's verify.
 */
import { createHash } from 'crypto';
import http from 'http';
import type { AddressInfo } from 'net';
import { HttpUnavailableError } from '../../shared/http/client';
import { suPay } from '../../shared/providers/supay';
import * as t from '../../shared/providers/supay/transform';
import type { SuPayMerchant } from '../../shared/providers/supay/wire';
import type { CreatePaymentInput, NotifyRequest } from '../../shared/providers/types';
import { randomKey } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';
import { paymentInput, providerCtx, rejection } from '../support/provider';

let emu: TestEmulator;
let receiver: http.Server;
let notifyUrl: string;
/** Notifications the sandbox delivered, newest last. */
const received: NotifyRequest[] = [];
beforeAll(async () => {
  emu = await testEmulator({ seed: false });
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? 'POST', headers: req.headers as Record<string, string>, query: {}, body: Buffer.concat(chunks) });
      res.end('success');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  notifyUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify/supay`;
});
afterAll(async () => {
  await new Promise((r) => receiver.close(r));
  await emu.stop();
});
afterEach(() => emu.sandboxes.supay.setFault(null));

let seq = 0;
function merchant(over: Partial<SuPayMerchant> = {}): SuPayMerchant {
  const m: SuPayMerchant = {
    mch_id: `SPT${1000 + ++seq}`,
    key: randomKey(),
    store_name: 'Test store',
    api_base: `${emu.url}/sandbox/supay`,
    timeout_express: '30m',
    currencies: ['AUD', 'JPY'],
    url_pay_way: 'H5',
    query_trade_type: 'PAY',
    refund_query_trade_type: 'REFUND',
    ...over,
  };
  emu.sandboxes.supay.addMerchant({ mch_id: m.mch_id, key: m.key, currencies: m.currencies });
  return m;
}
const ctx = (config: SuPayMerchant, timeoutMs = 1500) => providerCtx(config, notifyUrl, { timeoutMs });
const input = (over: Partial<CreatePaymentInput> = {}) => paymentInput({ currency: 'AUD', description: 'Parking & coffee', ...over });
const md5Upper = (s: string) => createHash('md5').update(s, 'utf8').digest('hex').toUpperCase();

async function paid(m: SuPayMerchant, over: Partial<CreatePaymentInput> = {}) {
  const i = input(over);
  await suPay.create(ctx(m), i);
  await emu.post('/sandbox/supay/pay', { out_trade_no: i.out_trade_no, mch_id: m.mch_id });
  return i;
}
const lastNotification = () => received[received.length - 1];
const withBody = (req: NotifyRequest, body: string): NotifyRequest => ({ ...req, body: Buffer.from(body) });

describe('signature', () => {
  it('is upper-case MD5 over the sorted non-empty fields but sign and sign_type, then &key=', () => {
    const f = { service: 'query_trade', mch_id: 'SP1', empty: '', mch_order_no: 'A&B', sign: 'X', sign_type: 'MD5' };
    expect(t.sign(f, 'k3y')).toBe(md5Upper('mch_id=SP1&mch_order_no=A&B&service=query_trade&key=k3y'));
    expect(t.verifySign({ ...f, sign: t.sign(f, 'k3y').toLowerCase() }, 'k3y')).toBe(true);
    expect(t.verifySign({ ...f, sign: t.sign(f, 'other') }, 'k3y')).toBe(false);
    expect(t.verifySign({ ...f, sign: 'not-hex' }, 'k3y')).toBe(false);
  });
});

describe('create_instant_trade', () => {
  it('signs the request (the sandbox verifies it) and returns pay_info as the requestPayment fields', async () => {
    const m = merchant();
    const i = input();
    const res = await suPay.create(ctx(m), i);
    if (res.kind !== 'pay') throw new Error(res.kind);
    const tr = emu.sandboxes.supay.trade(m.mch_id, i.out_trade_no)!;
    expect(tr.request).toMatchObject({ mch_order_no: i.out_trade_no, pay_amount: '1.23', currency: 'AUD', goods_desc: 'Parking & coffee', recevice_id: m.mch_id, subOpenId: 'o-payer', call_back_url: notifyUrl });
    const { sign, sign_type, ...signedPart } = tr.request;
    expect(sign_type).toBe('MD5');
    expect(sign).toBe(md5Upper(`${Object.keys(signedPart).sort().map((k) => `${k}=${signedPart[k]}`).join('&')}&key=${m.key}`));
    expect(res.payment).toEqual(JSON.parse(tr.pay_info));
    expect(res.prepay_id).toBe(res.payment.package.replace('prepay_id=', ''));
  });

  it('converts with the currency’s exponent (JPY has none) and sends recevice_id when set', async () => {
    const m = merchant();
    emu.sandboxes.supay.addMerchant({ mch_id: m.mch_id, key: m.key, currencies: m.currencies, recevice_id: 'PAYEE1' });
    const i = input({ amount: 500, currency: 'JPY' });
    await suPay.create(ctx({ ...m, recevice_id: 'PAYEE1' }), i);
    expect(emu.sandboxes.supay.trade(m.mch_id, i.out_trade_no)!.request).toMatchObject({ pay_amount: '500', goods_price: '500', currency: 'JPY', recevice_id: 'PAYEE1' });
  });

  it('alipay is pay_way H5 (or the config’s PC) through ALIPAY and returns the page url', async () => {
    const m = merchant();
    const i = input({ pay_method: 'alipay' });
    const res = await suPay.create(ctx(m), i);
    expect(res).toEqual({ kind: 'redirect', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/sandbox\/supay\/cashier\/SP\d+$/) });
    expect(emu.sandboxes.supay.trade(m.mch_id, i.out_trade_no)!.request).toMatchObject({ pay_way: 'H5', pay_channel: 'ALIPAY' });
    const pc = input({ pay_method: 'alipay' });
    await suPay.create(ctx({ ...m, url_pay_way: 'PC' }), pc);
    expect(emu.sandboxes.supay.trade(m.mch_id, pc.out_trade_no)!.request.pay_way).toBe('PC');
  });

  it('a retry gets the same pay_info; a number SuPay settled is already_paid / already_closed', async () => {
    const m = merchant();
    const i = input();
    const first = await suPay.create(ctx(m), i);
    expect(await suPay.create(ctx(m), i)).toMatchObject({ kind: 'pay', payment: first.kind === 'pay' ? first.payment : null });
    await emu.post('/sandbox/supay/pay', { out_trade_no: i.out_trade_no, mch_id: m.mch_id });
    expect(await suPay.create(ctx(m), i)).toEqual({ kind: 'already_paid' });

    const c = input();
    await suPay.create(ctx(m), c);
    await emu.post('/sandbox/supay/pay', { out_trade_no: c.out_trade_no, mch_id: m.mch_id, result: 'TRADE_CLOSED' });
    expect(await suPay.create(ctx(m), c)).toEqual({ kind: 'already_closed' });
  });

  it('a refusal is PROVIDER_REJECTED with SuPay’s code: a wrong key names the config field', async () => {
    const m = merchant();
    const err = await rejection(suPay.create(ctx({ ...m, key: randomKey() }), input()));
    expect(err).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'F' });
    expect(err.message).toContain('SIGN_ERROR');
    expect(err.message).toContain('config/payment.supay.key');
    const used = input();
    await suPay.create(ctx(m), used);
    expect(await rejection(suPay.create(ctx(m), { ...used, amount: 999 }))).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'F', message: expect.stringContaining('DUPLICATE_ORDER') });
  });
});

describe('query_trade and close', () => {
  it('maps WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED and an unknown number', async () => {
    const m = merchant();
    const i = input();
    await suPay.create(ctx(m), i);
    expect(await suPay.query(ctx(m), i.out_trade_no)).toMatchObject({ state: 'PENDING', amount: 123, currency: 'AUD', provider_state: 'WAIT_BUYER_PAY' });
    expect(await suPay.close(ctx(m), i.out_trade_no)).toBe('CLOSED');
    await emu.post('/sandbox/supay/pay', { out_trade_no: i.out_trade_no, mch_id: m.mch_id });
    const tr = emu.sandboxes.supay.trade(m.mch_id, i.out_trade_no)!;
    expect(await suPay.query(ctx(m), i.out_trade_no)).toMatchObject({
      out_trade_no: i.out_trade_no, state: 'PAID', amount: 123, currency: 'AUD', provider_trade_no: tr.inner_trade_no, merchant: { mchid: m.mch_id },
    });
    expect(await suPay.close(ctx(m), i.out_trade_no)).toBe('PAID');

    const c = input({ amount: 5000, currency: 'JPY' });
    await suPay.create(ctx(m), c);
    await emu.post('/sandbox/supay/pay', { out_trade_no: c.out_trade_no, mch_id: m.mch_id, result: 'TRADE_CLOSED' });
    expect(await suPay.query(ctx(m), c.out_trade_no)).toMatchObject({ state: 'CLOSED', amount: 5000, currency: 'JPY' });
    expect(await suPay.query(ctx(m), 'NEVERSENT123')).toEqual({ out_trade_no: 'NEVERSENT123', state: 'NOT_FOUND' });
  });

  it('5xx, garbage and a bad answer sign are PROVIDER_UNAVAILABLE; no answer in time is HttpUnavailableError', async () => {
    const m = merchant();
    const i = input();
    await suPay.create(ctx(m), i);
    for (const fault of ['5xx', 'garbage', 'badsign'] as const) {
      emu.sandboxes.supay.setFault(fault);
      expect(await rejection(suPay.query(ctx(m), i.out_trade_no))).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
    }
    emu.sandboxes.supay.setFault('timeout');
    expect(await rejection(suPay.query(ctx(m, 300), i.out_trade_no))).toBeInstanceOf(HttpUnavailableError);
  });
});

describe('create_refund and the refund query', () => {
  it('sends the refund number, the order and the amount; the query maps REFUND_SUCCESS / REFUND_FAIL', async () => {
    const m = merchant();
    const i = await paid(m, { amount: 1000 });
    const r = { out_trade_no: i.out_trade_no, out_refund_no: `${i.out_trade_no}R1`, total: 1000, amount: 250, currency: 'AUD', reason: 'broken' };
    expect(await suPay.refund(ctx(m), r)).toEqual({ out_refund_no: r.out_refund_no, out_trade_no: i.out_trade_no, state: 'PROCESSING' });
    expect(emu.sandboxes.supay.refund(m.mch_id, r.out_refund_no)).toMatchObject({ orig_mch_order_no: i.out_trade_no, refund_amount: '2.50', call_back_url: notifyUrl });
    expect(await suPay.refund(ctx(m), r)).toMatchObject({ state: 'PROCESSING' }); // the same request again is accepted
    expect(await suPay.queryRefund(ctx(m), r.out_refund_no)).toMatchObject({ state: 'PROCESSING', amount: 250, out_trade_no: i.out_trade_no });
    await emu.post('/sandbox/supay/refund', { out_refund_no: r.out_refund_no, mch_id: m.mch_id });
    expect(await suPay.queryRefund(ctx(m), r.out_refund_no)).toMatchObject({ state: 'SUCCESS', amount: 250, provider_state: 'REFUND_SUCCESS' });

    const r2 = { ...r, out_refund_no: `${i.out_trade_no}R2`, amount: 750 };
    await suPay.refund(ctx(m), r2);
    await emu.post('/sandbox/supay/refund', { out_refund_no: r2.out_refund_no, mch_id: m.mch_id, result: 'REFUND_FAIL' });
    expect(await suPay.queryRefund(ctx(m), r2.out_refund_no)).toMatchObject({ state: 'CLOSED', provider_state: 'REFUND_FAIL' });
    expect(await suPay.queryRefund(ctx(m), 'NOSUCHREFUND')).toEqual({ out_refund_no: 'NOSUCHREFUND', state: 'NOT_FOUND' });
  });

  it('more than the refundable amount is PROVIDER_REJECTED', async () => {
    const m = merchant();
    const i = await paid(m);
    const err = await rejection(suPay.refund(ctx(m), { out_trade_no: i.out_trade_no, out_refund_no: `${i.out_trade_no}R1`, total: 123, amount: 124, currency: 'AUD' }));
    expect(err).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'F', message: expect.stringContaining('REFUND_AMOUNT_EXCEEDED') });
  });
});

describe('notifications', () => {
  const notify = suPay.notify!;

  it('a delivered trade_status_sync verifies into a PAID report; its peek names the order', async () => {
    const m = merchant();
    const i = await paid(m);
    const req = lastNotification();
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(notify.peek(req)).toEqual({ appids: [], out_trade_no: i.out_trade_no });
    const event = await notify.verify(ctx(m), req);
    if (event.kind !== 'payment') throw new Error(event.kind);
    expect(event.report).toMatchObject({ out_trade_no: i.out_trade_no, state: 'PAID', amount: 123, currency: 'AUD', merchant: { mchid: m.mch_id } });
    expect(event.dedupe_key).toMatch(new RegExp(`^supay:payment:${i.out_trade_no}:SP\\d+:TRADE_SUCCESS$`));
  });

  it('a delivered refund_status_sync verifies into a refund report', async () => {
    const m = merchant();
    const i = await paid(m);
    await suPay.refund(ctx(m), { out_trade_no: i.out_trade_no, out_refund_no: `${i.out_trade_no}R1`, total: 123, amount: 100, currency: 'AUD' });
    await emu.post('/sandbox/supay/refund', { out_refund_no: `${i.out_trade_no}R1`, mch_id: m.mch_id });
    const req = lastNotification();
    expect(notify.peek(req).out_trade_no).toBe(i.out_trade_no);
    const event = await notify.verify(ctx(m), req);
    expect(event).toMatchObject({ kind: 'refund', report: { out_refund_no: `${i.out_trade_no}R1`, out_trade_no: i.out_trade_no, state: 'SUCCESS', amount: 100 } });
  });

  it('another key, a changed field, no sign, or an unreadable amount is NotificationRejected', async () => {
    const m = merchant();
    await paid(m);
    const req = lastNotification();
    const body = req.body.toString('utf8');
    const reject = async (r: NotifyRequest, reason: string) => expect(notify.verify(ctx(m), r)).rejects.toThrow(reason);
    await expect(notify.verify(ctx(m), req)).resolves.toMatchObject({ kind: 'payment' });
    await expect(notify.verify(ctx({ ...m, key: randomKey() }), req)).rejects.toThrow('bad sign');
    await reject(withBody(req, body.replace(/trade_amount=[^&]+/, 'trade_amount=0.01')), 'bad sign');
    await reject(withBody(req, body.replace(/&sign=[^&]+/, '')), 'unsigned');
    const f = Object.fromEntries(new URLSearchParams(body));
    delete f.sign;
    const unreadable = { ...f, trade_amount: '1.234' };
    await reject(withBody(req, new URLSearchParams({ ...unreadable, sign: t.sign(unreadable, m.key) }).toString()), 'not an amount in AUD');
  });

  it('the ack is plain-text success; a failure is HTTP 500 fail', () => {
    expect(notify.reply(true)).toEqual({ statusCode: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'success' });
    expect(notify.reply(false, 'amount differs')).toEqual({ statusCode: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'fail' });
  });
});

describe('transform', () => {
  const m = { currencies: ['AUD'] } as SuPayMerchant;
  it('reads a url method’s pay_info as the url itself or a JSON object naming it', () => {
    expect(t.paymentUrl('https://pay.example/c/1')).toBe('https://pay.example/c/1');
    expect(t.paymentUrl('{"mweb_url":"https://wx.example/m?x=1"}')).toBe('https://wx.example/m?x=1');
    expect(t.paymentUrl('{"code_url":"weixin://wxpay/bizpayurl?pr=1"}')).toBeUndefined();
    expect(t.paymentUrl(undefined)).toBeUndefined();
  });
  it('passes the requestPayment fields on unchanged (a numeric timeStamp as its digits) and refuses incomplete ones', () => {
    const p = { appId: 'wx1', timeStamp: 1700000000, nonceStr: 'n', package: 'prepay_id=wx2', signType: 'MD5', paySign: 'S' };
    expect(t.requestPayment(JSON.stringify(p))).toEqual({ ...p, timeStamp: '1700000000' });
    expect(t.requestPayment(JSON.stringify({ ...p, paySign: '' }))).toBeUndefined();
    expect(t.requestPayment('not json')).toBeUndefined();
  });
  it('reads amounts in the reported currency, else the only configured one, never through floats', () => {
    expect(t.paymentReport({ trade_amount: '0.29', trade_status: 'TRADE_SUCCESS' }, m, 'A1')).toMatchObject({ amount: 29, currency: 'AUD', state: 'PAID' });
    expect(t.paymentReport({ trade_amount: '290', currency: 'JPY', trade_status: 'WAIT_BUYER_PAY' }, m, 'A1')).toMatchObject({ amount: 290, currency: 'JPY', state: 'PENDING' });
    expect(t.paymentReport({ trade_amount: '1.00', trade_status: 'TRADE_SUCCESS' }, { currencies: ['AUD', 'JPY'] } as SuPayMerchant, 'A1').amount).toBeUndefined();
    expect(t.paymentReport({ trade_status: 'SOMETHING_NEW' }, m, 'A1').state).toBe('PENDING');
  });
});
