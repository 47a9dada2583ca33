import { rsaSha256Sign } from '../../crypto/rsa';
import type { MerchantIds } from '../../store/orders';
import type { CreatePaymentInput, PaymentReport, RefundInput, RefundReport, RequestPaymentFields } from '../types';
import type { V3Merchant, V3Refund, V3Transaction } from './wire';
import { paymentState } from '../wechat-states';

/** RFC 3339 in China Standard Time, the form v3 takes times in: 2026-11-22T10:34:56+08:00. */
export function rfc3339Cst(ms: number): string {
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}

const isPartner = (m: V3Merchant) => !!m.sub_mchid;

export function merchantIds(m: V3Merchant): MerchantIds {
  const ids: MerchantIds = { appid: m.appid, mchid: m.mchid };
  if (m.sub_mchid) ids.sub_mchid = m.sub_mchid;
  if (m.sub_appid) ids.sub_appid = m.sub_appid;
  return ids;
}

/** The JSAPI order body, direct or partner; the payer's openid belongs to the mini-program that pays. */
export function orderBody(m: V3Merchant, input: CreatePaymentInput, notifyUrl: string): Record<string, unknown> {
  const common = {
    description: input.description.slice(0, 127),
    out_trade_no: input.out_trade_no,
    notify_url: notifyUrl,
    time_expire: rfc3339Cst(input.expires_at),
    amount: { total: input.amount, currency: input.currency },
  };
  if (!isPartner(m)) return { appid: m.appid, mchid: m.mchid, ...common, payer: { openid: input.payer_openid } };
  return {
    sp_appid: m.appid,
    sp_mchid: m.mchid,
    ...(m.sub_appid ? { sub_appid: m.sub_appid } : {}),
    sub_mchid: m.sub_mchid,
    ...common,
    payer: m.sub_appid ? { sub_openid: input.payer_openid } : { sp_openid: input.payer_openid },
  };
}

export function refundBody(m: V3Merchant, input: RefundInput, notifyUrl: string): Record<string, unknown> {
  return {
    ...(isPartner(m) ? { sub_mchid: m.sub_mchid } : {}),
    ...(input.transaction_id ? { transaction_id: input.transaction_id } : { out_trade_no: input.out_trade_no }),
    out_refund_no: input.out_refund_no,
    ...(input.reason ? { reason: input.reason.slice(0, 80) } : {}),
    notify_url: notifyUrl,
    amount: { refund: input.amount, total: input.total, currency: input.currency },
  };
}

/** Query paths carry the merchant ids; partner paths differ. */
export function orderPath(m: V3Merchant, outTradeNo: string, suffix = ''): string {
  const no = encodeURIComponent(outTradeNo);
  return isPartner(m) ? `/v3/pay/partner/transactions/out-trade-no/${no}${suffix}` : `/v3/pay/transactions/out-trade-no/${no}${suffix}`;
}
export const queryString = (m: V3Merchant) =>
  isPartner(m) ? `?sp_mchid=${m.mchid}&sub_mchid=${m.sub_mchid}` : `?mchid=${m.mchid}`;
export const closeBody = (m: V3Merchant) => (isPartner(m) ? { sp_mchid: m.mchid, sub_mchid: m.sub_mchid } : { mchid: m.mchid });
export const orderEndpoint = (m: V3Merchant) => (isPartner(m) ? '/v3/pay/partner/transactions/jsapi' : '/v3/pay/transactions/jsapi');
export const refundQueryPath = (m: V3Merchant, outRefundNo: string) =>
  `/v3/refund/domestic/refunds/${encodeURIComponent(outRefundNo)}${isPartner(m) ? `?sub_mchid=${m.sub_mchid}` : ''}`;

/** `wx.requestPayment` fields: paySign is SHA256withRSA over appId, timeStamp, nonceStr, package, one per line. */
export function requestPayment(m: V3Merchant, prepayId: string, nonceStr: string, nowMs: number): RequestPaymentFields {
  const appId = isPartner(m) && m.sub_appid ? m.sub_appid : m.appid;
  const timeStamp = String(Math.floor(nowMs / 1000));
  const pkg = `prepay_id=${prepayId}`;
  return { appId, timeStamp, nonceStr, package: pkg, signType: 'RSA', paySign: rsaSha256Sign(`${appId}\n${timeStamp}\n${nonceStr}\n${pkg}\n`, m.private_key) };
}

const time = (s: string | undefined) => {
  const t = s ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? t : undefined;
};

/** A transaction, direct or partner, in domain terms; partner ids map onto appid / mchid. */
export function paymentReport(t: V3Transaction): PaymentReport {
  const state = paymentState(t.trade_state);
  const merchant: Partial<MerchantIds> = {};
  const appid = t.sp_appid ?? t.appid;
  const mchid = t.sp_mchid ?? t.mchid;
  if (appid) merchant.appid = appid;
  if (mchid) merchant.mchid = mchid;
  if (t.sub_mchid) merchant.sub_mchid = t.sub_mchid;
  if (t.sub_appid) merchant.sub_appid = t.sub_appid;
  return {
    out_trade_no: t.out_trade_no,
    state,
    amount: t.amount?.total,
    currency: t.amount?.currency ?? 'CNY',
    transaction_id: t.transaction_id,
    provider_trade_no: t.transaction_id,
    merchant,
    payer_openid: t.payer?.sub_openid ?? t.payer?.openid ?? t.payer?.sp_openid,
    paid_at: state === 'PAID' ? time(t.success_time) : undefined,
    provider_state: t.trade_state,
  };
}

export function refundReport(r: V3Refund): RefundReport {
  const status = r.status ?? r.refund_status ?? 'PROCESSING';
  const merchant: Partial<MerchantIds> = {};
  const mchid = r.sp_mchid ?? r.mchid;
  if (mchid) merchant.mchid = mchid;
  if (r.sub_mchid) merchant.sub_mchid = r.sub_mchid;
  return {
    out_refund_no: r.out_refund_no,
    out_trade_no: r.out_trade_no,
    state: status,
    refund_id: r.refund_id,
    amount: r.amount?.refund,
    total: r.amount?.total,
    merchant,
    finished_at: status === 'SUCCESS' ? time(r.success_time) : undefined,
    provider_state: status,
  };
}
