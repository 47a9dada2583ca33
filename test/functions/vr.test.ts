/**
 * VR Payment end to end through the emulator: orders get a payment page `url`; VR Payment sends no
 * per-payment notification, so orders complete by `queryorder` and `reconcile`, or by an optional space
 * webhook that only names the transaction and is confirmed by re-reading it. Nothing changes without
 * that read's word, and every doubtful webhook gets the failure reply (HTTP 500, delivered again).
 */
import { DEMO_APPID } from '../../scripts/emulator/seed';
import { systemClock } from '../../shared/core/clock';
import { memoryLogger } from '../../shared/core/logger';
import { createHttpClient } from '../../shared/http/client';
import { vrPayment } from '../../shared/providers/vr';
import type { VrMerchant } from '../../shared/providers/vr/wire';
import type { ProviderCtx } from '../../shared/providers/types';
import type { CloudPay } from '../../shared/runtime/port';
import { sharedCache } from '../../shared/store/shared-cache';
import { localStore } from '../../shared/runtime/local';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let base: Record<string, any>;
let space: number;
beforeAll(async () => {
  emu = await testEmulator({ httpTimeoutMs: 800 });
  base = (await emu.db('config', 'payment'))!;
  space = base.vr.space_id;
  await useVr();
});
afterAll(() => emu.stop());
afterEach(() => emu.sandboxes.vr.setFault(null));

const TRUSTED = { source: 'wx_client,scf' };
const useVr = (over: Record<string, unknown> = {}) => emu.put('config', 'payment', { ...base, pay_sp: 'vr', currency: 'EUR', ...over });
const webhookOn = (url?: string) =>
  emu.sandboxes.vr.addMerchant({ space_id: base.vr.space_id, user_id: base.vr.user_id, auth_key: base.vr.auth_key, webhook_url: url });

let seq = 0;
async function order(amount = 120, payMethod = 'wechat_page') {
  const id = `vr-biz-${++seq}`;
  await emu.put('orders', id, { _openid: 'o-vr', amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id, pay_method: payMethod }, { openid: 'o-vr', appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  const no = r.data.out_trade_no as string;
  const stored = await emu.db('pay_orders', no);
  return { bizId: id, no, url: r.data.url as string, txId: stored.provider_trade_no as string };
}
const pay = (no: string, result?: string) => emu.post('/sandbox/vr/pay', { out_trade_no: no, result });
const query = (no: string) => emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-vr' });
/** The newest notification records (every delivery gets one). */
const lastEvents = async (n: number) => (await emu.store.find<any>('pay_events', {}, { limit: 100 })).sort((a, b) => (a._id < b._id ? 1 : -1)).slice(0, n);
const state = async () =>
  JSON.stringify([await emu.store.find('pay_orders', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('pay_refunds', {}, { orderBy: ['_id', 'asc'] })]);
async function webhook(body: unknown) {
  const res = await fetch(`${emu.url}/http/notify/vr`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.text() };
}
const hook = (entityId: number | string, over: Record<string, unknown> = {}) => ({
  eventId: ++seq,
  entityId: Number(entityId),
  listenerEntityId: 1472041829003,
  listenerEntityTechnicalName: 'Transaction',
  spaceId: space,
  webhookListenerId: 1,
  timestamp: new Date().toISOString(),
  state: 'FULFILL',
  ...over,
});

describe('end to end', () => {
  it('url → pay on the page → queryorder PAID (business order marked) → refund → queryrefund REFUNDED', async () => {
    const { bizId, no, url, txId } = await order();
    expect(url).toMatch(/^https:\/\/gateway\.vr-payment\.de\/s\/\d+\/payment\/transaction\/pay\/\d+\?securityToken=/);
    const tx = emu.sandboxes.vr.transaction(space, txId)!;
    expect(tx).toMatchObject({ merchantReference: no, currency: 'EUR', authorizationAmount: 1.2 });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'CREATED', provider: 'vr', pay_method: 'wechat_page', provider_trade_no: String(tx.id), merchant: { mchid: String(space) } });

    const paid = await pay(no);
    expect(paid.body).toMatchObject({ state: 'FULFILL', notify: null }); // no per-payment notification
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
    expect((await query(no)).data).toMatchObject({ status: 'PAID', amount: 120 });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 120, provider_trade_no: txId });
    expect((await emu.db('orders', bizId)).status).toBe('paid');

    const r1 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 20 }, TRUSTED);
    expect(r1.data).toMatchObject({ status: 'PROCESSING', amount: 20 });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: r1.data.out_refund_no }, TRUSTED)).data.status).toBe('PROCESSING');
    await emu.post('/sandbox/vr/refund', { out_refund_no: r1.data.out_refund_no });
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: r1.data.out_refund_no }, TRUSTED)).data.status).toBe('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 20 });
    const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    await emu.post('/sandbox/vr/refund', { out_refund_no: r2.data.out_refund_no });
    await emu.fn('pay', { action: 'queryrefund', out_refund_no: r2.data.out_refund_no }, TRUSTED);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 120 });
  });

  it('reconcile completes a paid order nobody asked about', async () => {
    const { no } = await order();
    await pay(no);
    const r = await emu.fn('pay', { action: 'reconcile', older_than_minutes: 0, spacing_ms: 0 }, TRUSTED);
    expect(r.ok).toBe(true);
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  });

  it('with a space webhook configured, paying and refunding complete at once through the re-read', async () => {
    webhookOn(`${emu.url}/http/notify/vr`);
    try {
      const { no } = await order(300, 'alipay');
      const paid = await pay(no);
      expect(paid.body.notify).toMatchObject({ status: 200, body: 'OK' });
      expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 300, pay_method: 'alipay' });
      const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
      const done = await emu.post('/sandbox/vr/refund', { out_refund_no: r.data.out_refund_no });
      expect(done.body.notify).toMatchObject({ status: 200 });
      expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 300 });
      const events = await emu.store.find<any>('pay_events', { out_trade_no: no });
      expect(events.map((e) => e.outcome).sort()).toEqual(['applied', 'applied']);
    } finally {
      webhookOn(undefined);
    }
  });

  it('a declined payment makes the order FAILED; closeorder voids an open transaction', async () => {
    const a = await order();
    await pay(a.no, 'DECLINE');
    expect((await query(a.no)).data.status).toBe('FAILED');
    const b = await order();
    await emu.put('pay_orders', b.no, { ...(await emu.db('pay_orders', b.no)), created_at: Date.now() - 6 * 60_000 });
    expect((await emu.fn('pay', { action: 'closeorder', out_trade_no: b.no }, { openid: 'o-vr' })).data.status).toBe('CLOSED');
    expect(emu.sandboxes.vr.transaction(space, b.txId)!.state).toBe('VOIDED');
  });

  it('pay_method: wechat and unknown methods are NOT_SUPPORTED, naming the method and the url methods offered', async () => {
    await emu.put('orders', 'vr-biz-m', { _openid: 'o-vr', amount: 100, status: 'unpaid' });
    for (const m of ['wechat', 'applepay', undefined]) {
      const r = await emu.fn('pay', { action: 'unifiedorder', order_id: 'vr-biz-m', pay_method: m }, { openid: 'o-vr' });
      expect(r.error.code).toBe('NOT_SUPPORTED');
      expect(r.error.message).toContain(`"${m ?? 'wechat'}"`);
      expect(r.error.message).toContain('wechat_page, alipay, paypal');
    }
  });

  it('orders created under vr stay on vr after pay_sp moves on', async () => {
    const { no } = await order();
    await useVr({ pay_sp: 'v2' });
    try {
      await pay(no);
      expect((await query(no)).data).toMatchObject({ status: 'PAID', provider: 'vr' });
    } finally {
      await useVr();
    }
  });
});

describe('notifications and answers that change nothing', () => {
  it('a webhook of another space, a malformed one, or one naming no transaction is refused with 500', async () => {
    const { txId } = await order();
    const before = await state();
    for (const body of [hook(txId, { spaceId: space + 1 }), 'not json', { ...hook(txId), listenerEntityTechnicalName: 'Token' }, hook(987654321)]) {
      expect((await webhook(body)).status).toBe(500);
    }
    expect(await state()).toBe(before);
  });

  it('a forged "paid" webhook for an unpaid transaction is only a hint: the re-read says pending, nothing changes', async () => {
    const { no, txId } = await order();
    const before = await state();
    expect(await webhook(hook(txId, { state: 'FULFILL' }))).toEqual({ status: 200, body: 'OK' });
    expect(await state()).toBe(before);
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
  });

  /** A transaction made at VR Payment directly (not through this system), under `outTradeNo`. */
  async function outsideTransaction(outTradeNo: string, amount: number): Promise<string> {
    const c = (await emu.db('config', 'payment')).vr as VrMerchant;
    const ctx: ProviderCtx<VrMerchant> = {
      config: { ...c, void_path: '/payment/transactions/{id}/void-online', search_query: '{field}:"{value}"' },
      cache: sharedCache(localStore(), systemClock),
      cloudPay: undefined as unknown as CloudPay,
      notifyUrl: '',
      http: createHttpClient(memoryLogger()),
      clock: systemClock,
      log: memoryLogger(),
    };
    const made = await vrPayment.create(ctx, {
      out_trade_no: outTradeNo, pay_method: 'card', amount, currency: 'EUR', description: 'x', payer_openid: 'o', client_ip: '127.0.0.1', created_at: Date.now(), expires_at: Date.now() + 60_000,
    });
    return (made as { provider_trade_no: string }).provider_trade_no;
  }

  it('a transaction for an unknown order is refused', async () => {
    const foreign = { provider_trade_no: await outsideTransaction('NOSUCHORDER77', 100) };
    await pay('NOSUCHORDER77');
    const before = await state();
    const r = await webhook(hook((foreign as { provider_trade_no: string }).provider_trade_no));
    // The caller learns nothing; the reason is in the event log.
    expect(r).toEqual({ status: 500, body: 'FAIL' });
    expect((await lastEvents(1))[0].reason).toContain('unknown order');
    expect(await state()).toBe(before);
  });

  it.each([
    ['an amount', (tx: any) => (tx.completedAmount = 0.5), 'amount 50 differs'],
    ['a currency', (tx: any) => (tx.currency = 'CHF'), 'currency CHF differs'],
  ])('a paid transaction whose re-read shows %s other than the order’s is refused, by webhook and by queryorder', async (_what, tamper, reason) => {
    const { no, txId } = await order();
    await pay(no);
    tamper(emu.sandboxes.vr.transaction(space, txId));
    const before = await state();
    expect(await webhook(hook(txId))).toEqual({ status: 500, body: 'FAIL' });
    expect((await lastEvents(1))[0].reason).toContain(reason);
    expect((await query(no)).data.status).toBe('CREATED');
    expect(await state()).toBe(before);
  });

  it.each(['timeout', 'garbage', '5xx'] as const)('VR Payment answering with %s: webhook 500, queryorder PROVIDER_UNAVAILABLE, nothing changes', async (fault) => {
    const { no, txId } = await order();
    await pay(no);
    const before = await state();
    emu.sandboxes.vr.setFault(fault);
    expect((await webhook(hook(txId))).status).toBe(500);
    emu.sandboxes.vr.setFault(fault);
    expect((await query(no)).error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(await state()).toBe(before);
  });

  it('a webhook naming a paid transaction of this order’s number that the order never opened: 500, recorded, nothing changes', async () => {
    const { no, txId } = await order();
    // Paid at VR Payment, for the order's amount, but not the transaction this order opened.
    const other = await outsideTransaction(no, 119);
    Object.assign(emu.sandboxes.vr.transaction(space, other)!, { authorizationAmount: 1.2 });
    await emu.post('/sandbox/vr/pay', { transaction: other });
    expect(other).not.toBe(txId);
    const before = await state();
    expect(await webhook(hook(other))).toEqual({ status: 500, body: 'FAIL' });
    expect(await state()).toBe(before);
    expect((await lastEvents(1))[0]).toMatchObject({ outcome: 'rejected', out_trade_no: no, reason: 'the notification names a trade this order never had' });
  });

  it.each([
    ['another transaction id', (tx: any) => (tx.id = 987654), 'id', '987654'],
    ['another merchantReference', (tx: any) => (tx.merchantReference = 'SOMEONEELSES01'), 'merchantReference', 'SOMEONEELSES01'],
  ])('a transaction read answering with %s: PROVIDER_UNAVAILABLE, logged, nothing changes', async (_what, tamper, field, answered) => {
    const { no, txId } = await order();
    await pay(no);
    tamper(emu.sandboxes.vr.transaction(space, txId));
    const before = await state();
    const r = await query(no);
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.error.message).toContain(`asked about ${field}`);
    expect(await state()).toBe(before);
    expect(emu.log.lines!.some((l) => l.includes('answered a query about another id') && l.includes(answered))).toBe(true);
  });

  it('a currency the vr section does not list is NOT_SUPPORTED before anything is written, naming the field', async () => {
    await useVr({ currencies: ['EUR', 'CHF'], vr: { ...base.vr, currencies: ['EUR'] } });
    try {
      await emu.put('orders', 'vr-biz-chf', { _openid: 'o-vr', amount: 100, status: 'unpaid' });
      const before = await state();
      const r = await emu.fn('pay', { action: 'unifiedorder', order_id: 'vr-biz-chf', pay_method: 'card', currency: 'CHF' }, { openid: 'o-vr' });
      expect(r.error.code).toBe('NOT_SUPPORTED');
      expect(r.error.message).toContain('config/payment.vr.currencies');
      expect(await state()).toBe(before);
    } finally {
      await useVr();
    }
  });

  it('refund_currency other than the order’s is NOT_SUPPORTED: VR Payment refunds only in the order’s currency', async () => {
    const { no } = await order();
    await pay(no);
    await query(no);
    await useVr({ refund_currency: 'CNY' });
    try {
      const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
      expect(r.error.code).toBe('NOT_SUPPORTED');
      expect(r.error.message).toContain("vr refunds only in the order's currency");
      expect(await emu.store.find('pay_refunds', { out_trade_no: no })).toHaveLength(0);
    } finally {
      await useVr();
    }
  });
});
