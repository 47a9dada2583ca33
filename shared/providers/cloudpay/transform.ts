import type { CreatePaymentInput, PaymentReport, RefundReport } from '../types';
import { formatCstCompact, parseCstCompact } from '../../core/clock';
import type { CloudPayAnswer, CloudPayCallback, CloudPayMerchant } from './wire';
import { paymentState, refundState } from '../wechat-states';

/** A field under its camelCase or snake_case name, as a string. */
export function field(o: Record<string, unknown>, camel: string): string | undefined {
  const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const v = o[camel] ?? o[snake];
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

const int = (o: Record<string, unknown>, camel: string) => {
  const s = field(o, camel);
  return s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : undefined;
};

export function unifiedOrderParams(m: CloudPayMerchant, input: CreatePaymentInput, nonceStr: string): Record<string, unknown> {
  const p: Record<string, unknown> = {
    body: input.description.slice(0, 127),
    outTradeNo: input.out_trade_no,
    spbillCreateIp: input.client_ip,
    subMchId: m.sub_mchid,
    totalFee: input.amount, // a Number: a string is refused (-202)
    envId: m.env_id,
    functionName: m.function_name,
    nonceStr,
    tradeType: 'JSAPI',
    timeStart: formatCstCompact(input.created_at),
    timeExpire: formatCstCompact(input.expires_at),
  };
  if (m.payer_field === 'openid') p.openid = input.payer_openid;
  if (m.payer_field === 'sub_openid') p.subOpenid = input.payer_openid;
  return p;
}

/** A queryOrder answer or a pay callback (same fields) in domain terms. */
export function paymentReport(a: CloudPayAnswer | CloudPayCallback, state?: PaymentReport['state']): PaymentReport {
  const tradeState = field(a, 'tradeState');
  const s = state ?? paymentState(tradeState);
  const sub = field(a, 'subMchId');
  return {
    out_trade_no: field(a, 'outTradeNo') ?? '',
    state: s,
    amount: int(a, 'totalFee'),
    currency: field(a, 'feeType') ?? 'CNY',
    transaction_id: field(a, 'transactionId'),
    provider_trade_no: field(a, 'transactionId'),
    merchant: sub ? { sub_mchid: sub } : {},
    payer_openid: field(a, 'subOpenid') ?? field(a, 'openid'),
    paid_at: s === 'PAID' ? parseCstCompact(field(a, 'timeEnd')) : undefined,
    provider_state: tradeState ?? field(a, 'resultCode'),
  };
}

/** A refund callback, or one refund from a refund answer, in domain terms. */
export function refundReport(a: CloudPayAnswer | CloudPayCallback, outRefundNo?: string, index?: number): RefundReport {
  const at = (name: string) => (index === undefined ? field(a, name) : field(a, `${name}${index}`) ?? field(a, `${name}_${index}`));
  const status = at('refundStatus') ?? 'PROCESSING';
  const sub = field(a, 'subMchId');
  const amount = at('refundFee');
  return {
    out_refund_no: outRefundNo ?? at('outRefundNo') ?? '',
    out_trade_no: field(a, 'outTradeNo'),
    state: refundState(status),
    refund_id: at('refundId'),
    amount: amount !== undefined && /^[0-9]+$/.test(amount) ? Number(amount) : undefined,
    total: int(a, 'totalFee'),
    merchant: sub ? { sub_mchid: sub } : {},
    provider_state: status,
  };
}
