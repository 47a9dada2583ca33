import type { PaymentReport, RefundReport } from './types';

/** WeChat Pay's `trade_state`, the same in v2, v3 and cloudPay. */
const TRADE_STATE: Record<string, PaymentReport['state']> = {
  SUCCESS: 'PAID',
  REFUND: 'PAID', // paid, then (partly) refunded: refunds are tracked on their own
  NOTPAY: 'PENDING',
  USERPAYING: 'PENDING',
  CLOSED: 'CLOSED',
  REVOKED: 'CLOSED',
  PAYERROR: 'FAILED',
};

/** A trade state in domain terms; one WeChat added later (e.g. ACCEPT) counts as not settled yet. */
export const paymentState = (tradeState: string | undefined): PaymentReport['state'] => TRADE_STATE[tradeState ?? ''] ?? 'PENDING';

/** v2 and cloudPay `refund_status` (v3 names its states as our domain does). */
const REFUND_STATUS: Record<string, RefundReport['state']> = {
  SUCCESS: 'SUCCESS',
  PROCESSING: 'PROCESSING',
  REFUNDCLOSE: 'CLOSED',
  CHANGE: 'ABNORMAL',
};

export const refundState = (status: string | undefined): RefundReport['state'] => REFUND_STATUS[status ?? ''] ?? 'PROCESSING';
