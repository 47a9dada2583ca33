/**
 * cloudPay (wx-server-sdk `cloud.cloudPay`): WeChat Pay v2 underneath, reached through CloudBase, which is
 * the service provider; the merchant is the sub-merchant. camelCase fields (protocols/wechatpay.md §3).
 */
export interface CloudPayMerchant {
  sub_mchid: string;
  env_id: string;
  /** The cloud function WeChat calls with results (this bundle's `notify`). */
  function_name: string;
  /** How the payer's openid is passed to unifiedOrder; 'none' lets CloudBase take it from the calling user. */
  payer_field: 'none' | 'openid' | 'sub_openid';
}

/** Any cloudPay answer: transport code, business code, and the rest by name. */
export type CloudPayAnswer = Record<string, unknown> & {
  returnCode?: string;
  returnMsg?: string;
  resultCode?: string;
  errCode?: string;
  errCodeDes?: string;
};

/**
 * A callback event as the function receives it. Pay callbacks are camelCase; refund callbacks have been
 * seen in both cases, so every field is read under either name.
 */
export type CloudPayCallback = Record<string, unknown>;
