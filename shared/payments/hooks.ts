import type { Cloud } from '../runtime/port';
import { ORDERS, type HookState, type PayOrder } from '../store/orders';
import type { PaymentConfig } from '../config/payment';

/** How long a hook run may take before another caller may take it over (the first one died). */
export const HOOK_LEASE_MS = 60_000;

type OnPaid = PaymentConfig['on_paid'];
/** The steps of `on_paid`, in order; each is recorded in `steps_done` when it completes, so a re-run does only the rest. */
const HOOK_STEPS = ['set_status', 'call_function', 'template'] as const;
type HookStep = (typeof HOOK_STEPS)[number];

/** Marks the business order paid. */
async function setStatus(cloud: Cloud, config: PaymentConfig, order: PayOrder, status: string): Promise<void> {
  if (!order.business) return;
  const updated = await cloud.store.update(order.business.collection, order.business.id, {}, {
    [config.order_fields.status]: status,
    paid_out_trade_no: order.out_trade_no,
  });
  // The cloud database counts only changed documents, so `false` may mean "already set": look before failing.
  if (!updated && !(await cloud.store.get(order.business.collection, order.business.id))) {
    throw new Error(`business order ${order.business.collection}/${order.business.id} no longer exists`);
  }
}

/** Calls the configured function with the order. */
async function callFunction(cloud: Cloud, name: string, order: PayOrder): Promise<void> {
  const { _id, hooks, ...summary } = order;
  void _id;
  void hooks;
  const result = (await cloud.callFunction(name, { action: 'paid', order: summary })) as
    | { ok?: unknown; errcode?: unknown; error?: { message?: unknown } }
    | undefined;
  // A function that reports its own failure (this project's envelope, or WeChat's errcode style) has not done the work.
  if (result && (result.ok === false || (typeof result.errcode === 'number' && result.errcode !== 0))) {
    throw new Error(`${name} answered ${JSON.stringify(result).slice(0, 200)}`);
  }
}

/**
 * Refusals no retry of this message can overcome: the user's own choices (43101, 43004, 43019), an openid
 * that is not the account's (WeChat 40003, UnionPay N62110), a value WeChat refuses (47003; the idempotency
 * key binds the values).
 */
const FINAL_REFUSALS = ['43101', '43004', '43019', '40003', 'N62110', '47003'];

/**
 * Sends the paid template (payment_reminder by default) through the template-msg function, as a one-item
 * `send_batch` so the answer says what was refused. The idempotency key is the order's: a re-run never
 * delivers the message twice. A final refusal (FINAL_REFUSALS) ends the step. Anything else fails the step,
 * for reconcile to retry once the cause is fixed: the IP whitelist (40164), the template id, the token
 * service's quota, WeChat not answering.
 */
async function sendTemplate(cloud: Cloud, t: NonNullable<OnPaid['template']>, order: PayOrder): Promise<void> {
  let to: string = order.payer_openid;
  if (t.recipient_field) {
    const doc = order.business ? await cloud.store.get<Record<string, unknown>>(order.business.collection, order.business.id) : null;
    const v = doc?.[t.recipient_field];
    if (typeof v !== 'string' || !v) {
      cloud.log.warn('on_paid.template: the business order names no recipient; no message sent', { out_trade_no: order.out_trade_no, field: t.recipient_field });
      return;
    }
    to = v;
  }
  const item = {
    template: t.name,
    to,
    values: {
      order_no: order.out_trade_no,
      merchant: t.merchant ?? order.merchant.sub_mchid ?? order.merchant.mchid ?? order.provider,
      trade_type: t.trade_type ?? (!order.pay_method || order.pay_method === 'wechat' ? '微信支付' : order.pay_method),
      paid_at: order.paid_at ?? order.updated_at,
      amount: { amount: order.paid_amount ?? order.amount, currency: order.currency },
    },
    idempotency_key: `on_paid:${order.out_trade_no}`,
  };
  type Item = { ok?: boolean; error?: { code?: string; provider_code?: string; message?: string } };
  const result = (await cloud.callFunction(t.function, { action: 'send_batch', items: [item] })) as { ok?: boolean; data?: { results?: Item[] }; error?: unknown } | undefined;
  const r = result?.data?.results?.[0];
  if (result?.ok === true && r?.ok === true) return;
  if (r?.error?.code === 'PROVIDER_REJECTED' && FINAL_REFUSALS.includes(String(r.error.provider_code))) {
    cloud.log.warn('on_paid.template: the message was refused for good; not retried', { out_trade_no: order.out_trade_no, error: r.error.message });
    return;
  }
  throw new Error(`${t.function} did not send ${t.name}: ${JSON.stringify(r?.error ?? result?.error ?? result).slice(0, 200)}`);
}

/** Runs the configured steps not yet done, recording each as it completes. */
async function runOnPaid(cloud: Cloud, config: PaymentConfig, order: PayOrder, done: string[], record: (step: HookStep) => Promise<void>): Promise<void> {
  const { set_status, call_function, template } = config.on_paid;
  const run: Record<HookStep, (() => Promise<void>) | undefined> = {
    set_status: set_status ? () => setStatus(cloud, config, order, set_status) : undefined,
    call_function: call_function ? () => callFunction(cloud, call_function, order) : undefined,
    template: template ? () => sendTemplate(cloud, template, order) : undefined,
  };
  for (const step of HOOK_STEPS) {
    const fn = run[step];
    if (!fn || done.includes(step)) continue;
    await fn();
    await record(step);
  }
}

/**
 * Runs the paid hook if nobody has, or if it failed before, or if its runner's lease ran out. The run is
 * claimed by compare-and-set on the hook state, so however many callers arrive at once, one runs it.
 * Returns the hook's state afterwards ('running' when another caller holds it).
 */
export async function runPaidHooks(cloud: Cloud, config: PaymentConfig, order: PayOrder): Promise<HookState['state']> {
  const h = order.hooks.on_paid;
  const now = cloud.clock.now();
  if (h.state === 'done') return 'done';
  if (h.state === 'running' && (h.lease_until ?? 0) > now) return 'running';
  const done = [...(h.steps_done ?? [])];
  // steps_done rides along only while some steps are done and others are not.
  const steps = () => (done.length ? { steps_done: [...done] } : {});
  const claimed = await cloud.store.update(
    ORDERS,
    order._id,
    { 'hooks.on_paid.state': h.state, 'hooks.on_paid.attempts': h.attempts },
    { 'hooks.on_paid': { state: 'running', attempts: h.attempts + 1, lease_until: now + HOOK_LEASE_MS, ...steps() } },
  );
  if (!claimed) return 'running';
  const running = { 'hooks.on_paid.state': 'running', 'hooks.on_paid.attempts': h.attempts + 1 };
  const record = async (step: string) => {
    done.push(step);
    await cloud.store.update(ORDERS, order._id, running, { 'hooks.on_paid.steps_done': [...done] });
  };
  try {
    await runOnPaid(cloud, config, order, done, record);
    await cloud.store.update(ORDERS, order._id, running, { 'hooks.on_paid': { state: 'done', attempts: h.attempts + 1 } });
    return 'done';
  } catch (err) {
    const message = String((err as Error)?.message ?? err).slice(0, 300);
    cloud.log.error('on_paid hook failed; it will run again on the next notification or query', {
      out_trade_no: order.out_trade_no,
      attempt: h.attempts + 1,
      error: message,
    });
    await cloud.store.update(ORDERS, order._id, running, {
      'hooks.on_paid': { state: 'failed', attempts: h.attempts + 1, last_error: message, ...steps() },
    });
    return 'failed';
  }
}
