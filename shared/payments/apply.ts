import type { PaymentConfig } from '../config/payment';
import type { PaymentReport, RefundReport } from '../providers/types';
import type { Cloud } from '../runtime/port';
import type { EventOutcome } from '../store/events';
import { getOrder, ORDERS, transition, type MerchantIds, type PayOrder } from '../store/orders';
import { FINAL_REFUND, getRefund, REFUNDS, type PayRefund, type RefundStatus } from '../store/refunds';
import { runPaidHooks } from './hooks';
import { tradesOf } from './provider-query';
import { settlementAtPaid } from './settlement';

export interface Applied {
  outcome: EventOutcome;
  reason?: string;
  /** False when the order is paid but its paid hook has not completed: the notification should be redelivered. */
  settled: boolean;
  order?: PayOrder;
}

const MERCHANT_KEYS: (keyof MerchantIds)[] = ['appid', 'mchid', 'sub_mchid', 'sub_appid'];

/** The first merchant id that the order was created under and the report contradicts or omits. */
function merchantMismatch(order: PayOrder, reported: Partial<MerchantIds> | undefined): string | undefined {
  for (const k of MERCHANT_KEYS) {
    const want = order.merchant[k];
    if (!want) continue;
    const got = reported?.[k];
    // sub_appid is echoed only by some answers; the others must always be present and equal.
    if (got === undefined && k === 'sub_appid') continue;
    if (got !== want) return k;
  }
  return undefined;
}

/**
 * Applies what a provider said about a payment (a verified notification or a query) to the order, once:
 * PAID only when amount, currency and merchant ids match the order, by compare-and-set, and the winner alone
 * runs the paid hook. A mismatch is reported as 'rejected' and changes nothing.
 */
export async function applyPaymentReport(cloud: Cloud, config: PaymentConfig, order: PayOrder, report: PaymentReport): Promise<Applied> {
  const now = cloud.clock.now();
  if (report.out_trade_no !== order.out_trade_no) return { outcome: 'rejected', reason: 'out_trade_no differs', settled: false };
  // An order that stored the provider's trade ids (acquirers) accepts word only about one of them: an answer
  // about another trade proves nothing about this order, whatever order number it carries.
  const trades = tradesOf(order);
  if (report.provider_trade_no && order.provider_trade_nos?.length && !trades.includes(report.provider_trade_no)) {
    return { outcome: 'rejected', reason: `trade ${report.provider_trade_no} is not one this order opened`, settled: false };
  }

  if (report.state === 'PAID') {
    if (report.amount !== order.amount) {
      return { outcome: 'rejected', reason: `amount ${report.amount} differs from the order's ${order.amount}`, settled: false };
    }
    if ((report.currency ?? order.currency) !== order.currency) {
      return { outcome: 'rejected', reason: `currency ${report.currency} differs from the order's ${order.currency}`, settled: false };
    }
    const bad = merchantMismatch(order, report.merchant);
    if (bad) return { outcome: 'rejected', reason: `${bad} is not the order's merchant`, settled: false };

    const won = await transition(cloud.store, order, ['CREATED', 'CLOSED', 'FAILED'], 'PAID', {
      transaction_id: report.transaction_id ?? null,
      provider_trade_no: report.provider_trade_no ?? report.transaction_id ?? null,
      paid_amount: report.amount,
      paid_at: report.paid_at ?? now,
      ...settlementAtPaid(order, report.provider_trade_no, report.settlement),
    }, now);
    const current = (await getOrder(cloud.store, order._id)) ?? order;
    if (!won && (current.status === 'CREATED' || current.status === 'CLOSED' || current.status === 'FAILED')) {
      return { outcome: 'ignored', reason: `order is ${current.status}`, settled: false, order: current };
    }
    const hook = await runPaidHooks(cloud, config, current);
    return { outcome: won ? 'applied' : 'duplicate', settled: hook === 'done', order: (await getOrder(cloud.store, order._id)) ?? current };
  }

  if (report.state === 'FAILED' || report.state === 'CLOSED') {
    const won = await transition(cloud.store, order, 'CREATED', report.state, report.state === 'CLOSED' ? { closed_at: now } : {}, now);
    return { outcome: won ? 'applied' : 'duplicate', settled: true, order: (await getOrder(cloud.store, order._id)) ?? order };
  }
  return { outcome: 'ignored', reason: `provider state ${report.state}`, settled: true, order };
}

const REFUND_FINAL_STATE: Partial<Record<RefundReport['state'], RefundStatus>> = {
  SUCCESS: 'SUCCESS',
  CLOSED: 'CLOSED',
  ABNORMAL: 'ABNORMAL',
};

/**
 * Final refund states whose money has left the merchant. ABNORMAL (WeChat's CHANGE: the payer's card
 * refused the money, the merchant must re-route it by hand) counts too, so it can never be refunded again.
 */
const COUNTS_AS_REFUNDED: readonly RefundStatus[] = ['SUCCESS', 'ABNORMAL'];

/**
 * Moves the order out of REFUNDING once its refund in flight is final: refunded_amount grows by what the
 * refund took. Idempotent (compare-and-set on the refund in flight), so it also completes a run that stopped
 * between the refund record's move and this one.
 */
export async function settleRefundedOrder(cloud: Cloud, refund: PayRefund): Promise<boolean> {
  const order = await getOrder(cloud.store, refund.out_trade_no);
  if (!order || order.status !== 'REFUNDING' || order.refunding?.out_refund_no !== refund._id || !FINAL_REFUND.includes(refund.status)) {
    return false;
  }
  // A late refund (countOnOrder) is in refunded_amount already.
  const counts = COUNTS_AS_REFUNDED.includes(refund.status) && !(order.late_refunds ?? []).includes(refund._id);
  const refunded = order.refunded_amount + (counts ? refund.amount : 0);
  const to = refunded === 0 ? 'PAID' : refunded >= order.amount ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  return transition(cloud.store, order, 'REFUNDING', to, { refunded_amount: refunded, refunding: null }, cloud.clock.now(), {
    'refunding.out_refund_no': refund._id,
  });
}

/**
 * Applies a refund result (a verified notification or a query): a final state moves the refund record once
 * by compare-and-set, then the order leaves REFUNDING. A success must name the record's amount and order.
 */
export async function applyRefundReport(cloud: Cloud, refund: PayRefund, report: RefundReport): Promise<Applied> {
  const now = cloud.clock.now();
  if (report.out_trade_no && report.out_trade_no !== refund.out_trade_no) {
    return { outcome: 'rejected', reason: 'out_trade_no differs from the refund record', settled: false };
  }
  const final = REFUND_FINAL_STATE[report.state];
  if (!final) {
    if (report.state === 'PROCESSING' && refund.status === 'REQUESTED') {
      await cloud.store.update(REFUNDS, refund._id, { status: 'REQUESTED' }, { status: 'PROCESSING', refund_id: report.refund_id ?? null, updated_at: now });
    }
    return { outcome: 'ignored', reason: `refund state ${report.state}`, settled: true };
  }
  if (final !== 'CLOSED') {
    // A refund made in the settlement currency is reported in it: its amount is the settled one.
    const inSettlement = !!report.currency && report.currency !== refund.currency && report.currency === refund.settled?.currency;
    const want = inSettlement ? refund.settled!.amount : refund.amount;
    const currency = inSettlement ? report.currency! : refund.currency;
    if ((report.currency ?? refund.currency) !== currency || report.amount !== want) {
      const got = `${report.amount} ${report.currency ?? refund.currency}`;
      return { outcome: 'rejected', reason: `refund amount ${got} differs from the request's ${want} ${currency}`, settled: false };
    }
  }
  const order = await getOrder(cloud.store, refund.out_trade_no);
  if (!order) return { outcome: 'rejected', reason: 'the refund names an order that does not exist', settled: false };
  if (report.merchant && merchantMismatch(order, { ...order.merchant, ...report.merchant })) {
    return { outcome: 'rejected', reason: 'merchant ids differ from the order', settled: false };
  }

  if (ENDED_UNMADE.includes(refund.status) && COUNTS_AS_REFUNDED.includes(final)) return countLateRefund(cloud, refund, final);
  // A late refund whose count on the order an earlier delivery did not finish (an error, or the order kept changing).
  if (refund.late_counted === false) return countOnOrder(cloud, refund);

  const wonRefund =
    !FINAL_REFUND.includes(refund.status) &&
    (await cloud.store.update(REFUNDS, refund._id, { status: { $in: ['REQUESTED', 'PROCESSING'] } }, {
      status: final,
      refund_id: report.refund_id ?? refund.refund_id ?? null,
      finished_at: report.finished_at ?? now,
      updated_at: now,
    }));
  if (wonRefund && final === 'ABNORMAL') {
    cloud.log.error('refund ABNORMAL: the payer could not receive it; re-route it by hand on the merchant platform', {
      out_refund_no: refund._id,
      out_trade_no: refund.out_trade_no,
    });
  }
  const settledRefund = (await getRefund(cloud.store, refund._id)) ?? refund;
  if (!FINAL_REFUND.includes(settledRefund.status)) return { outcome: 'ignored', settled: false };
  const wonOrder = await settleRefundedOrder(cloud, settledRefund);
  return { outcome: wonRefund || wonOrder ? 'applied' : 'duplicate', settled: true, order: (await getOrder(cloud.store, order._id)) ?? order };
}

/**
 * Final states of a refund whose amount the order gave back: never received (released after a send with no
 * answer), or reported failed (an acquirer may list a failed try and later make the refund under the same number).
 */
const ENDED_UNMADE: readonly RefundStatus[] = ['REJECTED', 'CLOSED'];

/**
 * The provider reports done a refund that was ended here as not made (ENDED_UNMADE). The money did leave: the
 * record takes the provider's state (marked `late_counted: false`) and then the order counts the amount
 * (countOnOrder). Should that second write not happen (an error, or the order kept changing), the next
 * delivery or queryrefund finishes it, so the order never shows the amount as still refundable.
 */
async function countLateRefund(cloud: Cloud, refund: PayRefund, final: RefundStatus): Promise<Applied> {
  const now = cloud.clock.now();
  const late = { status: final, finished_at: now, updated_at: now, late: true, late_counted: false };
  const won = await cloud.store.update(REFUNDS, refund._id, { status: refund.status }, late);
  if (!won) return { outcome: 'duplicate', settled: true };
  cloud.log.error(`a refund ended here as ${refund.status} was completed by the provider; its amount is now counted`, {
    out_refund_no: refund._id,
    out_trade_no: refund.out_trade_no,
  });
  return countOnOrder(cloud, { ...refund, ...late });
}

/**
 * Adds a late refund's amount to its order, once: by compare-and-set on what the order had counted, and the
 * order lists it in `late_refunds`, so a run that stopped before marking the refund counted never adds it twice.
 */
export async function countOnOrder(cloud: Cloud, refund: PayRefund): Promise<Applied> {
  const now = cloud.clock.now();
  const counted = () => cloud.store.update(REFUNDS, refund._id, { late_counted: false }, { late_counted: true });
  for (let i = 0; i < 5; i++) {
    const order = await getOrder(cloud.store, refund.out_trade_no);
    if (!order) break;
    const listed = order.late_refunds ?? [];
    if (listed.includes(refund._id)) {
      await counted();
      return { outcome: 'duplicate', settled: true, order };
    }
    const refunded = order.refunded_amount + refund.amount;
    const patch: Record<string, unknown> = { refunded_amount: refunded, late_refunds: [...listed, refund._id], updated_at: now };
    // A refund in flight keeps the order REFUNDING; it settles from the new count later.
    if (order.status !== 'REFUNDING') patch.status = refunded >= order.amount ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    if (await cloud.store.update(ORDERS, order._id, { status: order.status, refunded_amount: order.refunded_amount }, patch)) {
      await counted();
      return { outcome: 'applied', settled: true, order: (await getOrder(cloud.store, order._id)) ?? order };
    }
  }
  return { outcome: 'failed', reason: 'the order kept changing; the next delivery counts the refund', settled: false };
}
