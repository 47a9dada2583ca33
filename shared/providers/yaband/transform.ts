import { fromMajor, toMajor } from '../../core/money';
import type { Settlement } from '../../payments/settlement';
import type { MerchantIds } from '../../store/orders';
import { requestPaymentFields, text } from '../fields';
import type { CreatePaymentInput, PaymentReport, RefundInput, RefundReport, RequestPaymentFields } from '../types';
import type { YabandData, YabandFields, YabandMerchant } from './wire';

/** A field as a non-empty string, or undefined. */
export const str = (f: YabandFields, name: string): string | undefined => text(f[name]);

/** The data without empty values: nothing empty is ever sent. */
export function withoutEmpty(data: Record<string, string | number | undefined>): YabandData {
  const out: YabandData = {};
  for (const [k, v] of Object.entries(data)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/** Minutes Yaband keeps the payment open: the config's, else the order's own lifetime (1–1440). */
export function timeoutMinutes(m: YabandMerchant, input: CreatePaymentInput): number {
  const own = Math.ceil((input.expires_at - input.created_at) / 60_000);
  return m.timeout_minutes ?? Math.min(1440, Math.max(1, own));
}

/** Fields both payment methods share. */
function paymentData(m: YabandMerchant, input: CreatePaymentInput, notifyUrl: string) {
  return {
    pay_method: 'online',
    order_id: input.out_trade_no,
    amount: toMajor(input.amount, input.currency),
    currency: input.currency,
    description: input.description,
    notify_url: notifyUrl,
    timeout: timeoutMinutes(m, input),
  };
}

/** `v3.CreatePaymentsWechatMiniPay`: the payer's openid belongs to the mini-program `subAppId`. */
export function miniPayData(m: YabandMerchant, input: CreatePaymentInput, subAppId: string, notifyUrl: string): YabandData {
  return withoutEmpty({
    ...paymentData(m, input, notifyUrl),
    sub_pay_method: 'WeChat Pay',
    sub_app_id: subAppId,
    sub_open_id: input.payer_openid,
  });
}

/** `v3.CreatePayments`: a payment page for `subPayMethod`. */
export function pagePaymentData(m: YabandMerchant, input: CreatePaymentInput, subPayMethod: string, notifyUrl: string): YabandData {
  return withoutEmpty({ ...paymentData(m, input, notifyUrl), sub_pay_method: subPayMethod, redirect_url: m.redirect_url });
}

/** The `wx.requestPayment` fields of a MiniPay answer, passed on unchanged (Yaband signed them); undefined if incomplete. */
export const requestPayment = (parameters: unknown): RequestPaymentFields | undefined => requestPaymentFields(parameters);

/** Yaband's payment states (new, pending, processing, paid, canceled, failed, refunded, expired, completed). */
const PAYMENT_STATE: Record<string, PaymentReport['state']> = {
  paid: 'PAID',
  completed: 'PAID',
  refunded: 'PAID', // paid, then refunded: refunds are tracked on their own
  new: 'PENDING',
  pending: 'PENDING',
  processing: 'PENDING',
  canceled: 'CLOSED',
  expired: 'CLOSED',
  failed: 'FAILED',
};

/** A state in domain terms; one Yaband adds later counts as not settled yet. */
export const paymentState = (state: string | undefined): PaymentReport['state'] => PAYMENT_STATE[state ?? ''] ?? 'PENDING';

/** The ids an order is pinned to: the cashier account, and the mini-program when the config names it. */
export function merchantIds(m: YabandMerchant): MerchantIds {
  return m.sub_app_id ? { mchid: m.user, sub_appid: m.sub_app_id } : { mchid: m.user };
}

/**
 * A payment as a `v3.QueryOrder` answer (`data.transaction_info`, read over `data`) or a notification's
 * `data` reports it. It came over this account's credentials, so its merchant is this account.
 */
export function paymentReport(m: YabandMerchant, f: YabandFields, outTradeNo: string): PaymentReport {
  const currency = str(f, 'currency');
  const state = str(f, 'state');
  const subAppId = str(f, 'sub_app_id');
  return {
    out_trade_no: str(f, 'order_id') ?? outTradeNo,
    state: paymentState(state),
    amount: currency ? fromMajor(str(f, 'amount'), currency) : undefined,
    currency,
    transaction_id: str(f, 'transaction_id'),
    provider_trade_no: str(f, 'trade_id'),
    merchant: { mchid: m.user, ...(subAppId ? { sub_appid: subAppId } : {}) },
    payer_openid: str(f, 'sub_open_id'),
    provider_state: state,
    settlement: settlementOf(f),
  };
}

/**
 * What Yaband pays the merchant out for a trade (`settlement_amount` in `settlement_currency` at
 * `exchange_rate`, MiniPay's answer [V]); undefined unless amount and currency are both readable.
 */
export function settlementOf(f: YabandFields): Settlement | undefined {
  const currency = str(f, 'settlement_currency');
  const amount = currency ? fromMajor(str(f, 'settlement_amount'), currency) : undefined;
  if (!currency || amount === undefined) return undefined;
  const rate = str(f, 'exchange_rate');
  return { settlement_amount: amount, settlement_currency: currency, ...(rate ? { exchange_rate: rate } : {}) };
}

/** `v3.QueryOrder` answers with the trade under `transaction_info` [V]; fields outside it are read too. */
export function queriedTrade(data: YabandFields): YabandFields {
  const info = data.transaction_info;
  return info && typeof info === 'object' ? { ...data, ...(info as YabandFields) } : data;
}

/**
 * `v3.CreateRefund`: the merchant refund number is our out_refund_no; the amount in the order's currency, or
 * in the settlement currency when the refund is made in that (config refund_currency).
 */
export function refundData(input: RefundInput, tradeId: string, notifyUrl: string): YabandData {
  const { amount, currency } = input.settled ?? input;
  return withoutEmpty({
    trade_id: tradeId,
    refund_amount: toMajor(amount, currency),
    refund_currency: currency,
    refund_description: input.reason ?? `Refund of order ${input.out_trade_no}`,
    notify_url: notifyUrl,
    m_refund_id: input.out_refund_no,
  });
}

const REFUND_STATE: Record<string, RefundReport['state']> = {
  refunded: 'SUCCESS',
  completed: 'SUCCESS',
  failed: 'CLOSED',
  canceled: 'CLOSED',
};

/**
 * A refund notification's `data` (or an entry of the refund query's list): `m_refund_id` is ours; the refunded
 * amount is `refund_amount` in `refund_currency` (else `currency`) [?], else the trade's `amount` in its own
 * `currency` (then a partial refund's notification will not match the refund and is refused, never
 * misapplied). The trade's amount is never read in `refund_currency`: in the settlement currency its number
 * could pass for the refund's settled amount.
 */
export function refundReport(m: YabandMerchant, f: YabandFields, outTradeNo: string): RefundReport {
  const state = str(f, 'state');
  const refundAmount = str(f, 'refund_amount');
  const currency = refundAmount !== undefined ? str(f, 'refund_currency') ?? str(f, 'currency') : str(f, 'currency');
  return {
    out_refund_no: str(f, 'm_refund_id') ?? '',
    out_trade_no: outTradeNo,
    state: REFUND_STATE[state ?? ''] ?? 'PROCESSING',
    refund_id: str(f, 'refund_id'),
    amount: currency ? fromMajor(refundAmount ?? str(f, 'amount'), currency) : undefined,
    currency,
    merchant: { mchid: m.user },
    provider_state: state,
  };
}

/**
 * The refunds a refund-list answer holds [?]: the first array among `data`'s fields (e.g. `list`), its
 * object entries only.
 */
export function refundEntries(data: YabandFields): YabandFields[] {
  const list = Object.values(data).find(Array.isArray) as unknown[] | undefined;
  return (list ?? []).filter((e): e is YabandFields => !!e && typeof e === 'object' && !Array.isArray(e));
}
