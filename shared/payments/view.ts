import type { PayOrder } from '../store/orders';
import type { PayRefund } from '../store/refunds';
import { forbidden } from '../core/errors';
import type { Caller } from '../core/handler';
import type { PaymentConfig } from '../config/payment';

/** What a caller sees of an order: no merchant ids, no hook internals. */
export function orderView(o: PayOrder) {
  return {
    out_trade_no: o.out_trade_no,
    status: o.status,
    amount: o.amount,
    currency: o.currency,
    pay_method: o.pay_method ?? 'wechat',
    provider: o.provider,
    transaction_id: o.transaction_id ?? null,
    refunded_amount: o.refunded_amount,
    created_at: o.created_at,
    paid_at: o.paid_at ?? null,
    expires_at: o.expires_at,
    // Only where an acquirer settles in another currency (YabandPay).
    ...(o.settlement_currency ? { settlement_amount: o.settlement_amount, settlement_currency: o.settlement_currency, exchange_rate: o.exchange_rate ?? null } : {}),
  };
}

export function refundView(r: PayRefund) {
  return {
    out_refund_no: r.out_refund_no,
    out_trade_no: r.out_trade_no,
    status: r.status,
    amount: r.amount,
    currency: r.currency,
    ...(r.settled ? { settled_amount: r.settled.amount, settled_currency: r.settled.currency } : {}),
    refund_id: r.refund_id ?? null,
    created_at: r.created_at,
    finished_at: r.finished_at ?? null,
  };
}

/** Trusted callers (another function, a timer) and the config's admins may act on any order. */
export function isPrivileged(caller: Caller, config: PaymentConfig): boolean {
  return caller.trusted || (!!caller.openid && config.admins.includes(caller.openid));
}

/** FORBIDDEN unless the caller paid this order or is privileged under the order's own config. */
export function assertOwn(order: PayOrder, caller: Caller, config: PaymentConfig): void {
  if (!isPrivileged(caller, config) && order.payer_openid !== caller.openid) {
    throw forbidden(`order ${order.out_trade_no} belongs to another user`);
  }
}
