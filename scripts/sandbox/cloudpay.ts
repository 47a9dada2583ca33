/**
 * A cloudPay sandbox written from protocols/wechatpay.md §3: `cloud.cloudPay` as the local Cloud sees it
 * (camelCase answers, `payment` ready for wx.requestPayment, totalFee must be a Number), plus the payer and
 * the refund desk, which deliver result callbacks to the configured function as cloudPay does.
 */
import { randomBytes } from 'crypto';
import { md5Hex } from '../../shared/crypto/hash';
import { sortedQuery } from '../../shared/crypto/query';
import type { CloudPay } from '../../shared/runtime/port';
import { json, jsonBody, type Sandbox, type SandboxResponse } from './types';

/** CloudBase's own service-provider ids, as the docs' examples show them. */
const SP = { appid: 'wxd2565e6a04246fd1', mchId: '1800780001' };

interface Order {
  params: Record<string, unknown>;
  state: 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'REFUND';
  prepayId: string;
  transactionId?: string;
  timeEnd?: string;
  refunded: number;
}
interface Refund {
  subMchId: string;
  outTradeNo: string;
  outRefundNo: string;
  refundId: string;
  refundFee: number;
  totalFee: number;
  status: 'PROCESSING' | 'SUCCESS' | 'REFUNDCLOSE' | 'CHANGE';
  envId: string;
  functionName: string;
}

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
const cstCompact = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 19).replace(/[-T:]/g, '');
/** How the SDK rejects a call whose parameters are wrong. */
const sdkError = (api: string, errCode: number, msg: string) => Object.assign(new Error(`cloudPay.${api}:fail ${errCode} ${msg}`), { errCode, errMsg: `cloudPay.${api}:fail ${msg}` });
const pick = (p: Record<string, unknown>, camel: string) => p[camel] ?? p[camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];

export function cloudPaySandbox(deliver: (functionName: string, event: Record<string, unknown>) => Promise<unknown>): Sandbox & {
  cloudPay: CloudPay;
  order(subMchId: string, outTradeNo: string): Order | undefined;
} {
  const orders = new Map<string, Order>();
  const refunds = new Map<string, Refund>();
  const key = (sub: unknown, no: unknown) => `${String(sub)}/${String(no)}`;
  const ok = (api: string, fields: Record<string, unknown>) => ({ returnCode: 'SUCCESS', returnMsg: 'OK', resultCode: 'SUCCESS', ...SP, nonceStr: randomBytes(8).toString('hex'), errMsg: `cloudPay.${api}:ok`, ...fields });
  const fail = (api: string, errCode: string, des: string, fields: Record<string, unknown> = {}) => ({ ...ok(api, fields), resultCode: 'FAIL', errCode, errCodeDes: des });

  const cloudPay: CloudPay = {
    async unifiedOrder(p) {
      for (const f of ['body', 'outTradeNo', 'spbillCreateIp', 'subMchId', 'totalFee', 'envId', 'functionName', 'nonceStr']) {
        if (p[f] === undefined || p[f] === '') throw sdkError('unifiedOrder', -202, `parameter.${f} should exist`);
      }
      if (typeof p.totalFee !== 'number' || !Number.isInteger(p.totalFee) || p.totalFee <= 0) throw sdkError('unifiedOrder', -202, 'parameter.totalFee should be Number');
      const k = key(p.subMchId, p.outTradeNo);
      let o = orders.get(k);
      if (o?.state === 'SUCCESS' || o?.state === 'REFUND') return fail('unifiedOrder', 'ORDERPAID', '该订单已支付');
      if (o?.state === 'CLOSED') return fail('unifiedOrder', 'ORDERCLOSED', '该订单已关闭');
      if (o && o.params.totalFee !== p.totalFee) return fail('unifiedOrder', 'INVALID_REQUEST', '商户订单号重复');
      if (!o) orders.set(k, (o = { params: p, state: 'NOTPAY', prepayId: `wx${digits(30)}`, refunded: 0 }));
      const payment = { appId: SP.appid, timeStamp: String(Math.floor(Date.now() / 1000)), nonceStr: randomBytes(8).toString('hex'), package: `prepay_id=${o.prepayId}`, signType: 'MD5' };
      // CloudBase signs with its own key, which nobody outside has: any stable MD5 stands in for it here.
      const paySign = md5Hex(`${sortedQuery(payment)}&key=sandbox`).toUpperCase();
      return ok('unifiedOrder', { subMchId: p.subMchId, tradeType: 'JSAPI', prepayId: o.prepayId, payment: { ...payment, paySign } });
    },
    async queryOrder(p) {
      const o = orders.get(key(pick(p, 'subMchId'), pick(p, 'outTradeNo')));
      if (!o) return fail('queryOrder', 'ORDERNOTEXIST', '订单不存在');
      return ok('queryOrder', {
        subMchId: o.params.subMchId,
        tradeState: o.state,
        outTradeNo: o.params.outTradeNo,
        totalFee: o.params.totalFee,
        cashFee: o.params.totalFee,
        feeType: 'CNY',
        transactionId: o.transactionId,
        timeEnd: o.timeEnd,
      });
    },
    async closeOrder(p) {
      const o = orders.get(key(pick(p, 'subMchId'), pick(p, 'outTradeNo')));
      if (!o) return fail('closeOrder', 'ORDERNOTEXIST', '订单不存在');
      if (o.state === 'SUCCESS' || o.state === 'REFUND') return fail('closeOrder', 'ORDERPAID', '订单已支付');
      if (o.state === 'CLOSED') return fail('closeOrder', 'ORDERCLOSED', '订单已关闭');
      o.state = 'CLOSED';
      return ok('closeOrder', {});
    },
    async refund(p) {
      const sub = pick(p, 'subMchId');
      const o = orders.get(key(sub, pick(p, 'outTradeNo')));
      if (!o || (o.state !== 'SUCCESS' && o.state !== 'REFUND')) return fail('refund', 'ERROR', '订单未支付或不存在');
      const no = String(pick(p, 'outRefundNo'));
      const fee = Number(pick(p, 'refundFee'));
      let r = refunds.get(key(sub, no));
      if (!r) {
        if (Number(pick(p, 'totalFee')) !== o.params.totalFee) return fail('refund', 'INVALID_REQUEST', '订单金额不一致');
        if (!(fee > 0) || fee > Number(o.params.totalFee) - o.refunded) return fail('refund', 'NOTENOUGH', '退款金额大于可退金额');
        o.refunded += fee;
        o.state = 'REFUND';
        r = { subMchId: String(sub), outTradeNo: String(o.params.outTradeNo), outRefundNo: no, refundId: `50${digits(26)}`, refundFee: fee, totalFee: Number(o.params.totalFee), status: 'PROCESSING', envId: String(pick(p, 'envId')), functionName: String(pick(p, 'functionName')) };
        refunds.set(key(sub, no), r);
      }
      return ok('refund', { subMchId: sub, outTradeNo: r.outTradeNo, outRefundNo: r.outRefundNo, refundId: r.refundId, refundFee: r.refundFee, totalFee: r.totalFee });
    },
    async queryRefund(p) {
      const r = refunds.get(key(pick(p, 'subMchId'), pick(p, 'outRefundNo')));
      if (!r) return fail('queryRefund', 'REFUNDNOTEXIST', '退款订单查询失败');
      return ok('queryRefund', { subMchId: r.subMchId, outTradeNo: r.outTradeNo, totalFee: r.totalFee, refundCount: 1, outRefundNo0: r.outRefundNo, refundId0: r.refundId, refundFee0: r.refundFee, refundStatus0: r.status });
    },
  };

  /** `POST /pay {out_trade_no}`: the payer pays; the camelCase pay callback goes to the order's function. */
  async function pay(body: Record<string, unknown>): Promise<SandboxResponse> {
    const o = [...orders.values()].find((x) => x.params.outTradeNo === body.out_trade_no);
    if (!o) return json(404, { error: `no order ${String(body.out_trade_no)} in the cloudPay sandbox` });
    if (o.state !== 'NOTPAY' && o.state !== 'SUCCESS') return json(409, { error: `order is ${o.state}` });
    o.state = 'SUCCESS';
    o.transactionId ??= `4200${digits(24)}`;
    o.timeEnd ??= cstCompact();
    const event = {
      returnCode: 'SUCCESS',
      ...SP,
      subMchId: o.params.subMchId,
      nonceStr: randomBytes(8).toString('hex'),
      resultCode: 'SUCCESS',
      openid: 'oSP-openid',
      isSubscribe: 'N',
      subOpenid: o.params.subOpenid ?? o.params.openid ?? 'o-sub-openid',
      subIsSubscribe: 'N',
      tradeType: 'JSAPI',
      bankType: 'OTHERS',
      totalFee: o.params.totalFee,
      feeType: 'CNY',
      cashFee: o.params.totalFee,
      transactionId: o.transactionId,
      outTradeNo: o.params.outTradeNo,
      timeEnd: o.timeEnd,
    };
    return json(200, { out_trade_no: o.params.outTradeNo, transaction_id: o.transactionId, callback: await deliver(String(o.params.functionName), event) });
  }

  /** `POST /refund {out_refund_no, result?}`: the refund ends; the (snake_case) refund callback is delivered. */
  async function finishRefund(body: Record<string, unknown>): Promise<SandboxResponse> {
    const r = [...refunds.values()].find((x) => x.outRefundNo === body.out_refund_no);
    if (!r) return json(404, { error: `no refund ${String(body.out_refund_no)} in the cloudPay sandbox` });
    const status = body.result === 'REFUNDCLOSE' || body.result === 'CHANGE' ? body.result : 'SUCCESS';
    if (r.status === 'PROCESSING') {
      r.status = status;
      if (status === 'REFUNDCLOSE') orders.get(key(r.subMchId, r.outTradeNo))!.refunded -= r.refundFee;
    }
    const event = {
      return_code: 'SUCCESS',
      appid: SP.appid,
      mch_id: SP.mchId,
      sub_mch_id: r.subMchId,
      out_trade_no: r.outTradeNo,
      out_refund_no: r.outRefundNo,
      refund_id: r.refundId,
      total_fee: r.totalFee,
      refund_fee: r.refundFee,
      refund_status: r.status,
    };
    return json(200, { out_refund_no: r.outRefundNo, refund_status: r.status, callback: await deliver(r.functionName, event) });
  }

  return {
    name: 'cloudpay',
    cloudPay,
    order: (sub, no) => orders.get(key(sub, no)),
    async handle(req) {
      const body = jsonBody(req);
      if (req.method !== 'POST') return json(405, { error: 'POST only' });
      if (req.path === '/pay') return pay(body);
      if (req.path === '/refund') return finishRefund(body);
      return json(404, { error: 'routes: POST /pay {out_trade_no}, POST /refund {out_refund_no, result?}' });
    },
  };
}
