import { fromMajor, toMajor } from '../../core/money';
import type { MerchantIds } from '../../store/orders';
import type { CreatePaymentInput, PaymentReport, RefundReport } from '../types';
import {
  CLOSED_STATES,
  FAILED_STATES,
  LINE_ITEM_TYPE,
  PAID_STATES,
  REFUND_FAILED,
  REFUND_SUCCESS,
  REFUND_TYPE,
  type VrMerchant,
  type VrRefund,
  type VrRefundCreate,
  type VrSearchResponse,
  type VrTransaction,
  type VrTransactionCreate,
} from './wire';

/**
 * Minor units as the JSON number VR Payment takes, built from the exact decimal string: the nearest double
 * of a decimal with at most 15 significant digits prints back as that same decimal, so no arithmetic on
 * money ever happens in floating point (maxAmount keeps amounts within 15 digits).
 */
export const majorNumber = (minor: number, currency: string): number => Number(toMajor(minor, currency));

/** A JSON amount back to minor units; undefined when absent or finer than the currency allows. */
export const minorOf = (amount: unknown, currency: string): number | undefined =>
  typeof amount === 'number' && Number.isFinite(amount) && amount >= 0 ? fromMajor(amount, currency) : undefined;

/** The order is pinned to the space it was created in. */
export const merchantIds = (m: VrMerchant): MerchantIds => ({ mchid: String(m.space_id) });

export function transactionCreate(m: VrMerchant, input: CreatePaymentInput): VrTransactionCreate {
  const body: VrTransactionCreate = {
    currency: input.currency,
    lineItems: [
      {
        name: input.description.slice(0, 150),
        quantity: 1,
        amountIncludingTax: majorNumber(input.amount, input.currency),
        type: LINE_ITEM_TYPE,
        uniqueId: input.out_trade_no,
        sku: input.out_trade_no,
      },
    ],
    merchantReference: input.out_trade_no,
  };
  if (m.success_url) body.successUrl = m.success_url;
  if (m.failed_url) body.failedUrl = m.failed_url;
  const configuration = m.method_configurations?.[input.pay_method];
  if (configuration !== undefined) body.allowedPaymentMethodConfigurations = [configuration];
  return body;
}

export const refundCreate = (transactionId: number, outRefundNo: string, amount: number, currency: string): VrRefundCreate => ({
  transaction: transactionId,
  externalId: outRefundNo,
  amount: majorNumber(amount, currency),
  type: REFUND_TYPE,
});

/** The `query` parameter of a search naming one field (the template is config: the syntax is unconfirmed). */
export const searchQuery = (template: string, field: string, value: string): string =>
  template.replace(/\{field\}/g, field).replace(/\{value\}/g, value);

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

export const isTransaction = (v: unknown): v is VrTransaction =>
  isObject(v) && isId(v.id) && typeof v.state === 'string' && typeof v.currency === 'string';

export const isRefund = (v: unknown): v is VrRefund =>
  isObject(v) && isId(v.id) && typeof v.state === 'string' && isObject(v.transaction) && isId(v.transaction.id) && typeof v.transaction.currency === 'string';

export const searchOf =
  <T>(item: (v: unknown) => v is T) =>
  (v: unknown): v is VrSearchResponse<T> =>
    isObject(v) && Array.isArray(v.data) && v.data.every(item);

export function paymentState(state: string): PaymentReport['state'] {
  if ((PAID_STATES as readonly string[]).includes(state)) return 'PAID';
  if ((FAILED_STATES as readonly string[]).includes(state)) return 'FAILED';
  if ((CLOSED_STATES as readonly string[]).includes(state)) return 'CLOSED';
  return 'PENDING';
}

/** A transaction that can still be paid on its payment page (or is being paid). */
export const isOpen = (tx: VrTransaction): boolean => paymentState(tx.state) === 'PENDING';

/** Of the transactions under one merchantReference: a paid one, else the newest open one, else the newest. */
export function pickTransaction(list: VrTransaction[]): VrTransaction | undefined {
  const newestFirst = [...list].sort((a, b) => b.id - a.id);
  return newestFirst.find((tx) => paymentState(tx.state) === 'PAID') ?? newestFirst.find(isOpen) ?? newestFirst[0];
}

const time = (iso: string | undefined): number | undefined => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? undefined : t;
};

/**
 * A transaction as our report. The amount taken is `completedAmount` once completed, else the authorized
 * one. `space` is the space the answer came from, when the entity does not name its own.
 */
export function paymentReport(tx: VrTransaction, space: number): PaymentReport {
  const state = paymentState(tx.state);
  const completed = minorOf(tx.completedAmount, tx.currency);
  return {
    out_trade_no: tx.merchantReference ?? '',
    state,
    amount: state === 'PAID' && completed ? completed : minorOf(tx.authorizationAmount, tx.currency),
    currency: tx.currency,
    provider_trade_no: String(tx.id),
    merchant: { mchid: String(tx.linkedSpaceId ?? space) },
    paid_at: state === 'PAID' ? time(tx.completedOn ?? tx.authorizedOn) : undefined,
    provider_state: tx.state,
  };
}

export function refundState(state: string): RefundReport['state'] {
  if (state === REFUND_SUCCESS) return 'SUCCESS';
  if (state === REFUND_FAILED) return 'CLOSED';
  return 'PROCESSING';
}

export function refundReport(r: VrRefund, space: number): RefundReport {
  const state = refundState(r.state);
  return {
    out_refund_no: r.externalId ?? '',
    out_trade_no: r.transaction.merchantReference,
    state,
    refund_id: String(r.id),
    amount: minorOf(r.amount, r.transaction.currency),
    merchant: { mchid: String(r.linkedSpaceId ?? r.transaction.linkedSpaceId ?? space) },
    finished_at: state === 'SUCCESS' ? time(r.succeededOn) : state === 'CLOSED' ? time(r.failedOn) : undefined,
    provider_state: r.state,
  };
}

/** The payment page URL from its text/plain answer (a JSON string literal is accepted too). */
export function paymentPageUrl(body: string): string | undefined {
  let text = body.trim();
  if (text.startsWith('"')) {
    try {
      text = JSON.parse(text) as string;
    } catch {
      return undefined;
    }
  }
  return typeof text === 'string' && /^https:\/\/\S+$/.test(text) ? text : undefined;
}
