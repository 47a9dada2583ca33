import type { Cloud } from '../runtime/port';
import { ORDERS, type HookState, type PayOrder } from '../store/orders';
import type { PaymentConfig } from '../config/payment';

/** How long a hook run may take before another caller may take it over (the first one died). */
export const HOOK_LEASE_MS = 60_000;

/** What `on_paid` does once: mark the business order, then call the configured function. */
async function runOnPaid(cloud: Cloud, config: PaymentConfig, order: PayOrder): Promise<void> {
  const { set_status, call_function } = config.on_paid;
  if (set_status && order.business) {
    const updated = await cloud.store.update(order.business.collection, order.business.id, {}, {
      [config.order_fields.status]: set_status,
      paid_out_trade_no: order.out_trade_no,
    });
    // The cloud database counts only changed documents, so `false` may mean "already set": look before failing.
    if (!updated && !(await cloud.store.get(order.business.collection, order.business.id))) {
      throw new Error(`business order ${order.business.collection}/${order.business.id} no longer exists`);
    }
  }
  if (call_function) {
    const { _id, hooks, ...summary } = order;
    void _id;
    void hooks;
    const result = (await cloud.callFunction(call_function, { action: 'paid', order: summary })) as
      | { ok?: unknown; errcode?: unknown; error?: { message?: unknown } }
      | undefined;
    // A function that reports its own failure (this project's envelope, or WeChat's errcode style) has not done the work.
    if (result && (result.ok === false || (typeof result.errcode === 'number' && result.errcode !== 0))) {
      throw new Error(`${call_function} answered ${JSON.stringify(result).slice(0, 200)}`);
    }
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
  const claimed = await cloud.store.update(
    ORDERS,
    order._id,
    { 'hooks.on_paid.state': h.state, 'hooks.on_paid.attempts': h.attempts },
    { 'hooks.on_paid': { state: 'running', attempts: h.attempts + 1, lease_until: now + HOOK_LEASE_MS } },
  );
  if (!claimed) return 'running';
  const running = { 'hooks.on_paid.state': 'running', 'hooks.on_paid.attempts': h.attempts + 1 };
  try {
    await runOnPaid(cloud, config, order);
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
      'hooks.on_paid': { state: 'failed', attempts: h.attempts + 1, last_error: message },
    });
    return 'failed';
  }
}
