import { fromMajor, toMajor } from '../../core/money';
import { md5Hex } from '../../crypto/hash';
import type { MerchantIds } from '../../store/orders';
import { requestPaymentFields, text } from '../fields';
import type { CreatePaymentInput, PaymentReport, RefundInput, RequestPaymentFields } from '../types';
import { AMOUNT_FIELDS, PAY_TYPE, URL_METHOD_TYPE, type TransStatus, type TwoPayNowAnswer, type TwoPayNowFields, type TwoPayNowMerchant, type UrlMethod } from './wire';

/** `md5(function + mid + timestamp + key)`, plain concatenation, lower-case hex. */
export const signOf = (fn: string, mid: string, timestamp: string, key: string): string => md5Hex(`${fn}${mid}${timestamp}${key}`);

export const merchantIds = (m: TwoPayNowMerchant): MerchantIds => ({ mchid: m.mid });

/** The query string of one call: the business fields, then `function`, `mid`, `timestamp` (ms) and `sign`. */
export function signedQuery(m: TwoPayNowMerchant, fn: string, fields: TwoPayNowFields, nowMs: number): string {
  const timestamp = String(nowMs);
  return new URLSearchParams({ ...fields, function: fn, mid: m.mid, timestamp, sign: signOf(fn, m.mid, timestamp, m.key) }).toString();
}

/**
 * What every order carries. precreate's notification leaves `merchant_trade_no` empty, so our order number
 * also rides in `passback_parameters`, which 2paynow echoes back.
 */
function orderFields(input: CreatePaymentInput, notifyUrl: string): TwoPayNowFields {
  return {
    subject: input.description.slice(0, 128),
    amount: toMajor(input.amount, input.currency),
    currency: input.currency,
    notify_url: notifyUrl,
    merchant_trade_no: input.out_trade_no,
    passback_parameters: JSON.stringify({ out_trade_no: input.out_trade_no }),
  };
}

export function precreateFields(m: TwoPayNowMerchant, input: CreatePaymentInput, notifyUrl: string, method: UrlMethod): TwoPayNowFields {
  return { type: URL_METHOD_TYPE[method], ...orderFields(input, notifyUrl), it_b_pay: m.timeout };
}

/** The in-app WeChat call; like 2paynow's WeChat WAP call it sends no `it_b_pay`. */
export function jsapiFields(m: TwoPayNowMerchant, input: CreatePaymentInput, notifyUrl: string): TwoPayNowFields {
  const f: TwoPayNowFields = { type: PAY_TYPE.wechat, ...orderFields(input, notifyUrl), [m.jsapi_openid_param]: input.payer_openid };
  if (input.payer_appid) f[m.jsapi_appid_param] = input.payer_appid;
  return f;
}

export function refundFields(input: RefundInput): TwoPayNowFields {
  const f: TwoPayNowFields = {
    trade_no: input.provider_trade_no ?? input.out_trade_no,
    refund_amount: toMajor(input.amount, input.currency),
    currency: input.currency,
    merchant_refund_no: input.out_refund_no,
  };
  if (input.reason) f.reason = input.reason.slice(0, 128);
  return f;
}

export { text };

const NUMERIC_AMOUNT = new RegExp(`"(${AMOUNT_FIELDS.join('|')})"\\s*:\\s*(-?[0-9]+(?:\\.[0-9]+)?)(?=\\s*[,}])`, 'g');

/** A JSON object answer with its amount numbers quoted before parsing (no float ever holds them); else undefined. */
export function parseAnswer(body: string): TwoPayNowAnswer | undefined {
  try {
    const v: unknown = JSON.parse(body.replace(NUMERIC_AMOUNT, '"$1":"$2"'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as TwoPayNowAnswer) : undefined;
  } catch {
    return undefined;
  }
}

const TRANS_STATUS: Record<TransStatus, PaymentReport['state']> = {
  TRADE_SUCCESS: 'PAID',
  TRADE_FAILED: 'FAILED',
  TRADE_CLOSED: 'CLOSED',
  UNKNOWN: 'PENDING',
};

/** An unlisted `trans_status` counts as not settled yet. */
export const paymentState = (status: string | undefined): PaymentReport['state'] => TRANS_STATUS[status as TransStatus] ?? 'PENDING';

/** A `function=query` answer. `tradeNo` is 2paynow's id when we knew it (the answer's own wins). */
export function paymentReport(a: TwoPayNowAnswer, outTradeNo: string, tradeNo: string | undefined, mid: string): PaymentReport {
  const status = text(a.trans_status);
  const currency = text(a.currency);
  return {
    out_trade_no: outTradeNo,
    state: paymentState(status),
    amount: currency ? fromMajor(text(a.amount), currency) : undefined,
    currency,
    provider_trade_no: text(a.trade_no) ?? tradeNo,
    merchant: { mchid: text(a.mid) ?? mid },
    provider_state: status,
  };
}

/**
 * The wx.requestPayment fields of the JSAPI answer, unchanged (paySign covers them as sent): under `field`
 * as an object or a JSON string, or else at the answer's top level. Undefined when any is missing.
 */
export const requestPayment = (a: TwoPayNowAnswer, field: string): RequestPaymentFields | undefined => requestPaymentFields(a[field] ?? a);

/** The prepay id inside `package` (`prepay_id=wx...`), when it has that form. */
export const prepayIdOf = (p: RequestPaymentFields): string | undefined => /^prepay_id=(.+)$/.exec(p.package)?.[1];

/** Our order number in a notification: `merchant_trade_no`, or the `out_trade_no` we put in `passback_parameters`. */
export function namedOrder(f: TwoPayNowFields): string | undefined {
  if (f.merchant_trade_no) return f.merchant_trade_no;
  try {
    const p: unknown = JSON.parse(f.passback_parameters ?? '');
    const no = p && typeof p === 'object' ? (p as Record<string, unknown>).out_trade_no : undefined;
    return typeof no === 'string' && no ? no : undefined;
  } catch {
    return undefined;
  }
}
