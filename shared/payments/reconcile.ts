import { AppError, forbidden } from '../core/errors';
import { toAppError, type Caller } from '../core/handler';
import type { Cloud, Condition, Filter } from '../runtime/port';
import { CONTRACT_PROVIDER, ORDERS, type OrderStatus, type PayOrder } from '../store/orders';
import { FINAL_REFUND, getRefund, REFUNDS, type PayRefund } from '../store/refunds';
import { applyPaymentReport, settleRefundedOrder } from './apply';
import { queryOrderAtProvider } from './provider-query';
import { paymentConfigs, providerContext } from './context';
import { runPaidHooks } from './hooks';
import { CLOSE_AFTER_MS, closeAtProvider } from './query';
import { syncRefund } from './refund';
import { sharedCache } from '../store/shared-cache';

/** The cloud database answers at most 100 documents per `get()` (protocols/wx-server-sdk.md §2.4). */
export const PAGE_SIZE = 100;
export const DEFAULT_OLDER_THAN_MINUTES = 5;
/** Pause between two provider queries, so a backlog never bursts into the provider's rate limits. */
export const DEFAULT_SPACING_MS = 200;

export interface ReconcileInput {
  /** Documents younger than this are left to their notification (default 5). */
  older_than_minutes?: number;
  /** Wall-clock time after which no new work starts; what is left waits for the next run. */
  budget_ms: number;
  /** Pause between provider queries (default 200). */
  spacing_ms?: number;
}

/** The steps of a run, in the order they run. */
export const STEPS = ['payments', 'refunds', 'hooks', 'settlements'] as const;
export type StepName = (typeof STEPS)[number];

export interface StepCounts {
  /** Documents looked at. */
  examined: number;
  /** Documents whose state this run moved (an order paid or closed, a refund ended, a hook done, an order settled). */
  changed: number;
  /** Documents that could not be handled (provider unavailable, config missing or invalid, a mismatch, a hook that failed again). */
  failed: number;
}

export interface ReconcileSummary {
  steps: Record<StepName, StepCounts>;
  stopped_early: boolean;
  elapsed_ms: number;
  /** When the budget ran out: where the run stopped; the next run starts over from the oldest documents. */
  next?: {
    step: StepName;
    /** The documents reached in that step, by the field the step pages on. */
    after?: { field: 'created_at' | 'updated_at'; value: number };
    /** Steps that did not finish in this run, the current one first. */
    steps_left: StepName[];
  };
}

const HOOK_STATUSES: OrderStatus[] = ['PAID', 'REFUNDING', 'PARTIALLY_REFUNDED', 'REFUNDED'];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Outcome = 'changed' | 'unchanged' | 'failed' | 'skipped';

interface Paged {
  _id: string;
  created_at: number;
  updated_at: number;
}

/**
 * `reconcile` (the timer trigger, or another cloud function): makes the store agree with the providers for
 * everything a notification should have settled and did not. In order, each from the oldest document:
 *   1. payments: orders still CREATED past the threshold are queried through their own provider and config
 *      and the answer applied as a notification would be; an expired one is closed there and here.
 *   2. refunds: refunds REQUESTED or PROCESSING past the threshold get what `queryrefund` does.
 *   3. hooks: paid orders whose paid hook is pending, failed, or running with a lapsed lease get it run.
 *   4. settlements: orders still REFUNDING although their refund in flight has ended are settled.
 * Pages 100 documents at a time on a `created_at` / `updated_at` cursor; spaces provider queries and never
 * queries one document twice in a run; starts no new work once `budget_ms` of wall time is spent (every
 * change is a compare-and-set, so what was done stays done and the next run takes up the rest). One
 * document's failure is logged and counted and never stops the run.
 */
export async function reconcile(cloud: Cloud, caller: Caller, input: ReconcileInput): Promise<ReconcileSummary> {
  if (!caller.trusted) {
    throw forbidden('reconcile runs from its timer trigger or from another cloud function (SOURCE wx_trigger, or ending in scf); a client may not call it');
  }
  // The budget is wall time (the function's timeout is); document ages are on the cloud clock, as their stamps.
  const startedAt = Date.now();
  const deadline = startedAt + input.budget_ms;
  const spacing = input.spacing_ms ?? DEFAULT_SPACING_MS;
  const now = cloud.clock.now();
  const before = now - (input.older_than_minutes ?? DEFAULT_OLDER_THAN_MINUTES) * 60_000;

  const steps = Object.fromEntries(STEPS.map((s) => [s, { examined: 0, changed: 0, failed: 0 }])) as Record<StepName, StepCounts>;
  const summary: ReconcileSummary = { steps, stopped_early: false, elapsed_ms: 0 };
  /** Provider queries made in this run: one per order or refund at most. */
  const queried = new Set<string>();
  const cache = sharedCache(cloud.store, cloud.clock);
  /** Orders step 1 handled in this run (a payment it applied has had its paid hook run already). */
  const handledHere = new Set<string>();
  let lastQueryEnd: number | undefined;

  /** Each step's own deadline: an equal share of what is left, so one step's backlog cannot starve the others. */
  let stepDeadline = deadline;
  const spent = () => Date.now() >= stepDeadline;

  /** Waits out the spacing before the next provider query; false when that would cross the budget. */
  async function pace(): Promise<boolean> {
    const wait = lastQueryEnd === undefined ? 0 : lastQueryEnd + spacing - Date.now();
    if (Date.now() + Math.max(wait, 0) >= stepDeadline) return false;
    if (wait > 0) await sleep(wait);
    return true;
  }

  async function handle(step: StepName, id: string, work: () => Promise<Outcome>) {
    let outcome: Outcome;
    try {
      outcome = await work();
    } catch (err) {
      const e = toAppError(err, `pay.reconcile ${step} ${id}`, cloud);
      cloud.log[e.code === 'PROVIDER_UNAVAILABLE' ? 'warn' : 'error'](`reconcile: ${step} ${id} failed; the next run tries again`, {
        step,
        id,
        code: e.code,
        error: e.message,
      });
      outcome = 'failed';
    }
    if (outcome === 'skipped') return;
    steps[step].examined++;
    if (outcome === 'changed') steps[step].changed++;
    if (outcome === 'failed') steps[step].failed++;
  }

  /**
   * Visits the documents of `where` older than `before` on `field`, oldest first, 100 per page. The cursor
   * is `field >= last value` minus the ids already seen at that value (timestamps can tie, so a plain `$gt`
   * could skip documents across a page boundary). Returns false when the budget stopped it.
   */
  async function scan<T extends Paged>(
    step: StepName,
    coll: string,
    where: Filter,
    field: 'created_at' | 'updated_at',
    queries: boolean,
    visit: (doc: T) => Promise<Outcome>,
  ): Promise<boolean> {
    // Resume where the last run's share ran out, so the oldest documents cannot hold the rest back forever.
    const saved = (await cache.get<{ value?: number; ids?: string[] }>(`reconcile:${step}`))?.value ?? {};
    let cursor: number | undefined = saved.value;
    let atCursor: string[] = saved.ids ?? [];
    const stop = async () => {
      summary.stopped_early = true;
      summary.next ??= { step, steps_left: STEPS.slice(STEPS.indexOf(step)) };
      if (cursor !== undefined && summary.next.step === step) summary.next.after = { field, value: cursor };
      await cache.put(`reconcile:${step}`, { value: cursor, ids: atCursor });
      return false;
    };
    const finish = async () => {
      if (saved.value !== undefined || cursor !== undefined) await cache.put(`reconcile:${step}`, {});
      return true;
    };
    for (;;) {
      if (spent()) return stop();
      const bound: Condition = cursor === undefined ? { $lt: before } : { $gte: cursor };
      const page = await cloud.store.find<T>(coll, { ...where, [field]: bound, ...(atCursor.length ? { _id: { $nin: atCursor } } : {}) }, {
        limit: PAGE_SIZE,
        orderBy: [field, 'asc'],
      });
      for (const doc of page) {
        const at = doc[field];
        if (typeof at !== 'number' || at >= before) return finish();
        if (spent() || (queries && !(await pace()))) return stop();
        if (at !== cursor) {
          cursor = at;
          atCursor = [];
        }
        atCursor.push(doc._id);
        await handle(step, doc._id, () => visit(doc));
        if (queries) lastQueryEnd = Date.now();
      }
      if (page.length < PAGE_SIZE) return finish();
    }
  }

  const run: Record<StepName, () => Promise<boolean>> = {
    payments: () =>
      scan<PayOrder>('payments', ORDERS, { status: 'CREATED', provider: { $ne: CONTRACT_PROVIDER } }, 'created_at', true, async (order) => {
        if (queried.has(order._id)) return 'skipped';
        queried.add(order._id);
        const loaded = await paymentConfigs.byId(cloud.store, cloud.clock, order.config_id);
        const at = cloud.clock.now();
        if (order.expires_at <= at && at - order.created_at >= CLOSE_AFTER_MS) {
          // Closed at the provider first: paid meanwhile, it is applied as paid instead.
          const after = await closeAtProvider(cloud, loaded, order, ' (expired)');
          handledHere.add(order._id);
          return after.status === order.status ? 'unchanged' : 'changed';
        }
        const { provider, ctx } = providerContext(cloud, loaded, order.provider);
        const applied = await applyPaymentReport(cloud, loaded.config, order, await queryOrderAtProvider(provider, ctx, order));
        if (applied.outcome === 'rejected') {
          cloud.log.error('reconcile: the provider reports a payment that does not match the order', { out_trade_no: order.out_trade_no, reason: applied.reason });
          return 'failed';
        }
        handledHere.add(order._id);
        return applied.outcome === 'applied' ? 'changed' : 'unchanged';
      }),

    refunds: () =>
      scan<PayRefund>('refunds', REFUNDS, { status: { $in: ['REQUESTED', 'PROCESSING'] } }, 'created_at', true, async (refund) => {
        const key = `refund:${refund._id}`;
        if (queried.has(key)) return 'skipped';
        queried.add(key);
        try {
          const after = await syncRefund(cloud, refund);
          return after.status === refund.status ? 'unchanged' : 'changed';
        } catch (err) {
          // A provider with no refund query (its refunds end by notification, or by hand): nothing to ask.
          if (err instanceof AppError && err.code === 'NOT_SUPPORTED') return 'unchanged';
          throw err;
        }
      }),

    hooks: () =>
      scan<PayOrder>(
        'hooks',
        ORDERS,
        { status: { $in: HOOK_STATUSES }, 'hooks.on_paid.state': { $in: ['pending', 'failed', 'running'] }, provider: { $ne: CONTRACT_PROVIDER } },
        'updated_at',
        false,
        async (order) => {
          const h = order.hooks.on_paid;
          if (handledHere.has(order._id) || h.state === 'done') return 'skipped';
          if (h.state === 'running' && (h.lease_until ?? 0) > cloud.clock.now()) return 'unchanged'; // its runner is still on it
          const loaded = await paymentConfigs.byId(cloud.store, cloud.clock, order.config_id);
          const state = await runPaidHooks(cloud, loaded.config, order);
          return state === 'done' ? 'changed' : state === 'failed' ? 'failed' : 'unchanged';
        },
      ),

    settlements: () =>
      scan<PayOrder>('settlements', ORDERS, { status: 'REFUNDING', provider: { $ne: CONTRACT_PROVIDER } }, 'updated_at', false, async (order) => {
        const no = order.refunding?.out_refund_no;
        const refund = no ? await getRefund(cloud.store, no) : null;
        if (!refund) {
          cloud.log.error('reconcile: an order is REFUNDING without a refund record in flight; look at it by hand', { out_trade_no: order.out_trade_no, out_refund_no: no ?? null });
          return 'failed';
        }
        // A refund still open is the refunds step's: it ends there and settles the order then.
        if (!FINAL_REFUND.includes(refund.status)) return 'unchanged';
        return (await settleRefundedOrder(cloud, refund)) ? 'changed' : 'unchanged';
      }),
  };

  for (const [i, step] of STEPS.entries()) {
    // An equal share of what is left; a step that ends early leaves its time to those after it.
    stepDeadline = Date.now() + Math.max(deadline - Date.now(), 0) / (STEPS.length - i);
    await run[step]();
  }

  summary.elapsed_ms = Date.now() - startedAt;
  const counts = STEPS.map((s) => `${s} ${steps[s].examined}/${steps[s].changed}/${steps[s].failed}`).join(', ');
  const tail = summary.next ? `; budget spent in ${summary.next.step}, the rest is left for the next run` : '';
  cloud.log.info(`reconcile: ${counts} (examined/changed/failed) in ${summary.elapsed_ms} ms${tail}`, {
    stopped_early: summary.stopped_early,
    steps,
  });
  return summary;
}
