/**
 * YabandPay v3 on the wire (protocols/acquirers.md §1a): one endpoint, `POST <api_base>/Payments`, a JSON
 * envelope `{user, method, time, sign, data}` naming the method; answers `{status, code, message, data}`;
 * notifications `{sign, data}` as a raw JSON body or as the form field `resultData`.
 */
export const PAYMENTS_PATH = '/Payments';

/** The methods called; the refund query's is config (`refund_query_method`), as its shape is unconfirmed. */
export type YabandMethod = 'v3.CreatePaymentsWechatMiniPay' | 'v3.CreatePayments' | 'v3.QueryOrder' | 'v3.CreateRefund' | YabandMerchant['refund_query_method'];

/** Request data as sent: strings and whole numbers, no empty values (the official library and TIG sign empties differently). */
export type YabandData = Record<string, string | number>;

/** Every answer; `status: false` carries the refusal in `message` (and sometimes a numeric `code`). */
export interface YabandAnswer {
  status: boolean;
  code?: number | string;
  message?: string;
  data?: unknown;
}

/** Fields of an answer's `data` or a notification's `data`, read by name. */
export type YabandFields = Record<string, unknown>;

/** Our payment-page `pay_method`s and the `sub_pay_method` that names each at Yaband (`v3.CreatePayments`). */
export const PAGE_METHODS: Readonly<Record<string, string>> = {
  alipay: 'Alipay',
  unionpay: 'UnionPay',
  ideal: 'iDeal',
  sofort: 'Sofort/Digital',
  bancontact: 'Bancontact',
};

/** Currencies Yaband takes (HuoNiao's list); `currencies` in the config narrows it to what the account settles. */
export const YABAND_CURRENCIES = ['EUR', 'CNY', 'HKD', 'GBP', 'CHF', 'DKK', 'SEK', 'PLN', 'NOK', 'USD', 'HUF', 'CZK'] as const;

/** The `yaband` config section. */
export interface YabandMerchant {
  /** The cashier account (an e-mail address), sent as `user`. */
  user: string;
  /** The HMAC-SHA256 key of that account. */
  secret: string;
  api_base: string;
  /** Unit of `time` [I]: PHP clients send seconds, the Java/TS samples milliseconds. */
  time_unit: 's' | 'ms';
  /** `timeout` sent with a payment; by default the order's own lifetime. */
  timeout_minutes?: number;
  /** The mini-program that pays, when it is not the calling one (the WX context APPID). */
  sub_app_id?: string;
  /** Where the payment page sends the payer afterwards (payment-page methods only). */
  redirect_url?: string;
  currencies: string[];
  /**
   * The method that lists refunds made in a time window (`start_time`, `end_time` in `time_unit`), read for the
   * entry whose `m_refund_id` is ours [?]: `v3.TimeRefundOrder` by default.
   */
  refund_query_method: string;
}
