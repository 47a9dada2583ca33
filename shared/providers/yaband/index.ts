import { configMissing, conflict, notSupported, providerUnavailable } from '../../core/errors';
import type { PaymentProvider, PaymentReport } from '../types';
import { call, queryOrder } from './client';
import * as notify from './notify';
import * as t from './transform';
import { PAGE_METHODS, YABAND_CURRENCIES, type YabandMerchant } from './wire';

/** Answers to a create for an order_id Yaband already settled. */
const SETTLED: Partial<Record<PaymentReport['state'], 'already_paid' | 'already_closed'>> = { PAID: 'already_paid', CLOSED: 'already_closed', FAILED: 'already_closed' };

/**
 * YabandPay (v3 API): WeChat Pay in the mini-program through `v3.CreatePaymentsWechatMiniPay`, payment pages
 * for the other methods through `v3.CreatePayments`, both keyed afterwards by Yaband's `trade_id`.
 */
export const yaband: PaymentProvider<YabandMerchant> = {
  id: 'yaband',
  currencies: YABAND_CURRENCIES,
  methods: ['wechat', ...Object.keys(PAGE_METHODS)],
  maxAmount: Number.MAX_SAFE_INTEGER, // no documented limit: config max_amount is the cap
  merchantIds: t.merchantIds,

  async create(ctx, input) {
    const m = ctx.config;
    if (input.pay_method === 'wechat') {
      const subAppId = m.sub_app_id ?? input.payer_appid;
      if (!subAppId) throw configMissing('YabandPay needs the paying mini-program: the call carried no APPID, so set config/payment.yaband.sub_app_id');
      const data = await call(ctx, 'v3.CreatePaymentsWechatMiniPay', t.miniPayData(m, input, subAppId, ctx.notifyUrl));
      // Already settled there: its trade id goes with the answer, so the follow-up query can ask about it.
      const settled = SETTLED[t.paymentState(t.str(data, 'state'))];
      if (settled) return { kind: settled, provider_trade_no: t.str(data, 'trade_id') };
      const payment = t.requestPayment(data.parameters);
      const tradeId = t.str(data, 'trade_id');
      if (!payment || !tradeId) throw providerUnavailable('YabandPay v3.CreatePaymentsWechatMiniPay answered without trade_id or parameters; try again');
      return {
        kind: 'pay',
        payment,
        prepay_id: payment.package.replace(/^prepay_id=/, ''),
        prepay_expires_at: ctx.clock.now() + 2 * 3600_000, // WeChat's prepay_id lives 2 hours
        provider_trade_no: tradeId,
      };
    }
    const subPayMethod = PAGE_METHODS[input.pay_method];
    if (!subPayMethod) throw notSupported(`pay_method "${input.pay_method}" is not offered by yaband`);
    const data = await call(ctx, 'v3.CreatePayments', t.pagePaymentData(m, input, subPayMethod, ctx.notifyUrl));
    const url = t.str(data, 'url');
    if (!url) throw providerUnavailable('YabandPay v3.CreatePayments answered without url; try again');
    return { kind: 'redirect', url, provider_trade_no: t.str(data, 'trade_id') };
  },

  async query(ctx, outTradeNo, tradeId) {
    // No trade_id: Yaband never answered the create, so the payer never got anything to pay with.
    if (!tradeId) return { out_trade_no: outTradeNo, state: 'NOT_FOUND' };
    return t.paymentReport(ctx.config, await queryOrder(ctx, tradeId, outTradeNo), outTradeNo);
  },

  async close(ctx, outTradeNo, tradeId) {
    const report = await yaband.query(ctx, outTradeNo, tradeId);
    if (report.state === 'PAID') return 'PAID';
    if (report.state === 'PENDING') {
      // v3 has no cancel: the payment stays payable at Yaband until the `timeout` it was created with.
      throw conflict(
        `YabandPay cannot cancel a payment: order ${outTradeNo} stays payable there until it expires (its own lifetime, or config/payment.yaband.timeout_minutes); close it after that`,
      );
    }
    return 'CLOSED';
  },

  async refund(ctx, input) {
    if (!input.provider_trade_no) throw conflict(`order ${input.out_trade_no} has no YabandPay trade_id to refund; query it first`);
    const data = await call(ctx, 'v3.CreateRefund', t.refundData(input, input.provider_trade_no, ctx.notifyUrl));
    return {
      out_refund_no: input.out_refund_no,
      out_trade_no: input.out_trade_no,
      state: 'PROCESSING', // accepted only: the refund notification is final
      refund_id: t.str(data, 'refund_id'),
      amount: input.amount,
    };
  },

  async queryRefund() {
    throw notSupported(
      'YabandPay has no refund query: a refund ends with its notification; to send a refund again, call refund with the same out_refund_no (it is Yaband\'s m_refund_id)',
    );
  },

  notify: {
    peek: notify.peek,
    verify: notify.verify,
    reply: notify.reply,
  },
};
