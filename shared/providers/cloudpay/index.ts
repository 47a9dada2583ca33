import { configInvalid, providerRejected, providerUnavailable } from '../../core/errors';
import { nonce } from '../../crypto/nonce';
import type { CloudPay } from '../../runtime/port';
import type { PaymentProvider, ProviderCtx } from '../types';
import * as t from './transform';
import type { CloudPayAnswer, CloudPayMerchant } from './wire';

type Ctx = ProviderCtx<CloudPayMerchant>;

/** `err_code`s after which the same call may be made again unchanged. */
const RETRYABLE = ['SYSTEMERROR', 'BIZERR_NEED_RETRY', 'FREQUENCY_LIMITED'];

/**
 * One cloudPay call. The SDK rejects on transport or parameter errors (errCode -202, -501001: the call's
 * shape is wrong, a config or code error); a FAIL returnCode is a refusal; `handled` err_codes come back.
 */
async function call(ctx: Ctx, api: keyof CloudPay, params: Record<string, unknown>, handled: string[] = []): Promise<CloudPayAnswer> {
  let a: CloudPayAnswer;
  try {
    a = (await ctx.cloudPay[api](params)) as CloudPayAnswer;
  } catch (err) {
    const e = err as { errCode?: number; errMsg?: string; message?: string };
    const text = `cloudPay.${api} failed: ${e.errCode ?? ''} ${e.errMsg ?? e.message ?? ''}`.trim();
    if (e.errCode === -202 || e.errCode === -501001) throw configInvalid(`${text}; check config/payment.cloudpay (sub_mchid bound in the cloud console, env_id)`);
    throw providerUnavailable(`${text}; try again`);
  }
  if (a.returnCode !== 'SUCCESS') throw providerRejected(a.returnCode ?? 'FAIL', `cloudPay.${api} refused: ${a.returnMsg ?? 'no reason given'}`);
  if (a.resultCode === 'SUCCESS' || (a.errCode && handled.includes(a.errCode))) return a;
  if (a.errCode && RETRYABLE.includes(a.errCode)) throw providerUnavailable(`cloudPay.${api}: ${a.errCode}; try again with the same order number`);
  throw providerRejected(a.errCode ?? 'FAIL', `cloudPay.${api}: ${a.errCodeDes ?? a.errCode ?? 'failed'}`);
}

/** cloudPay: no certificates, no signatures; CloudBase is the service provider, the merchant its sub-merchant. */
export const cloudPay: PaymentProvider<CloudPayMerchant> = {
  id: 'cloudpay',
  currencies: ['CNY'],
  methods: ['wechat'],
  maxAmount: 2 ** 31 - 1,
  // The provider-level ids in answers are CloudBase's own; only the sub-merchant is the merchant's.
  merchantIds: (m) => ({ sub_mchid: m.sub_mchid }),

  async create(ctx, input) {
    const a = await call(ctx, 'unifiedOrder', t.unifiedOrderParams(ctx.config, input, nonce(32)), ['ORDERPAID', 'ORDERCLOSED']);
    if (a.errCode === 'ORDERPAID') return { kind: 'already_paid' };
    if (a.errCode === 'ORDERCLOSED') return { kind: 'already_closed' };
    const payment = a.payment as Record<string, string> | undefined;
    if (!payment?.package || !payment.paySign) throw providerUnavailable('cloudPay.unifiedOrder answered without payment; try again');
    // Passed on unchanged: the paySign covers these exact values (rebuilding timeStamp breaks it).
    return {
      kind: 'pay',
      prepay_id: t.field(a, 'prepayId') ?? payment.package.replace(/^prepay_id=/, ''),
      prepay_expires_at: ctx.clock.now() + 2 * 3600_000,
      payment: { appId: payment.appId, timeStamp: payment.timeStamp, nonceStr: payment.nonceStr, package: payment.package, signType: payment.signType, paySign: payment.paySign },
    };
  },

  async query(ctx, outTradeNo) {
    const a = await call(ctx, 'queryOrder', { sub_mch_id: ctx.config.sub_mchid, out_trade_no: outTradeNo, nonce_str: nonce(32) }, ['ORDERNOTEXIST']);
    if (a.errCode === 'ORDERNOTEXIST') return { out_trade_no: outTradeNo, state: 'NOT_FOUND' };
    return t.paymentReport({ ...a, outTradeNo: t.field(a, 'outTradeNo') ?? outTradeNo });
  },

  async close(ctx, outTradeNo) {
    const a = await call(ctx, 'closeOrder', { sub_mch_id: ctx.config.sub_mchid, out_trade_no: outTradeNo, nonce_str: nonce(32) }, [
      'ORDERPAID',
      'ORDERCLOSED',
      'ORDERNOTEXIST',
    ]);
    return a.errCode === 'ORDERPAID' ? 'PAID' : 'CLOSED';
  },

  async refund(ctx, input) {
    const m = ctx.config;
    const params: Record<string, unknown> = {
      sub_mch_id: m.sub_mchid,
      nonce_str: nonce(32),
      out_trade_no: input.out_trade_no,
      out_refund_no: input.out_refund_no,
      total_fee: input.total,
      refund_fee: input.amount,
      envId: m.env_id,
      functionName: m.function_name,
    };
    if (input.transaction_id) params.transaction_id = input.transaction_id;
    if (input.reason) params.refund_desc = input.reason.slice(0, 80);
    const a = await call(ctx, 'refund', params);
    return { ...t.refundReport(a, input.out_refund_no), out_trade_no: input.out_trade_no, state: 'PROCESSING' };
  },

  async queryRefund(ctx, outRefundNo) {
    const a = await call(ctx, 'queryRefund', { sub_mch_id: ctx.config.sub_mchid, out_refund_no: outRefundNo, nonce_str: nonce(32) }, ['REFUNDNOTEXIST']);
    if (a.errCode === 'REFUNDNOTEXIST') return { out_refund_no: outRefundNo, state: 'NOT_FOUND' };
    // Its refund lists are indexed like v2's (refundStatus0 / refund_status_0); reported empty at times.
    const count = Number(t.field(a, 'refundCount') ?? 0);
    for (let i = 0; i < count; i++) {
      const r = t.refundReport(a, undefined, i);
      if (r.out_refund_no === outRefundNo) return r;
    }
    return { out_refund_no: outRefundNo, state: 'PROCESSING' };
  },
};
