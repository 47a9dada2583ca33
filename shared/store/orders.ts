import { notSupported } from '../core/errors';
import type { DocStore, Filter, Patch } from '../runtime/port';
import type { ProviderId } from '../config/payment';

export const ORDERS = 'pay_orders';

export type OrderStatus = 'CREATED' | 'PAID' | 'CLOSED' | 'FAILED' | 'REFUNDING' | 'REFUNDED' | 'PARTIALLY_REFUNDED';

/** The status machine (DESIGN.md §6): every allowed move. */
const MOVES: Record<OrderStatus, readonly OrderStatus[]> = {
  CREATED: ['PAID', 'CLOSED', 'FAILED'],
  // A late success for an order we closed or saw fail is still money taken: it is applied, never lost.
  CLOSED: ['PAID'],
  FAILED: ['PAID'],
  PAID: ['REFUNDING'],
  PARTIALLY_REFUNDED: ['REFUNDING'],
  REFUNDING: ['REFUNDED', 'PARTIALLY_REFUNDED', 'PAID'],
  REFUNDED: [],
};

/**
 * Orders of the `contract` function (UnionPay password-free charges) live in this collection too, with this
 * provider; `pay` neither acts on them nor reconciles them (they follow UnionPay's own query rules).
 */
export const CONTRACT_PROVIDER = 'unionpay';
/** pay's answer to any action on a contract order: it is NOT_SUPPORTED here, and `contract` is where to go. */
export function refuseContractOrder(order: { _id: string; provider: string }): void {
  if (order.provider === CONTRACT_PROVIDER) {
    throw notSupported(`order ${order._id} is a UnionPay password-free charge: pay does not act on it; use the contract function (action query)`);
  }
}

export const canMove = (from: OrderStatus, to: OrderStatus) => MOVES[from].includes(to);

/** The merchant ids an order was created under; a notification must carry the same ones. */
export interface MerchantIds {
  /** Absent where the provider's own ids are not the merchant's (cloudPay: CloudBase is the service provider). */
  appid?: string;
  mchid?: string;
  sub_mchid?: string;
  sub_appid?: string;
}

export interface HookState {
  state: 'pending' | 'running' | 'done' | 'failed';
  attempts: number;
  last_error?: string;
  /** While `running`: when another runner may take over (the first one died). */
  lease_until?: number;
  /** Steps of the hook that have completed (set_status, call_function, template): a re-run skips them. */
  steps_done?: string[];
}

export interface PayOrder {
  _id: string;
  out_trade_no: string;
  provider: ProviderId;
  /** The config document the order was created under: `payment` or `payment_<appid>`. */
  config_id: string;
  merchant: MerchantIds;
  payer_openid: string;
  payer_appid?: string;
  amount: number;
  currency: string;
  /** `wechat` (wx.requestPayment) or a method paid through the provider's page; absent on older orders: wechat. */
  pay_method?: string;
  description: string;
  status: OrderStatus;
  /** The business order it pays, in `amount_source: 'order'` mode. */
  business?: { collection: string; id: string };
  /** The provider's trade id (for WeChat Pay v2 it is the transaction id) and WeChat's transaction id. */
  provider_trade_no?: string;
  /** Every trade the provider opened for this order (an acquirer may open a new one on each retry). */
  provider_trade_nos?: string[];
  /** How many of those: the compare-and-set key for adding one. */
  trade_count?: number;
  transaction_id?: string;
  prepay_id?: string;
  prepay_expires_at?: number;
  expires_at: number;
  refunded_amount: number;
  /** The refund in flight while REFUNDING. */
  refunding?: { out_refund_no: string; amount: number } | null;
  /** The late refunds (apply.ts countLateRefund) whose amounts refunded_amount counts: each is added once. */
  late_refunds?: string[];
  paid_amount?: number;
  /**
   * What the acquirer pays the merchant out, where it settles in another currency (shared/payments/settlement.ts):
   * the quote of `settlement_trade_no` until paid, then the paying trade's; null once another trade's quote is cleared.
   */
  settlement_amount?: number | null;
  settlement_currency?: string | null;
  exchange_rate?: string | null;
  settlement_trade_no?: string | null;
  created_at: number;
  updated_at: number;
  paid_at?: number;
  closed_at?: number;
  hooks: { on_paid: HookState };
}

export const getOrder = (store: DocStore, outTradeNo: string) => store.get<PayOrder>(ORDERS, outTradeNo);

export async function insertOrder(store: DocStore, order: PayOrder): Promise<'created' | 'exists'> {
  return store.insert(ORDERS, order._id, order);
}

/**
 * Moves an order from one of `from` to `to` by compare-and-set: true for exactly one caller. `extra`
 * narrows the condition further (e.g. the refund in flight).
 */
export async function transition(
  store: DocStore,
  order: Pick<PayOrder, '_id'>,
  from: OrderStatus | readonly OrderStatus[],
  to: OrderStatus,
  patch: Patch,
  now: number,
  extra: Filter = {},
): Promise<boolean> {
  const list = (Array.isArray(from) ? from : [from]) as OrderStatus[];
  const legal = list.filter((f) => canMove(f, to));
  if (legal.length === 0) throw new Error(`illegal order transition ${list.join('|')} -> ${to}`);
  const when: Filter = { ...extra, status: legal.length === 1 ? legal[0] : { $in: legal } };
  return store.update(ORDERS, order._id, when, { ...patch, status: to, updated_at: now });
}
