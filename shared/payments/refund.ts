import { AppError, conflict, forbidden, invalidInput, notFound, notSupported, providerUnavailable } from '../core/errors';
import type { Caller } from '../core/handler';
import { assertAmount } from '../core/money';
import type { Cloud, Filter } from '../runtime/port';
import type { LoadedPaymentConfig } from '../config/payment-load';
import { getOrder, refuseContractOrder, transition, type PayOrder } from '../store/orders';
import { FINAL_REFUND, getRefund, REFUNDS, type PayRefund } from '../store/refunds';
import { applyRefundReport, countOnOrder, settleRefundedOrder } from './apply';
import { paymentConfigs, providerContext } from './context';
import { orderWithConfig, ownOrder } from './query';
import { settledRefundAmount } from './settlement';
import { isPrivileged, refundView } from './view';
import type { PaymentProvider, ProviderCtx, RefundQueryInput } from '../providers/types';

export const OUT_REFUND_NO = /^[0-9A-Za-z_\-|*@]{1,64}$/;

export interface RefundRequest {
  out_trade_no: string;
  out_refund_no?: string;
  amount?: number;
  reason?: string;
}

/**
 * A REQUESTED refund the provider says it never got stays unresolved this long after its last send before
 * a query may release it (should it surface after all, its late success is still counted).
 */
export const RELEASE_UNSEEN_REFUND_AFTER_MS = 5 * 60_000;

/** Until when the refund's last send (or its creation) may still be on its way to the provider. */
const sendMayArriveUntil = (refund: PayRefund) => (refund.last_sent_at ?? refund.created_at) + RELEASE_UNSEEN_REFUND_AFTER_MS;

/**
 * Ends a refund the provider certainly does not hold (it refused the first send, or says it has no such
 * refund) and puts the order back. Only the caller that moves the record to REJECTED releases the order.
 */
async function release(cloud: Cloud, refund: PayRefund, reason: string) {
  const now = cloud.clock.now();
  const won = await cloud.store.update(REFUNDS, refund._id, { status: 'REQUESTED' }, {
    status: 'REJECTED',
    provider_error: reason.slice(0, 300),
    updated_at: now,
  });
  if (won) await settleRefundedOrder(cloud, { ...refund, status: 'REJECTED' });
}

/**
 * The currency a new refund is made in when it is not the order's: config refund_currency, where it differs
 * from the order's currency. Only an acquirer that refunds in the currency it settled the order in allows
 * that, and only for an order that recorded its settlement in that currency.
 */
function settlementRefundCurrency(loaded: LoadedPaymentConfig, provider: PaymentProvider<unknown>, order: PayOrder): string | undefined {
  const rc = loaded.config.refund_currency;
  if (!rc || rc === order.currency) return undefined;
  const field = `config/${loaded.id}.refund_currency`;
  if (!provider.refundsInSettlementCurrency) {
    throw notSupported(`${field} is ${rc} but order ${order.out_trade_no} is in ${order.currency}, and ${order.provider} refunds only in the order's currency; refund it at the acquirer, or remove refund_currency`);
  }
  if (order.settlement_currency !== rc || order.settlement_amount == null) {
    const recorded = order.settlement_currency ? `its settlement is recorded in ${order.settlement_currency}` : 'no settlement is recorded for it';
    throw conflict(`${field} is ${rc} but order ${order.out_trade_no} cannot be refunded in ${rc}: ${recorded}; set refund_currency to that currency or remove it`);
  }
  return rc;
}

/**
 * Starts a new refund: the record is written and the order locked in REFUNDING before the provider is asked.
 * Refunded in `settleIn` (the settlement currency), the record also holds that currency's exact share.
 */
async function startRefund(cloud: Cloud, caller: Caller, order: PayOrder, req: RefundRequest, settleIn?: string): Promise<PayRefund> {
  const remaining = order.amount - order.refunded_amount;
  const amount = req.amount === undefined ? remaining : assertAmount('amount', req.amount, Number.MAX_SAFE_INTEGER);
  if (amount > remaining) throw invalidInput(`amount ${amount} is more than the ${remaining} still refundable on order ${order.out_trade_no}`);
  let settled: PayRefund['settled'];
  if (settleIn) {
    settled = { amount: settledRefundAmount(order.amount, order.settlement_amount!, order.refunded_amount, amount), currency: settleIn };
    if (settled.amount === 0) throw invalidInput(`amount ${amount} ${order.currency} is worth 0 ${settleIn} at the order's settlement; refund more`);
  }
  const count = (await cloud.store.find<PayRefund>(REFUNDS, { out_trade_no: order.out_trade_no })).length;
  const outRefundNo = req.out_refund_no ?? `${order.out_trade_no}R${count + 1}`;
  if (!OUT_REFUND_NO.test(outRefundNo)) throw invalidInput('out_refund_no must be 1–64 letters, digits, or _ - | * @');

  const now = cloud.clock.now();
  const refund: PayRefund = {
    _id: outRefundNo,
    out_refund_no: outRefundNo,
    out_trade_no: order.out_trade_no,
    amount,
    currency: order.currency,
    status: 'REQUESTED',
    requested_by: caller.trusted ? caller.source : `admin:${caller.openid}`,
    created_at: now,
    updated_at: now,
  };
  if (req.reason) refund.reason = req.reason;
  if (settled) refund.settled = settled;
  if ((await cloud.store.insert(REFUNDS, outRefundNo, refund)) === 'exists') {
    throw conflict(`out_refund_no ${outRefundNo} is already used; query it with queryrefund`);
  }
  const locked = await transition(cloud.store, order, order.status, 'REFUNDING', { refunding: { out_refund_no: outRefundNo, amount } }, now, {
    refunded_amount: order.refunded_amount,
  });
  if (!locked) {
    await cloud.store.update(REFUNDS, outRefundNo, { status: 'REQUESTED' }, { status: 'REJECTED', provider_error: 'order changed meanwhile', updated_at: now });
    throw conflict(`order ${order.out_trade_no} changed meanwhile; query it and try again`);
  }
  return refund;
}

/** What a provider's refund query is told about the refund: its order, and what the order counted before it. */
function refundQueryInput(order: PayOrder, refund: PayRefund): RefundQueryInput {
  return {
    out_trade_no: order.out_trade_no,
    provider_trade_no: order.provider_trade_no ?? undefined,
    currency: refund.currency,
    // While this refund is in flight the order counts only the refunds before it.
    refunded_before: order.refunded_amount,
    created_at: refund.created_at,
  };
}

/**
 * Before a refund in flight is sent again to a provider whose refund call is not known to be idempotent
 * (`queryBeforeResend`): true when the provider says it never made it, so sending again cannot refund twice.
 * Otherwise its answer is applied (a made refund completes) and nothing is sent; an answer that does not
 * match the record leaves the refund in flight for a person.
 */
async function neverMade(cloud: Cloud, provider: PaymentProvider<unknown>, ctx: ProviderCtx<unknown>, order: PayOrder, refund: PayRefund): Promise<boolean> {
  const report = await provider.queryRefund(ctx, refund.out_refund_no, refundQueryInput(order, refund));
  if (report.state === 'NOT_FOUND') {
    // Not made yet is not never made while the last send may still be on its way (as for release in syncRefund).
    const sentAt = refund.last_sent_at ?? refund.created_at;
    const retryAfter = sendMayArriveUntil(refund);
    if (cloud.clock.now() <= retryAfter) {
      throw new AppError(
        'CONFLICT',
        `refund ${refund.out_refund_no} was last sent ${Math.round((cloud.clock.now() - sentAt) / 1000)} s ago without an answer and the provider does not show it yet: that send may still be made, so it is sent again only after ${new Date(retryAfter).toISOString()}`,
        undefined,
        { retryable: true, retry_after: retryAfter },
      );
    }
    return true;
  }
  const applied = await applyRefundReport(cloud, refund, report);
  if (applied.outcome === 'rejected') {
    cloud.log.error('refund query does not match the record', { out_refund_no: refund.out_refund_no, reason: applied.reason });
    throw providerUnavailable(`refund ${refund.out_refund_no} was not sent again: the provider's account of it does not match the record (${applied.reason}); it stays in flight, check it with the provider`);
  }
  return false;
}

/**
 * `refund` (trusted callers and admins only): one refund in flight per order. A retry with the same
 * out_refund_no (or none, while one is in flight) sends the same request again, as WeChat Pay requires.
 */
export async function refundPayment(cloud: Cloud, caller: Caller, req: RefundRequest) {
  const order = await getOrder(cloud.store, req.out_trade_no);
  if (!order) throw notFound(`no order ${req.out_trade_no}`);
  refuseContractOrder(order);
  const loaded = await paymentConfigs.byId(cloud.store, cloud.clock, order.config_id);
  if (!isPrivileged(caller, loaded.config)) {
    throw forbidden('refund is for other cloud functions, timers, and the openids in config/payment.admins');
  }
  const { provider, ctx } = providerContext(cloud, loaded, order.provider);

  let refund: PayRefund;
  let firstSend = false;
  const existing = req.out_refund_no ? await getRefund(cloud.store, req.out_refund_no) : null;
  if (order.status === 'REFUNDING' && order.refunding) {
    const inflight = order.refunding.out_refund_no;
    if (req.out_refund_no && req.out_refund_no !== inflight) {
      throw conflict(`refund ${inflight} of this order is still in progress; retry it with that out_refund_no or wait until it ends`);
    }
    refund = (await getRefund(cloud.store, inflight)) as PayRefund;
    if (req.amount !== undefined && req.amount !== refund.amount) {
      throw conflict(`refund ${inflight} is for ${refund.amount}; a retry must ask for the same amount`);
    }
    if (FINAL_REFUND.includes(refund.status)) {
      // Already ended (an earlier run stopped before releasing the order): finish that, never send it again.
      await settleRefundedOrder(cloud, refund);
      return refundView(refund);
    }
    if (provider.queryBeforeResend && !(await neverMade(cloud, provider, ctx, order, refund))) {
      return refundView((await getRefund(cloud.store, refund._id)) as PayRefund);
    }
  } else if (existing) {
    if (existing.out_trade_no !== order.out_trade_no || (req.amount !== undefined && req.amount !== existing.amount)) {
      throw conflict(`out_refund_no ${req.out_refund_no} is already used for another refund`);
    }
    return refundView(existing);
  } else if (order.status === 'PAID' || order.status === 'PARTIALLY_REFUNDED') {
    const cannot = provider.cannotRefund?.(ctx.config);
    if (cannot) throw notSupported(cannot);
    refund = await startRefund(cloud, caller, order, req, settlementRefundCurrency(loaded, provider, order));
    firstSend = true;
  } else {
    throw conflict(`order ${order.out_trade_no} is ${order.status}; only a paid order can be refunded`);
  }

  // When it was last sent: queryrefund may end a refund the provider never got only well after this. A resend
  // checked by neverMade is claimed on the send it saw, so two retries at once cannot both send it.
  const claimResend = !firstSend && provider.queryBeforeResend;
  const sentBefore: Filter = claimResend ? { last_sent_at: refund.last_sent_at ?? { $exists: false } } : {};
  const claimed = await cloud.store.update(REFUNDS, refund._id, sentBefore, { last_sent_at: cloud.clock.now() });
  if (claimResend && !claimed) throw conflict(`refund ${refund.out_refund_no} is being sent again by another call right now; query it with queryrefund`);
  try {
    const report = await provider.refund(ctx, {
      out_trade_no: order.out_trade_no,
      transaction_id: order.transaction_id ?? undefined,
      provider_trade_no: order.provider_trade_no ?? undefined,
      out_refund_no: refund.out_refund_no,
      total: order.amount,
      amount: refund.amount,
      currency: refund.currency,
      settled: refund.settled,
      reason: refund.reason,
    });
    await applyRefundReport(cloud, refund, report);
  } catch (err) {
    // A refusal of the first send ends the refund: the provider never took it. After a send with no answer
    // the provider may hold it, so a later refusal (or no answer) leaves it in flight for queryrefund.
    if (firstSend && err instanceof AppError && err.code !== 'PROVIDER_UNAVAILABLE') {
      await release(cloud, refund, `${err.providerCode ?? err.code}: ${err.message}`);
    }
    throw err;
  }
  return refundView((await getRefund(cloud.store, refund._id)) as PayRefund);
}

/**
 * Asks the provider about an unfinished refund and applies a final answer; a refund already final only
 * settles its order. Returns the refund as it then stands. No caller: `queryrefund` checks ownership first,
 * `reconcile` runs it for every open refund. `pinned` is the refund's order with its config, when known.
 */
export async function syncRefund(
  cloud: Cloud,
  refund: PayRefund,
  pinned?: { order: PayOrder; loaded: LoadedPaymentConfig },
): Promise<PayRefund> {
  const outRefundNo = refund.out_refund_no;
  if (FINAL_REFUND.includes(refund.status)) {
    // A late refund whose count on the order was left undone is finished here (reconcile, queryrefund).
    if (refund.late_counted === false) await countOnOrder(cloud, refund);
    await settleRefundedOrder(cloud, refund);
    return (await getRefund(cloud.store, outRefundNo)) ?? refund;
  }
  const { order, loaded } = pinned ?? (await orderWithConfig(cloud, refund.out_trade_no));
  const { provider, ctx } = providerContext(cloud, loaded, order.provider);
  const report = await provider.queryRefund(ctx, outRefundNo, refundQueryInput(order, refund));
  if (report.state === 'NOT_FOUND') {
    // Sent with no answer, and the provider never got it: safe to end, once no send can still be on its way.
    if (refund.status === 'REQUESTED' && cloud.clock.now() > sendMayArriveUntil(refund)) {
      await release(cloud, refund, 'the provider has no such refund');
    }
  } else {
    const applied = await applyRefundReport(cloud, refund, report);
    if (applied.outcome === 'rejected') cloud.log.error('refund query does not match the record', { out_refund_no: outRefundNo, reason: applied.reason });
  }
  return (await getRefund(cloud.store, outRefundNo)) ?? refund;
}

/** `queryrefund`: asks the provider about an unfinished refund and applies a final answer. */
export async function queryRefund(cloud: Cloud, caller: Caller, outRefundNo: string) {
  const refund = await getRefund(cloud.store, outRefundNo);
  if (!refund) throw notFound(`no refund ${outRefundNo}`);
  const pinned = await ownOrder(cloud, caller, refund.out_trade_no);
  return refundView(await syncRefund(cloud, refund, pinned));
}
