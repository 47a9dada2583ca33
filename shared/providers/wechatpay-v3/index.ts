import { providerUnavailable } from '../../core/errors';
import { nonce } from '../../crypto/nonce';
import type { PaymentProvider, RefundReport } from '../types';
import { call, rejected } from './client';
import * as notify from './notify';
import * as t from './transform';
import type { V3Merchant, V3Refund, V3Transaction } from './wire';

const has = (code: string | undefined, ...names: string[]) => !!code && names.includes(code);

/** WeChat Pay API v3 as a direct merchant (`v3`) or as a service provider for a sub-merchant (`v3sp`). */
export function wechatPayV3(id: 'v3' | 'v3sp'): PaymentProvider<V3Merchant> {
  return {
    id,
    currencies: ['CNY'],
    methods: ['wechat'],
    maxAmount: 2 ** 31 - 1,
    merchantIds: t.merchantIds,

    async create(ctx, input) {
      const m = ctx.config;
      const a = await call<{ prepay_id: string }>(ctx, 'jsapi', 'POST', t.orderEndpoint(m), t.orderBody(m, input, ctx.notifyUrl));
      if (has(a.error?.code, 'ORDERPAID', 'ORDER_PAID')) return { kind: 'already_paid' };
      if (has(a.error?.code, 'ORDER_CLOSED', 'ORDERCLOSED')) return { kind: 'already_closed' };
      if (a.error) throw rejected('jsapi', a);
      if (!a.data?.prepay_id) throw providerUnavailable('WeChat Pay jsapi answered without prepay_id; try again');
      const now = ctx.clock.now();
      return { kind: 'pay', prepay_id: a.data.prepay_id, prepay_expires_at: now + 2 * 3600_000, payment: t.requestPayment(m, a.data.prepay_id, nonce(32), now) };
    },

    repay: (ctx, prepayId) => t.requestPayment(ctx.config, prepayId, nonce(32), ctx.clock.now()),

    async query(ctx, outTradeNo) {
      const m = ctx.config;
      const a = await call<V3Transaction>(ctx, 'query', 'GET', `${t.orderPath(m, outTradeNo)}${t.queryString(m)}`);
      if (has(a.error?.code, 'ORDER_NOT_EXIST', 'ORDERNOTEXIST', 'RESOURCE_NOT_EXISTS')) return { out_trade_no: outTradeNo, state: 'NOT_FOUND' };
      if (a.error || !a.data) throw rejected('query', a);
      return t.paymentReport(a.data);
    },

    async close(ctx, outTradeNo) {
      const a = await call(ctx, 'close', 'POST', t.orderPath(ctx.config, outTradeNo, '/close'), t.closeBody(ctx.config));
      if (has(a.error?.code, 'ORDERPAID', 'ORDER_PAID')) return 'PAID';
      // Closed already, or never reached WeChat: nothing can be paid under it.
      if (!a.error || has(a.error.code, 'ORDER_CLOSED', 'ORDERCLOSED', 'ORDER_NOT_EXIST', 'ORDERNOTEXIST')) return 'CLOSED';
      throw rejected('close', a);
    },

    async refund(ctx, input): Promise<RefundReport> {
      const a = await call<V3Refund>(ctx, 'refund', 'POST', '/v3/refund/domestic/refunds', t.refundBody(ctx.config, input, ctx.notifyUrl));
      if (a.error || !a.data) throw rejected('refund', a);
      return t.refundReport({ ...a.data, out_refund_no: a.data.out_refund_no ?? input.out_refund_no });
    },

    async queryRefund(ctx, outRefundNo) {
      const a = await call<V3Refund>(ctx, 'refund query', 'GET', t.refundQueryPath(ctx.config, outRefundNo));
      if (has(a.error?.code, 'RESOURCE_NOT_EXISTS')) return { out_refund_no: outRefundNo, state: 'NOT_FOUND' };
      if (a.error || !a.data) throw rejected('refund query', a);
      return t.refundReport(a.data);
    },

    notify: { peek: notify.peek, verify: notify.verify, reply: notify.reply },
  };
}
