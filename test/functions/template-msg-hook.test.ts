/**
 * The payment hook's template step (`config/payment.on_paid.template`): once an order is paid, the
 * payment_reminder goes out through template-msg with the order's number, merchant, trade type, time and
 * amount. A failed send leaves the order PAID, and reconcile retries only the missing step; a retry never
 * delivers the message twice.
 */
import { DEMO_APPID, DEMO_MCHID } from '../../scripts/emulator/seed';
import { manualClock } from '../../shared/core/clock';
import { MSG_SENDS } from '../../shared/store/msg-sends';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let baseConfig: Record<string, any>;
let hookRuns = 0;
const TRUSTED = { source: 'wx_client,scf' };
const wx = () => emu.sandboxes['wechat-api'];
/** Moved by hand only past a 45009 back-off (until midnight China time). */
const clock = manualClock(Date.now());

beforeAll(async () => {
  emu = await testEmulator({
    clock,
    functions: {
      'paid-hook': async () => {
        hookRuns++;
        return { ok: true };
      },
    },
  });
  baseConfig = (await emu.db('config', 'payment'))!;
  await emu.put('config', 'payment', {
    ...baseConfig,
    on_paid: { set_status: 'paid', call_function: 'paid-hook', template: { merchant: 'Demo store', recipient_field: 'oa_openid' } },
  });
});
afterAll(() => emu.stop());
beforeEach(() => {
  hookRuns = 0;
});

let seq = 0;
/** A business order for `o-payer-N` whose official-account openid is `oaOpenid`, ordered and paid. */
async function paidOrder(oaOpenid: string | undefined, amount = 250) {
  const id = `hook-biz-${++seq}`;
  await emu.put('orders', id, { _openid: `o-payer-${seq}`, amount, status: 'unpaid', ...(oaOpenid ? { oa_openid: oaOpenid } : {}) });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: `o-payer-${seq}`, appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  const no = r.data.out_trade_no as string;
  const paid = await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: no, mch_id: DEMO_MCHID });
  expect(paid.status).toBe(200);
  return { id, no, order: await emu.db('pay_orders', no) };
}

/** The clock moves a second (reconcile takes what is older than now), then reconcile runs. */
const reconcile = () => {
  clock.advance(1000);
  return emu.fn('pay', { action: 'reconcile', spacing_ms: 0, older_than_minutes: 0 }, TRUSTED);
};

const chinaTime = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 16).replace('T', ' ');

it('sends payment_reminder with the order number, merchant, type, time and amount, once paid', async () => {
  const { id, no, order } = await paidOrder('o-oa-hook-1');
  expect(order).toMatchObject({ status: 'PAID', hooks: { on_paid: { state: 'done', attempts: 1 } } });
  expect(order.hooks.on_paid.steps_done).toBeUndefined();
  expect(await emu.db('orders', id)).toMatchObject({ status: 'paid' });
  expect(hookRuns).toBe(1);
  const sent = wx().messages.delivered('o-oa-hook-1');
  expect(sent).toHaveLength(1);
  expect(sent[0]).toMatchObject({
    template_id: 'demo-tpl-payment-reminder',
    data: { keyword1: no, keyword2: 'Demo store', keyword3: '微信支付', keyword4: chinaTime(order.paid_at), keyword5: '¥2.50' },
    miniprogram: { appid: DEMO_APPID, pagepath: 'pages/order/detail' },
  });
  const [rec] = await emu.store.find<any>(MSG_SENDS, { to: 'o-oa-hook-1' });
  expect(rec).toMatchObject({ status: 'sent', template: 'payment_reminder', sent_by: { source: expect.stringMatching(/scf$/) } });
});

it('a failed send leaves the order PAID; reconcile retries only the template step and it arrives once', async () => {
  wx().messages.force('o-oa-hook-2', 45009, 1);
  const { no, order } = await paidOrder('o-oa-hook-2');
  expect(order.status).toBe('PAID');
  expect(order.hooks.on_paid).toMatchObject({ state: 'failed', attempts: 1, steps_done: ['set_status', 'call_function'], last_error: expect.stringContaining('45009') });
  expect(wx().messages.delivered('o-oa-hook-2')).toEqual([]);
  expect(hookRuns).toBe(1);
  // The daily quota: payment_reminder backs off until midnight China time; a reconcile before then sends nothing.
  const [failed] = await emu.store.find<any>(MSG_SENDS, { to: 'o-oa-hook-2' });
  expect(failed).toMatchObject({ status: 'failed', retryable: true, retry_after: expect.any(Number) });
  await reconcile();
  expect((await emu.db('pay_orders', no)).hooks.on_paid).toMatchObject({ state: 'failed', attempts: 2, last_error: expect.stringContaining('45009') });
  expect(wx().messages.delivered('o-oa-hook-2')).toEqual([]);
  clock.advance(failed.retry_after - clock.now());

  const r = await reconcile();
  expect(r.ok).toBe(true);
  expect((await emu.db('pay_orders', no)).hooks.on_paid).toEqual({ state: 'done', attempts: 3 });
  expect(hookRuns).toBe(1); // call_function was done already: not called again
  expect(wx().messages.delivered('o-oa-hook-2')).toHaveLength(1);
  // The record of the message shows every attempt under one id.
  const recs = await emu.store.find<any>(MSG_SENDS, { to: 'o-oa-hook-2' });
  expect(recs).toHaveLength(1);
  expect(recs[0]).toMatchObject({ status: 'sent', attempts: 3 });

  // Another reconcile, or the hook run again by hand, sends nothing more.
  await reconcile();
  expect(wx().messages.delivered('o-oa-hook-2')).toHaveLength(1);
});

it('an edit of on_paid.template while the send is failed is sent under the same key, once', async () => {
  const to = 'o-oa-hook-edited';
  wx().messages.force(to, 45009, 1);
  const { no } = await paidOrder(to);
  const [failed] = await emu.store.find<any>(MSG_SENDS, { to });
  expect(failed).toMatchObject({ status: 'failed', error: { provider_code: '45009' }, data: { keyword2: 'Demo store' } });
  // The operator corrects the merchant's name meanwhile; nothing reached the user, so the new name is sent.
  const payment = (await emu.db('config', 'payment'))!;
  await emu.put('config', 'payment', { ...payment, on_paid: { ...payment.on_paid, template: { ...payment.on_paid.template, merchant: 'Demo store SH' } } });
  try {
    clock.advance(failed.retry_after - clock.now());
    await reconcile();
    expect((await emu.db('pay_orders', no)).hooks.on_paid).toEqual({ state: 'done', attempts: 2 });
    expect(wx().messages.delivered(to)).toEqual([expect.objectContaining({ data: expect.objectContaining({ keyword2: 'Demo store SH' }) })]);
    expect(await emu.db(MSG_SENDS, failed._id)).toMatchObject({ status: 'sent', attempts: 2, data: { keyword2: 'Demo store SH' } });
  } finally {
    await emu.put('config', 'payment', payment);
  }
});

it('a final refusal (the user does not follow) ends the step without undoing anything', async () => {
  wx().messages.force('o-oa-hook-3', 43004);
  const { order } = await paidOrder('o-oa-hook-3');
  expect(order).toMatchObject({ status: 'PAID', hooks: { on_paid: { state: 'done', attempts: 1 } } });
  expect(wx().messages.delivered('o-oa-hook-3')).toEqual([]);
  expect((await emu.store.find<any>(MSG_SENDS, { to: 'o-oa-hook-3' }))[0]).toMatchObject({ status: 'failed', retryable: false, error: { provider_code: '43004' } });
  wx().messages.force('o-oa-hook-3', 0);
});

it('a business order that names no recipient gets no message, and the payment completes', async () => {
  const before = wx().messages.delivered().length;
  const { order } = await paidOrder(undefined);
  expect(order).toMatchObject({ status: 'PAID', hooks: { on_paid: { state: 'done' } } });
  expect(wx().messages.delivered().length).toBe(before);
});

it('a refusal the operator can fix (40164, the IP whitelist) fails the step; reconcile sends it once fixed', async () => {
  const errcode = 40164;
  const to = 'o-oa-hook-whitelist';
  wx().messages.force(to, errcode, 1);
  const { no, order } = await paidOrder(to);
  expect(order).toMatchObject({ status: 'PAID', hooks: { on_paid: { state: 'failed', steps_done: ['set_status', 'call_function'], last_error: expect.stringContaining(String(errcode)) } } });
  expect(wx().messages.delivered(to)).toEqual([]);
  // The whitelist fixed, the next reconcile delivers it.
  await reconcile();
  expect((await emu.db('pay_orders', no)).hooks.on_paid).toEqual({ state: 'done', attempts: 2 });
  expect(wx().messages.delivered(to)).toHaveLength(1);
  expect(hookRuns).toBe(1);
});

it('on the UnionPay channel an openId UnionPay does not know (N62110) is final too: the step ends', async () => {
  const template = (await emu.db('config', 'template'))!;
  await emu.put('config', 'template', { ...template, templates: { ...template.templates, payment_reminder: { channel: 'unionpay', template_id: 'UPT-paid' } } });
  try {
    await emu.post('/sandbox/unionpay/msg-faults', { openId: 'up-hook-unknown', resp: 'N62110' });
    const { order } = await paidOrder('up-hook-unknown');
    expect(order).toMatchObject({ status: 'PAID', hooks: { on_paid: { state: 'done', attempts: 1 } } });
    expect((await emu.store.find<any>(MSG_SENDS, { to: 'up-hook-unknown' }))[0]).toMatchObject({ status: 'failed', retryable: false, error: { provider_code: 'N62110' } });
  } finally {
    await emu.put('config', 'template', template);
  }
});
