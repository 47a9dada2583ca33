import type { DocStore } from '../runtime/port';

export const REFUNDS = 'pay_refunds';

/** REQUESTED: written, provider not yet answered; PROCESSING: accepted by the provider, not final. */
export type RefundStatus = 'REQUESTED' | 'PROCESSING' | 'SUCCESS' | 'CLOSED' | 'ABNORMAL' | 'REJECTED';

export const FINAL_REFUND: readonly RefundStatus[] = ['SUCCESS', 'CLOSED', 'ABNORMAL', 'REJECTED'];

export interface PayRefund {
  _id: string;
  out_refund_no: string;
  out_trade_no: string;
  amount: number;
  currency: string;
  /** The same refund in the order's settlement currency, when it is refunded in that (config refund_currency). */
  settled?: { amount: number; currency: string };
  reason?: string;
  status: RefundStatus;
  refund_id?: string;
  provider_error?: string;
  requested_by: string;
  created_at: number;
  updated_at: number;
  last_sent_at?: number;
  finished_at?: number;
  /** Ended here as not made, then reported made by the provider (apply.ts countLateRefund). */
  late?: boolean;
  /** For a late refund: whether its order counts its amount yet (false until that write is done). */
  late_counted?: boolean;
}

export const getRefund = (store: DocStore, outRefundNo: string) => store.get<PayRefund>(REFUNDS, outRefundNo);
