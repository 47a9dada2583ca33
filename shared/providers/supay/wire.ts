import type { PaymentReport, RefundReport } from '../types';

/**
 * SuPay / SuperPay (Super Pay Technology, Australia) on the wire (protocols/acquirers.md §1c): one JSON
 * endpoint whose `service` field picks the operation; requests, notifications (form-urlencoded) and, where
 * they carry one, answers are signed with upper-case MD5 over the sorted non-empty fields but `sign` and
 * `sign_type`, followed by `&key=<md5 key>`.
 */
export const SUPAY_ORDER_PATH = '/api/gateway/merchant/order';

export type SuPayService = 'create_instant_trade' | 'query_trade' | 'create_refund';

/** Flat string fields, as signed. */
export type SuPayFields = Record<string, string>;

/** Every answer: `status` T or F, a `message`, and on success `data` (`result: true`, the service's fields). */
export interface SuPayAnswer {
  status: 'T' | 'F';
  message?: string;
  data?: Record<string, unknown>;
}

/**
 * The currencies WeChat Pay cross-border merchants may price in. SuPay's samples show AUD only, so the config's
 * `currencies` (default AUD) says which of these the merchant's account takes.
 */
export const SUPAY_CURRENCIES = ['AUD', 'NZD', 'USD', 'EUR', 'GBP', 'HKD', 'JPY', 'CAD', 'SGD', 'CNY'] as const;

/** `pay_way`s that answer with a payment page for a web-view or the clipboard (the SDK: PC and H5 give a url). */
export const URL_PAY_WAYS = ['H5', 'PC'] as const;

/** Our url methods and the `pay_channel` each is paid through. */
export const URL_METHODS: Readonly<Partial<Record<string, string>>> = { alipay: 'ALIPAY' };

/** `trade_status` of notifications and query answers, in domain terms; others are not settled yet. */
export const TRADE_STATUS: Record<string, PaymentReport['state']> = {
  TRADE_SUCCESS: 'PAID',
  TRADE_FINISHED: 'PAID',
  TRADE_CLOSED: 'CLOSED',
  WAIT_BUYER_PAY: 'PENDING',
};

/** `refund_status`: a failed refund moved no money, so it ends as CLOSED; others are still processing. */
export const REFUND_STATUS: Record<string, RefundReport['state']> = {
  REFUND_SUCCESS: 'SUCCESS',
  REFUND_FAIL: 'CLOSED',
  REFUND_FAILED: 'CLOSED',
  REFUND_CLOSED: 'CLOSED',
  REFUND_PROCESSING: 'PROCESSING',
};

/** An F answer that says the queried number is unknown to SuPay. */
/** Only a trade (or refund) that does not exist; "merchant not exist" and the like are refusals, not absences. */
export const NOT_EXIST = /(TRADE|ORDER|REFUND)[_ ]?NOT[_ ]?EXIST|(订单|交易|退款)不存在/i;

/** The `supay` config section (shared/config/payment.ts); defaults are filled in when it is loaded. */
export interface SuPayMerchant {
  mch_id: string;
  key: string;
  /** The payee (sic), usually the merchant itself: mch_id when absent. */
  recevice_id?: string;
  store_name: string;
  api_base: string;
  timeout_express: string;
  currencies: string[];
  url_pay_way: (typeof URL_PAY_WAYS)[number];
  query_trade_type: string;
  refund_query_trade_type: string;
}
