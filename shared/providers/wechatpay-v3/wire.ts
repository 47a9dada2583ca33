/**
 * WeChat Pay API v3 on the wire: JSON over HTTPS, SHA256withRSA request and response signatures,
 * AEAD_AES_256_GCM for notification resources and platform certificates (protocols/wechatpay.md §2).
 */

export const V3_DEFAULT_BASE = 'https://api.mch.weixin.qq.com';
export const SIGNATURE_SCHEME = 'WECHATPAY2-SHA256-RSA2048';
/** Probe traffic WeChat sends to check that signatures are really verified: it must fail. */
export const SIGNTEST_PREFIX = 'WECHATPAY/SIGNTEST/';
/** Largest clock offset accepted on a response or notification timestamp. */
export const MAX_CLOCK_OFFSET_S = 300;

/** A v3 config section, direct (`v3`) or service provider (`v3sp`, with sub_mchid). */
export interface V3Merchant {
  appid: string;
  mchid: string;
  serial_no: string;
  private_key: string;
  apiv3_key: string;
  public_key?: string;
  public_key_id?: string;
  sub_mchid?: string;
  sub_appid?: string;
  api_base?: string;
  tls_ca?: string;
}

export interface V3Amount {
  total: number;
  currency?: string;
  payer_total?: number;
  payer_currency?: string;
}

/** A transaction as queried, or decrypted from a TRANSACTION.SUCCESS notification. */
export interface V3Transaction {
  appid?: string;
  mchid?: string;
  sp_appid?: string;
  sp_mchid?: string;
  sub_appid?: string;
  sub_mchid?: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type?: string;
  trade_state: 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR' | string;
  success_time?: string;
  payer?: { openid?: string; sp_openid?: string; sub_openid?: string };
  amount?: V3Amount;
}

/** A refund as answered, queried, or decrypted from a REFUND.* notification. */
export interface V3Refund {
  mchid?: string;
  sp_mchid?: string;
  sub_mchid?: string;
  out_trade_no?: string;
  transaction_id?: string;
  out_refund_no: string;
  refund_id?: string;
  status?: 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';
  refund_status?: 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';
  success_time?: string;
  amount?: { total?: number; refund?: number; payer_total?: number; payer_refund?: number; currency?: string };
}

/** The notification envelope; `resource` is encrypted with the APIv3 key. */
export interface V3Notification {
  id: string;
  create_time?: string;
  event_type: string;
  resource_type?: string;
  summary?: string;
  resource: { original_type?: string; algorithm: string; ciphertext: string; associated_data?: string; nonce: string };
}

/** `/v3/certificates`: the platform certificates, each encrypted with the APIv3 key. */
export interface V3CertificateList {
  data: {
    serial_no: string;
    effective_time?: string;
    expire_time?: string;
    encrypt_certificate: { algorithm: string; associated_data?: string; nonce: string; ciphertext: string };
  }[];
}

/** An error answer: `{code, message, detail?}`. */
export interface V3Error {
  code?: string;
  message?: string;
}
