/**
 * The VR Payment provider against the vr sandbox over real loopback HTTP: the sandbox verifies every JWT
 * (signature, requestPath, requestMethod, iat) and the Space header; these tests drive the provider's flows
 * and its mapping of amounts, states and errors.
 */
import { createHmac, randomBytes } from 'crypto';
import { AppError } from '../../shared/core/errors';
import { manualClock, type Clock } from '../../shared/core/clock';
import { HttpUnavailableError } from '../../shared/http/client';
import { vrPayment } from '../../shared/providers/vr';
import { requestJwt } from '../../shared/providers/vr/jwt';
import { paymentPageUrl, paymentState, refundState } from '../../shared/providers/vr/transform';
import type { VrMerchant } from '../../shared/providers/vr/wire';
import { NotificationRejected, type CreatePaymentInput, type NotifyRequest, type ProviderCtx } from '../../shared/providers/types';
import { testEmulator, type TestEmulator } from '../support/emu';
import { paymentInput, providerCtx, rejection } from '../support/provider';

let emu: TestEmulator;
beforeAll(async () => {
  emu = await testEmulator({ seed: false });
});
afterAll(() => emu.stop());
afterEach(() => emu.sandboxes.vr.setFault(null));

let seq = 0;
function merchant(over: Partial<VrMerchant> = {}): VrMerchant {
  const m: VrMerchant = {
    space_id: 7000 + ++seq,
    user_id: 90000 + seq,
    auth_key: randomBytes(32).toString('base64'),
    api_base: `${emu.url}/sandbox/vr`,
    currencies: ['EUR', 'JPY', 'BHD'],
    void_path: '/payment/transactions/{id}/void-online',
    search_query: '{field}:"{value}"',
    success_url: 'https://shop.example.com/paid?x=1',
    ...over,
  };
  emu.sandboxes.vr.addMerchant({ space_id: m.space_id, user_id: m.user_id, auth_key: m.auth_key });
  return m;
}
const ctx = (config: VrMerchant, opts: { timeoutMs?: number; clock?: Clock } = {}) => providerCtx(config, `${emu.url}/http/notify/vr`, opts);
const order = (over: Partial<CreatePaymentInput> = {}) => paymentInput({ pay_method: 'wechat_page', currency: 'EUR', description: 'Parking, 1 hour', ...over });
const pay = (no: string, result?: string) => emu.post('/sandbox/vr/pay', { out_trade_no: no, result });

async function created(m: VrMerchant, over: Partial<CreatePaymentInput> = {}) {
  const input = order(over);
  const out = await vrPayment.create(ctx(m), input);
  if (out.kind !== 'redirect') throw new Error(`expected a redirect, got ${out.kind}`);
  return { input, out, tx: emu.sandboxes.vr.transaction(m.space_id, out.provider_trade_no!)! };
}

describe('JWT', () => {
  it('is HS256 over header.payload with the base64-decoded key; the payload names the request', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
    const token = requestJwt(512, key, 'GET', '/api/v2.0/payment/transactions/7?expand=x', 1700000000);
    const [h, p, s] = token.split('.');
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT', ver: 1 });
    expect(JSON.parse(Buffer.from(p, 'base64url').toString())).toEqual({
      sub: '512',
      iat: 1700000000,
      requestPath: '/api/v2.0/payment/transactions/7?expand=x',
      requestMethod: 'GET',
    });
    expect(s).toBe(createHmac('sha256', '0123456789abcdef0123456789abcdef').update(`${h}.${p}`).digest('base64url'));
    // Computed once from the rule above (not provider-issued): pins the exact bytes.
    expect(token).toBe(
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsInZlciI6MX0.eyJzdWIiOiI1MTIiLCJpYXQiOjE3MDAwMDAwMDAsInJlcXVlc3RQYXRoIjoiL2FwaS92Mi4wL3BheW1lbnQvdHJhbnNhY3Rpb25zLzc_ZXhwYW5kPXgiLCJyZXF1ZXN0TWV0aG9kIjoiR0VUIn0.uxg-d6PYE9IJURRNcR-40inNxU5gmvger1S6GgC7-0M',
    );
  });
});

describe('create', () => {
  it('creates a transaction with one line item in major units and returns its payment page', async () => {
    const m = merchant({ failed_url: 'https://shop.example.com/failed' });
    const { input, out, tx } = await created(m);
    expect(out.url).toMatch(new RegExp(`^https://gateway\\.vr-payment\\.de/s/${m.space_id}/payment/transaction/pay/${tx.id}\\?securityToken=`));
    expect(tx).toMatchObject({
      currency: 'EUR',
      merchantReference: input.out_trade_no,
      successUrl: 'https://shop.example.com/paid?x=1',
      failedUrl: 'https://shop.example.com/failed',
      authorizationAmount: 1.23,
    });
    expect(tx.lineItems).toEqual([{ name: 'Parking, 1 hour', quantity: 1, amountIncludingTax: 1.23, type: 'PRODUCT', uniqueId: input.out_trade_no, sku: input.out_trade_no }]);
    expect(tx.allowedPaymentMethodConfigurations).toBeUndefined();
  });

  it.each([
    ['EUR', 5, 0.05],
    ['EUR', 100000, 1000],
    ['JPY', 500, 500],
    ['BHD', 1234, 1.234],
  ])('%s %d minor units go out as %d', async (currency, amount, major) => {
    const { tx } = await created(merchant(), { currency, amount });
    expect(tx.lineItems[0].amountIncludingTax).toBe(major);
    expect(JSON.stringify(tx.lineItems[0].amountIncludingTax)).toBe(String(major));
  });

  it('a retry reuses the open transaction; a paid one answers already_paid', async () => {
    const m = merchant();
    const { input, out } = await created(m);
    const again = await vrPayment.create(ctx(m), input);
    expect(again).toMatchObject({ kind: 'redirect', provider_trade_no: out.provider_trade_no });
    await pay(input.out_trade_no);
    expect(await vrPayment.create(ctx(m), input)).toEqual({ kind: 'already_paid' });
  });

  it('refuses a method without a configuration when configurations are listed', async () => {
    const m = merchant({ method_configurations: { alipay: 4711 } });
    const e2 = (await rejection(vrPayment.create(ctx(m), order({ pay_method: 'paypal' })))) as AppError;
    expect(e2.code).toBe('NOT_SUPPORTED');
    expect(e2.message).toContain('config/payment.vr.method_configurations.paypal');
    const { tx } = await created(m, { pay_method: 'alipay' });
    expect(tx.allowedPaymentMethodConfigurations).toEqual([4711]);
  });

  it('offers url methods only: no wechat (no JSAPI at VR Payment)', () => {
    expect(vrPayment.methods).not.toContain('wechat');
    expect(vrPayment.methods).toEqual(expect.arrayContaining(['wechat_page', 'alipay', 'paypal']));
  });
});

describe('query and close', () => {
  it('maps the transaction states and reads the amount back from major units', async () => {
    const m = merchant();
    const { input, out } = await created(m);
    expect(await vrPayment.query(ctx(m), input.out_trade_no, out.provider_trade_no)).toMatchObject({ state: 'PENDING', provider_state: 'CONFIRMED' });
    await pay(input.out_trade_no);
    const paid = await vrPayment.query(ctx(m), input.out_trade_no, out.provider_trade_no);
    expect(paid).toMatchObject({
      out_trade_no: input.out_trade_no,
      state: 'PAID',
      amount: 123,
      currency: 'EUR',
      provider_trade_no: out.provider_trade_no,
      merchant: { mchid: String(m.space_id) },
      provider_state: 'FULFILL',
    });
    expect(paid.paid_at).toBeGreaterThan(Date.now() - 60_000);
    // Without the stored id the transaction is found by its merchantReference.
    expect(await vrPayment.query(ctx(m), input.out_trade_no)).toMatchObject({ state: 'PAID', provider_trade_no: out.provider_trade_no });
    expect(await vrPayment.query(ctx(m), 'NOSUCHORDER1')).toEqual({ out_trade_no: 'NOSUCHORDER1', state: 'NOT_FOUND' });
    expect(await vrPayment.query(ctx(m), 'NOSUCHORDER1', '999999999')).toEqual({ out_trade_no: 'NOSUCHORDER1', state: 'NOT_FOUND' });
  });

  it('pure state tables: FULFILL and COMPLETED paid, FAILED and DECLINE failed, VOIDED closed, the rest pending', () => {
    expect(['FULFILL', 'COMPLETED', 'FAILED', 'DECLINE', 'VOIDED', 'CREATE', 'PENDING', 'CONFIRMED', 'PROCESSING', 'AUTHORIZED', 'NEW_ONE'].map(paymentState)).toEqual([
      'PAID', 'PAID', 'FAILED', 'FAILED', 'CLOSED', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING',
    ]);
    expect(['SUCCESSFUL', 'FAILED', 'PENDING', 'MANUAL_CHECK', 'SCHEDULED'].map(refundState)).toEqual(['SUCCESS', 'CLOSED', 'PROCESSING', 'PROCESSING', 'PROCESSING']);
    expect(paymentPageUrl('https://x.example/p?a=1\n')).toBe('https://x.example/p?a=1');
    expect(paymentPageUrl('"https://x.example/p"')).toBe('https://x.example/p');
    expect(paymentPageUrl('<html>')).toBeUndefined();
  });

  it('a declined payment is FAILED', async () => {
    const m = merchant();
    const { input, out } = await created(m);
    await pay(input.out_trade_no, 'DECLINE');
    expect((await vrPayment.query(ctx(m), input.out_trade_no, out.provider_trade_no)).state).toBe('FAILED');
  });

  it('close voids an open transaction; a paid one answers PAID; one never created is CLOSED', async () => {
    const m = merchant();
    const a = await created(m);
    expect(await vrPayment.close(ctx(m), a.input.out_trade_no, a.out.provider_trade_no)).toBe('CLOSED');
    expect(a.tx.state).toBe('VOIDED');
    expect((await vrPayment.query(ctx(m), a.input.out_trade_no, a.out.provider_trade_no)).state).toBe('CLOSED');
    const b = await created(m);
    await pay(b.input.out_trade_no);
    expect(await vrPayment.close(ctx(m), b.input.out_trade_no, b.out.provider_trade_no)).toBe('PAID');
    expect(await vrPayment.close(ctx(m), 'NEVERCREATED1')).toBe('CLOSED');
  });
});

describe('refunds', () => {
  it('refunds by externalId, queries by search, maps SUCCESSFUL and FAILED', async () => {
    const m = merchant();
    const { input, out } = await created(m, { amount: 1000 });
    await pay(input.out_trade_no);
    const base = { out_trade_no: input.out_trade_no, provider_trade_no: out.provider_trade_no, total: 1000, currency: 'EUR' };
    const r1 = await vrPayment.refund(ctx(m), { ...base, out_refund_no: `${input.out_trade_no}R1`, amount: 250 });
    expect(r1).toMatchObject({ out_refund_no: `${input.out_trade_no}R1`, out_trade_no: input.out_trade_no, state: 'PROCESSING', amount: 250 });
    const sb = emu.sandboxes.vr.refund(m.space_id, r1.refund_id!)!;
    expect(sb).toMatchObject({ amount: 2.5, externalId: `${input.out_trade_no}R1`, type: 'MERCHANT_INITIATED_ONLINE', transactionId: Number(out.provider_trade_no) });
    // The same request again answers the same refund.
    expect((await vrPayment.refund(ctx(m), { ...base, out_refund_no: `${input.out_trade_no}R1`, amount: 250 })).refund_id).toBe(r1.refund_id);

    expect((await vrPayment.queryRefund(ctx(m), `${input.out_trade_no}R1`)).state).toBe('PROCESSING');
    await emu.post('/sandbox/vr/refund', { out_refund_no: `${input.out_trade_no}R1` });
    const done = await vrPayment.queryRefund(ctx(m), `${input.out_trade_no}R1`);
    expect(done).toMatchObject({ state: 'SUCCESS', amount: 250, refund_id: r1.refund_id, provider_state: 'SUCCESSFUL', merchant: { mchid: String(m.space_id) } });
    expect(done.finished_at).toBeGreaterThan(Date.now() - 60_000);

    const r2 = await vrPayment.refund(ctx(m), { ...base, out_refund_no: `${input.out_trade_no}R2`, amount: 100 });
    await emu.post('/sandbox/vr/refund', { out_refund_no: `${input.out_trade_no}R2`, result: 'FAILED' });
    expect(await vrPayment.queryRefund(ctx(m), `${input.out_trade_no}R2`)).toMatchObject({ state: 'CLOSED', refund_id: r2.refund_id });
    // An empty search proves nothing: the refund stays in flight rather than being released.
    expect(await vrPayment.queryRefund(ctx(m), 'NOSUCHREFUND')).toEqual({ out_refund_no: 'NOSUCHREFUND', state: 'PROCESSING' });

    const over = (await rejection(vrPayment.refund(ctx(m), { ...base, out_refund_no: `${input.out_trade_no}R3`, amount: 800 }))) as AppError;
    expect(over).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'AMOUNT_EXCEEDS_REFUNDABLE' });
  });
});

describe('signing and errors', () => {
  it('the sandbox refuses a wrong key, another user, a stale iat: PROVIDER_REJECTED naming the config fields', async () => {
    const m = merchant();
    const { input, out } = await created(m);
    const cases: ProviderCtx<VrMerchant>[] = [
      ctx({ ...m, auth_key: randomBytes(32).toString('base64') }),
      ctx({ ...m, user_id: m.user_id + 1 }),
      ctx(m, { clock: manualClock(Date.now() - 10 * 60_000) }),
      ctx({ ...m, space_id: 1 }),
    ];
    for (const c of cases) {
      const e = (await rejection(vrPayment.query(c, input.out_trade_no, out.provider_trade_no))) as AppError;
      expect(e).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'UNAUTHORIZED' });
      expect(e.message).toContain('config/payment.vr.user_id, auth_key and space_id');
      expect(e.message).not.toContain(m.auth_key);
    }
  });

  it('5xx and unexpected shapes are PROVIDER_UNAVAILABLE; a timeout is HttpUnavailableError; a refused JWT is PROVIDER_REJECTED', async () => {
    const m = merchant();
    const { input, out } = await created(m);
    const q = (c = ctx(m)) => vrPayment.query(c, input.out_trade_no, out.provider_trade_no);
    emu.sandboxes.vr.setFault('5xx');
    expect(await rejection(q())).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
    emu.sandboxes.vr.setFault('garbage');
    expect(await rejection(q())).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
    emu.sandboxes.vr.setFault('badsign');
    expect(await rejection(q())).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'UNAUTHORIZED' });
    emu.sandboxes.vr.setFault('timeout');
    expect(await rejection(q(ctx(m, { timeoutMs: 300 })))).toBeInstanceOf(HttpUnavailableError);
    expect((await q()).state).toBe('PENDING');
  });

  it('a token is good for its own method and path only', async () => {
    const m = merchant();
    const { out } = await created(m);
    const own = `/api/v2.0/payment/transactions/${out.provider_trade_no}`;
    const send = (signed: { method: string; path: string }, method: string, path: string) =>
      fetch(`${emu.url}/sandbox/vr${path}`, {
        method,
        headers: { authorization: `Bearer ${requestJwt(m.user_id, m.auth_key, signed.method, signed.path, Math.floor(Date.now() / 1000))}`, space: String(m.space_id) },
      });
    expect((await send({ method: 'GET', path: own }, 'GET', own)).status).toBe(200);
    expect((await send({ method: 'GET', path: own }, 'POST', own)).status).toBe(401);
    const other = await send({ method: 'GET', path: own }, 'GET', `${own}?expand=x`);
    expect(other.status).toBe(401);
    expect(await other.json()).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('an error answer of the acquirer keeps its code', async () => {
    const m = merchant();
    const e = (await rejection(vrPayment.create(ctx(m), order({ out_trade_no: 'X'.repeat(101) })))) as AppError;
    expect(e).toMatchObject({ code: 'PROVIDER_REJECTED', providerCode: 'VALIDATION_ERROR' });
  });
});

describe('webhooks', () => {
  const req = (body: unknown): NotifyRequest => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    query: {},
    body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const hook = (spaceId: number, entityId: number, name = 'Transaction') => ({ eventId: 1, entityId, listenerEntityTechnicalName: name, spaceId, state: 'FULFILL' });

  it('a transaction or refund webhook of this space is a hint naming our order or refund, found by re-reading it', async () => {
    const m = merchant();
    const { input, out } = await created(m, { amount: 500 });
    expect(vrPayment.notify!.peek(req(hook(m.space_id, Number(out.provider_trade_no))))).toEqual({ appids: [], any_config: true });
    expect(await vrPayment.notify!.verify(ctx(m), req(hook(m.space_id, Number(out.provider_trade_no))))).toMatchObject({
      kind: 'hint',
      out_trade_no: input.out_trade_no,
      provider_trade_no: out.provider_trade_no,
      dedupe_key: `vr:Transaction:${out.provider_trade_no}:1`,
    });
    await pay(input.out_trade_no);
    const r = await vrPayment.refund(ctx(m), { out_trade_no: input.out_trade_no, provider_trade_no: out.provider_trade_no, out_refund_no: 'RF1', total: 500, amount: 500, currency: 'EUR' });
    expect(await vrPayment.notify!.verify(ctx(m), req(hook(m.space_id, Number(r.refund_id), 'Refund')))).toMatchObject({ kind: 'hint', out_refund_no: 'RF1' });
  });

  it('another space, an unknown entity, a malformed body are rejected', async () => {
    const m = merchant();
    const { out } = await created(m);
    const id = Number(out.provider_trade_no);
    await expect(vrPayment.notify!.verify(ctx(m), req(hook(m.space_id + 1, id)))).rejects.toThrow(NotificationRejected);
    await expect(vrPayment.notify!.verify(ctx(m), req(hook(m.space_id, 999999999)))).rejects.toThrow(NotificationRejected);
    for (const bad of ['not json', '[]', { ...hook(m.space_id, id), listenerEntityTechnicalName: 'Token' }, { ...hook(m.space_id, id), entityId: '12' }]) {
      expect(() => vrPayment.notify!.peek(req(bad))).toThrow(NotificationRejected);
    }
  });

  it('acks with any 2xx, asks for redelivery with 500', () => {
    expect(vrPayment.notify!.reply(true)).toMatchObject({ statusCode: 200, body: 'OK' });
    // The reason is never echoed to the (anonymous) caller.
    expect(vrPayment.notify!.reply(false, 'unknown order')).toMatchObject({ statusCode: 500, body: 'FAIL' });
  });
});
