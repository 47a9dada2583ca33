/**
 * 2paynow (Europe Sepay B.V.) on the wire (protocols/acquirers.md §1b): signed GET requests with a query
 * string to one gateway path, JSON answers with a numeric `status` (200 = ok, else `error_info`).
 * `sign = md5(function + mid + timestamp + key)`, lower-case hex: it covers no amount and no state.
 */
export type TwoPayNowFields = Record<string, string>;

/** A JSON answer, amounts kept as the decimal text they were sent as. */
export type TwoPayNowAnswer = Record<string, unknown> & {
  status?: unknown;
  error_info?: unknown;
  trade_no?: unknown;
  qr_code?: unknown;
  pic_url?: unknown;
  trans_status?: unknown;
  amount?: unknown;
  currency?: unknown;
  mid?: unknown;
};

/** `trans_status` of `function=query`. */
export type TransStatus = 'TRADE_SUCCESS' | 'TRADE_FAILED' | 'TRADE_CLOSED' | 'UNKNOWN';

/** The `type` of an order: the wallet it is paid with. */
export const PAY_TYPE = { alipay: '0', wechat: '1' } as const;

/** `precreate`'s `type` for each page (url) method: the answer's `qr_code` is the payment link. */
export const URL_METHOD_TYPE = { alipay: PAY_TYPE.alipay, wechat_qr: PAY_TYPE.wechat } as const;
export type UrlMethod = keyof typeof URL_METHOD_TYPE;

/** Fields whose JSON numbers are read as text, so amounts never pass through a float. */
export const AMOUNT_FIELDS = ['amount', 'refund_amount', 'amount_cny'] as const;

/** A `2paynow` config section. The fields after `timeout` describe unpublished parts of the API (assumptions). */
export interface TwoPayNowMerchant {
  mid: string;
  key: string;
  api_base: string;
  gateway_path: string;
  currencies: string[];
  /** `it_b_pay`: how long a precreated trade stays payable (`30m`, `2h`, `1d`, `1c`). */
  timeout: string;
  /** The function 2paynow issues for in-app WeChat Pay (no public one exists). */
  jsapi_function: string;
  /** The request parameters naming the payer's openid and the paying mini-program. */
  jsapi_openid_param: string;
  jsapi_appid_param: string;
  /** The answer field holding the wx.requestPayment fields (an object or a JSON string); else read at the top level. */
  jsapi_answer_field: string;
  /** A refund function, when 2paynow issued one (none is public); absent: refunds are NOT_SUPPORTED. */
  refund_function?: string;
}
