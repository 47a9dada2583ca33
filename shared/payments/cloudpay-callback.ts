import { callerFrom } from '../core/handler';
import { field, paymentReport, refundReport } from '../providers/cloudpay/transform';
import type { CloudPayCallback } from '../providers/cloudpay/wire';
import type { PaymentReport, RefundReport } from '../providers/types';
import type { Cloud } from '../runtime/port';
import { recordEvent } from '../store/events';
import { getOrder, type PayOrder } from '../store/orders';
import { getRefund } from '../store/refunds';
import { applyPaymentReport, applyRefundReport, type Applied } from './apply';
import { queryOrderAtProvider } from './provider-query';
import { paymentConfigs, providerContext } from './context';

/** What the cloudPay callback must answer: errcode 0 stops the deliveries, anything else asks again (for two days). */
export interface CloudPayReply {
  errcode: number;
  errmsg: string;
}

/** Is this plain function event a cloudPay result? (Pay callbacks carry outTradeNo, refund callbacks out_refund_no.) */
export function isCloudPayCallback(event: unknown): event is CloudPayCallback {
  const e = event as Record<string, unknown> | null;
  return !!e && typeof e === 'object' && !Array.isArray(e) && (field(e, 'outTradeNo') !== undefined || field(e, 'outRefundNo') !== undefined);
}

async function forOrder(cloud: Cloud, outTradeNo: string | undefined) {
  const order = outTradeNo ? await getOrder(cloud.store, outTradeNo) : null;
  if (!order || order.provider !== 'cloudpay') return null;
  const loaded = await paymentConfigs.byId(cloud.store, cloud.clock, order.config_id);
  return { order, loaded, ...providerContext(cloud, loaded, 'cloudpay') };
}

/** A pay result: believed as it stands only if it matches the order; any doubt is settled by queryOrder. */
async function payment(cloud: Cloud, e: CloudPayCallback): Promise<Applied & { report?: PaymentReport }> {
  const claimed = paymentReport(e, field(e, 'resultCode') === 'SUCCESS' ? 'PAID' : 'FAILED');
  const found = await forOrder(cloud, claimed.out_trade_no);
  if (!found) return { outcome: 'rejected', reason: 'unknown cloudpay order', settled: false };
  const { order, loaded, provider, ctx } = found;
  const consistent =
    field(e, 'returnCode') === 'SUCCESS' &&
    claimed.state === 'PAID' &&
    claimed.amount === order.amount &&
    claimed.merchant?.sub_mchid === order.merchant.sub_mchid &&
    !!claimed.transaction_id;
  const report = consistent ? claimed : await queryOrderAtProvider(provider, ctx, order);
  return { ...(await applyPaymentReport(cloud, loaded.config, order, report)), report };
}

/** A refund result: applied against the refund record; a callback without the amount is confirmed by query. */
async function refund(cloud: Cloud, e: CloudPayCallback): Promise<Applied & { report?: RefundReport }> {
  const claimed = refundReport(e);
  const record = await getRefund(cloud.store, claimed.out_refund_no);
  const found = record ? await forOrder(cloud, record.out_trade_no) : null;
  if (!record || !found) return { outcome: 'rejected', reason: 'unknown cloudpay refund', settled: false };
  const sub = claimed.merchant?.sub_mchid;
  if (sub && sub !== found.order.merchant.sub_mchid) return { outcome: 'rejected', reason: 'sub_mch_id is not the order’s', settled: false };
  const report = claimed.amount !== undefined ? claimed : await found.provider.queryRefund(found.ctx, record._id);
  const applied = await applyRefundReport(cloud, record, report);
  // Not final yet (the callback lacked the amount and the query could not tell): ask cloudPay to come again.
  if (report.state === 'PROCESSING' || report.state === 'NOT_FOUND') return { ...applied, settled: false, report };
  return { ...applied, report };
}

/**
 * cloudPay's result callback, a plain function call with no signature. Only the platform's own delivery
 * (SOURCE wx_paycallback) is heard: a mini-program calling `notify` itself is refused. Every delivery is
 * recorded; errcode 0 only once the result is safely stored.
 */
export async function handleCloudPayCallback(cloud: Cloud, e: CloudPayCallback): Promise<CloudPayReply> {
  const receivedAt = cloud.clock.now();
  const isRefund = field(e, 'outRefundNo') !== undefined;
  const base = { provider: 'cloudpay', kind: isRefund ? ('refund' as const) : ('payment' as const), received_at: receivedAt, fields: e };
  const source = callerFrom(cloud.context()).source;
  if (!source.split(',').includes('wx_paycallback')) {
    await recordEvent(cloud.store, { ...base, dedupe_key: 'cloudpay:unverified', outcome: 'rejected', reason: `SOURCE ${source || 'empty'}` });
    return { errcode: 403, errmsg: 'only cloudPay itself (SOURCE wx_paycallback) may deliver payment results' };
  }
  const r = isRefund ? await refund(cloud, e) : await payment(cloud, e);
  const no = isRefund ? field(e, 'outRefundNo') : field(e, 'outTradeNo');
  await recordEvent(cloud.store, {
    ...base,
    dedupe_key: `cloudpay:${base.kind}:${no}:${field(e, isRefund ? 'refundStatus' : 'transactionId') ?? ''}`,
    out_trade_no: (r.order as PayOrder | undefined)?.out_trade_no ?? field(e, 'outTradeNo'),
    out_refund_no: isRefund ? no : undefined,
    outcome: r.outcome,
    reason: r.reason,
  });
  if (r.outcome === 'rejected') {
    cloud.log.warn('cloudPay callback rejected', { no, reason: r.reason });
    return { errcode: 1, errmsg: r.reason ?? 'rejected' };
  }
  return r.settled ? { errcode: 0, errmsg: 'OK' } : { errcode: 1, errmsg: 'processing not complete; retry' };
}
