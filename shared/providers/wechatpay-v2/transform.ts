import { formatCstCompact, parseCstCompact } from '../../core/clock';
import type { MerchantIds } from '../../store/orders';
import type { CreatePaymentInput, PaymentReport, RefundReport, RequestPaymentFields } from '../types';
import { signV2 } from './sign';
import { paymentState, refundState } from '../wechat-states';
import type { V2Fields, V2Merchant } from './wire';

/** The ids every request carries: the merchant's, plus the sub-merchant's in service-provider mode. */
export function merchantFields(m: V2Merchant): V2Fields {
  const f: V2Fields = { appid: m.appid, mch_id: m.mchid };
  if (m.sub_mchid) f.sub_mch_id = m.sub_mchid;
  if (m.sub_appid) f.sub_appid = m.sub_appid;
  return f;
}

export function merchantIds(m: V2Merchant): MerchantIds {
  const ids: MerchantIds = { appid: m.appid, mchid: m.mchid };
  if (m.sub_mchid) ids.sub_mchid = m.sub_mchid;
  if (m.sub_appid) ids.sub_appid = m.sub_appid;
  return ids;
}

/** The ids a v2 answer or notification reports, in domain names. */
export function reportedMerchant(f: V2Fields): Partial<MerchantIds> {
  const ids: Partial<MerchantIds> = {};
  if (f.appid) ids.appid = f.appid;
  if (f.mch_id) ids.mchid = f.mch_id;
  if (f.sub_mch_id) ids.sub_mchid = f.sub_mch_id;
  if (f.sub_appid) ids.sub_appid = f.sub_appid;
  return ids;
}

export function unifiedOrderFields(m: V2Merchant, input: CreatePaymentInput, notifyUrl: string): V2Fields {
  const f: V2Fields = {
    ...merchantFields(m),
    body: input.description.slice(0, 127),
    out_trade_no: input.out_trade_no,
    total_fee: String(input.amount),
    fee_type: input.currency,
    spbill_create_ip: input.client_ip,
    notify_url: notifyUrl,
    trade_type: 'JSAPI',
    time_start: formatCstCompact(input.created_at),
    time_expire: formatCstCompact(input.expires_at),
  };
  // The payer's openid belongs to the mini-program that pays: the sub appid when there is one.
  if (m.sub_mchid && m.sub_appid) f.sub_openid = input.payer_openid;
  else f.openid = input.payer_openid;
  return f;
}

/** The five `wx.requestPayment` fields; paySign covers appId, nonceStr, package, signType, timeStamp. */
export function requestPayment(m: V2Merchant, prepayId: string, nonceStr: string, nowMs: number): RequestPaymentFields {
  const fields = {
    appId: m.sub_mchid && m.sub_appid ? m.sub_appid : m.appid,
    timeStamp: String(Math.floor(nowMs / 1000)),
    nonceStr,
    package: `prepay_id=${prepayId}`,
    signType: m.sign_type,
  };
  return { ...fields, paySign: signV2(fields, m.key, m.sign_type) };
}

/** A whole-number field, or undefined when absent or not digits. */
export function toInt(s: string | undefined): number | undefined {
  return s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : undefined;
}

/** A payment as reported by orderquery or by the pay notification (same field names). */
export function paymentReport(f: V2Fields, state: PaymentReport['state']): PaymentReport {
  return {
    out_trade_no: f.out_trade_no,
    state,
    amount: toInt(f.total_fee),
    currency: f.fee_type || 'CNY',
    transaction_id: f.transaction_id || undefined,
    provider_trade_no: f.transaction_id || undefined,
    merchant: reportedMerchant(f),
    payer_openid: f.sub_openid || f.openid || undefined,
    paid_at: state === 'PAID' ? parseCstCompact(f.time_end) : undefined,
    provider_state: f.trade_state ?? f.result_code,
  };
}

/** An unknown trade_state (WeChat adds some over time, e.g. ACCEPT) is treated as not settled yet. */
export function tradeStateReport(f: V2Fields): PaymentReport {
  return paymentReport(f, paymentState(f.trade_state));
}

/** `yyyy-MM-dd HH:mm:ss` in China Standard Time. */
function parseCstDateTime(s: string | undefined): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s ?? '');
  return m ? parseCstCompact(m.slice(1).join('')) : undefined;
}

/** One refund from refundquery's indexed lists (`out_refund_no_0`, `refund_status_0`, ...). */
export function refundQueryReport(f: V2Fields, outRefundNo: string): RefundReport {
  const count = toInt(f.refund_count) ?? 0;
  for (let i = 0; i < count; i++) {
    if (f[`out_refund_no_${i}`] !== outRefundNo) continue;
    const status = f[`refund_status_${i}`];
    return {
      out_refund_no: outRefundNo,
      out_trade_no: f.out_trade_no,
      state: refundState(status),
      refund_id: f[`refund_id_${i}`],
      amount: toInt(f[`refund_fee_${i}`]),
      total: toInt(f.total_fee),
      merchant: reportedMerchant(f),
      finished_at: parseCstDateTime(f[`refund_success_time_${i}`]),
      provider_state: status,
    };
  }
  return { out_refund_no: outRefundNo, state: 'NOT_FOUND' };
}

/** The decrypted `req_info` of a refund notification. */
export function refundNotifyReport(plain: V2Fields, outer: V2Fields): RefundReport {
  const status = plain.refund_status;
  return {
    out_refund_no: plain.out_refund_no,
    out_trade_no: plain.out_trade_no,
    state: refundState(status),
    refund_id: plain.refund_id,
    amount: toInt(plain.refund_fee),
    total: toInt(plain.total_fee),
    merchant: reportedMerchant(outer),
    finished_at: parseCstDateTime(plain.success_time),
    provider_state: status,
  };
}
