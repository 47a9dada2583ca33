/**
 * WeChat Pay API v2 on the wire: flat XML documents of string fields (protocols/wechatpay.md §1).
 * Every answer has `return_code` (transport) and, when that is SUCCESS, `result_code` (business).
 */
export type V2Fields = Record<string, string>;

export const V2_PATHS = {
  unifiedorder: '/pay/unifiedorder',
  orderquery: '/pay/orderquery',
  closeorder: '/pay/closeorder',
  refund: '/secapi/pay/refund',
  refundquery: '/pay/refundquery',
} as const;
export type V2Api = keyof typeof V2_PATHS;

export const V2_DEFAULT_BASE = 'https://api.mch.weixin.qq.com';

/** `trade_state` (orderquery) and `refund_status` (refundquery, req_info) are mapped in ../wechat-states.ts. */

/** `err_code`s after which the same request may be sent again unchanged. */
export const RETRYABLE_ERRORS = ['SYSTEMERROR', 'BIZERR_NEED_RETRY', 'FREQUENCY_LIMITED', 'FREQ_LIMIT'];

/** Merchant fields of a direct (`v2`) or service-provider (`v2sp`) config section. */
export interface V2Merchant {
  appid: string;
  mchid: string;
  key: string;
  sign_type: 'MD5' | 'HMAC-SHA256';
  sub_mchid?: string;
  sub_appid?: string;
  cert_pem?: string;
  key_pem?: string;
  p12_base64?: string;
  p12_passphrase?: string;
  api_base?: string;
  tls_ca?: string;
}
