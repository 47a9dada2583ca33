import { fromMajor, toMajor } from '../../core/money';
import { constantTimeEqual, md5Hex } from '../../crypto/hash';
import { sortedQuery } from '../../crypto/query';
import type { MerchantIds } from '../../store/orders';
import { jsonObject, requestPaymentFields } from '../fields';
import type { CreatePaymentInput, PaymentReport, RefundReport, RequestPaymentFields } from '../types';
import { REFUND_STATUS, TRADE_STATUS, type SuPayAnswer, type SuPayFields, type SuPayMerchant } from './wire';

/** The signature: the sorted non-empty fields but `sign` and `sign_type`, then `&key=<key>`, MD5, upper-case hex. */
export function sign(fields: Record<string, unknown>, key: string): string {
  return md5Hex(`${sortedQuery(fields, ['sign', 'sign_type'])}&key=${key}`).toUpperCase();
}

/** Checks `fields.sign` in constant time. */
export function verifySign(fields: SuPayFields, key: string): boolean {
  const s = fields.sign;
  if (typeof s !== 'string' || !/^[0-9A-Fa-f]{32}$/.test(s)) return false;
  return constantTimeEqual(sign(fields, key), s.toUpperCase());
}

export const merchantIds = (m: SuPayMerchant): MerchantIds => ({ mchid: m.mch_id });

/** `30m`, `2h`, `1d` in milliseconds. */
export function timeoutMs(expr: string): number {
  const unit = { m: 60_000, h: 3600_000, d: 86_400_000 }[expr.slice(-1)] ?? 60_000;
  return Number(expr.slice(0, -1)) * unit;
}

/**
 * `create_instant_trade` fields but the common ones: in-app WeChat Pay is `JSAPI` through `WXPAY` for the payer's
 * openid; a url method is the config's `url_pay_way` through `channel`.
 */
export function createFields(m: SuPayMerchant, input: CreatePaymentInput, notifyUrl: string, channel?: string): SuPayFields {
  const amount = toMajor(input.amount, input.currency);
  const f: SuPayFields = {
    call_back_url: notifyUrl,
    store_name: m.store_name,
    recevice_id: m.recevice_id ?? m.mch_id,
    mch_order_no: input.out_trade_no,
    currency: input.currency,
    pay_amount: amount,
    goods_name: input.description.slice(0, 64),
    goods_price: amount,
    quantity: '1',
    goods_desc: input.description.slice(0, 127),
    timeout_express: m.timeout_express,
    client_ip: input.client_ip,
  };
  if (channel) return { ...f, pay_way: m.url_pay_way, pay_channel: channel };
  return { ...f, pay_way: 'JSAPI', pay_channel: 'WXPAY', subOpenId: input.payer_openid };
}

/** The `wx.requestPayment` fields of a JSAPI `pay_info`, unchanged (SuPay's paySign covers these exact values). */
export const requestPayment = (payInfo: string | undefined): RequestPaymentFields | undefined => requestPaymentFields(payInfo);

const HTTP_URL = /^https?:\/\/\S+$/i;

/**
 * The payment page of a url method's `pay_info`: the url itself (the SDK: PC and H5 answer with the cashier's
 * url), or a JSON object naming it (`mweb_url` / `code_url` as in ShopXO, `pay_url`, `url`).
 */
export function paymentUrl(payInfo: string | undefined): string | undefined {
  const s = (payInfo ?? '').trim();
  if (HTTP_URL.test(s)) return s;
  const p = jsonObject(s);
  return p ? [p.url, p.pay_url, p.mweb_url, p.code_url].find((u): u is string => typeof u === 'string' && HTTP_URL.test(u)) : undefined;
}

/** A JSON answer of the documented shape, or undefined. */
export function answerOf(body: string): SuPayAnswer | undefined {
  const a = jsonObject(body);
  if (!a || (a.status !== 'T' && a.status !== 'F')) return undefined;
  if (a.message !== undefined && typeof a.message !== 'string') return undefined;
  if (a.status === 'T' && !(a.data && typeof a.data === 'object' && !Array.isArray(a.data))) return undefined;
  return a as unknown as SuPayAnswer;
}

/** An answer's `data` as flat strings (what its `sign` covers). */
export function flat(o: Record<string, unknown>): SuPayFields {
  const out: SuPayFields = {};
  for (const [k, v] of Object.entries(o)) {
    if (v !== null && v !== undefined) out[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}

/** The currency the fields are in: their own, or the config's when it allows only one. */
const currencyOf = (f: SuPayFields, m: SuPayMerchant): string | undefined =>
  f.currency || (m.currencies.length === 1 ? m.currencies[0] : undefined);

/** A payment as a `trade_status_sync` notification or a `query_trade` answer reports it. */
export function paymentReport(f: SuPayFields, m: SuPayMerchant, outTradeNo: string): PaymentReport {
  const currency = currencyOf(f, m);
  return {
    out_trade_no: f.outer_trade_no || outTradeNo,
    state: TRADE_STATUS[f.trade_status] ?? 'PENDING',
    amount: currency ? fromMajor(f.trade_amount, currency) : undefined,
    currency,
    provider_trade_no: f.inner_trade_no || undefined,
    // Proven by the merchant's own key (or asked with its mch_id): the merchant is this one unless named otherwise.
    merchant: { mchid: f.mch_id || m.mch_id },
    provider_state: f.trade_status,
  };
}

/**
 * A refund as a `refund_status_sync` notification or a refund `query_trade` answer reports it: `outer_trade_no`
 * is the refund's own `mch_order_no` (our out_refund_no), `orig_outer_trade_no` the order's.
 */
export function refundReport(f: SuPayFields, m: SuPayMerchant, outRefundNo: string): RefundReport {
  const currency = currencyOf(f, m);
  return {
    out_refund_no: f.outer_trade_no || outRefundNo,
    out_trade_no: f.orig_outer_trade_no || undefined,
    state: REFUND_STATUS[f.refund_status] ?? 'PROCESSING',
    refund_id: f.inner_trade_no || undefined,
    amount: currency ? fromMajor(f.refund_amount, currency) : undefined,
    merchant: { mchid: f.mch_id || m.mch_id },
    provider_state: f.refund_status,
  };
}
