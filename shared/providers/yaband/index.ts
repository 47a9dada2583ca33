import { configMissing, conflict, notSupported, providerUnavailable } from '../../core/errors';
import { answeredAboutAnother } from '../fields';
import type { PaymentProvider, PaymentReport } from '../types';
import { call, queryOrder } from './client';
import * as notify from './notify';
import * as t from './transform';
import { PAGE_METHODS, YABAND_CURRENCIES, type YabandMerchant } from './wire';

/** How far the refund query's window reaches beyond the refund's creation and now, for clock skew. */
const REFUND_WINDOW_MARGIN_MS = 10 * 60_000;

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
        settlement: t.settlementOf(data),
      };
    }
    const subPayMethod = PAGE_METHODS[input.pay_method];
    if (!subPayMethod) throw notSupported(`pay_method "${input.pay_method}" is not offered by yaband`);
    const data = await call(ctx, 'v3.CreatePayments', t.pagePaymentData(m, input, subPayMethod, ctx.notifyUrl));
    const url = t.str(data, 'url');
    if (!url) throw providerUnavailable('YabandPay v3.CreatePayments answered without url; try again');
    return { kind: 'redirect', url, provider_trade_no: t.str(data, 'trade_id'), settlement: t.settlementOf(data) };
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

  // Yaband pays a CNY payment out in EUR, and can refund it in EUR (config refund_currency).
  refundsInSettlementCurrency: true,

  /**
   * Yaband has no query for one refund: `refund_query_method` lists the account's refunds of a time window
   * (from the refund's creation to now) [?], and ours is the entry with our `m_refund_id`, which must be of the
   * order's trade. Not listed proves nothing (the method is an assumption): the refund stays in flight.
   */
  async queryRefund(ctx, outRefundNo, refund) {
    if (!refund) throw notSupported('a YabandPay refund is found through its order: query it with queryrefund');
    if (!refund.provider_trade_no) throw conflict(`order ${refund.out_trade_no} has no YabandPay trade_id, so refund ${outRefundNo} was never sent`);
    const m = ctx.config;
    const at = (ms: number) => (m.time_unit === 'ms' ? ms : Math.floor(ms / 1000));
    const method = m.refund_query_method;
    const data = await call(ctx, method, { start_time: at(refund.created_at - REFUND_WINDOW_MARGIN_MS), end_time: at(ctx.clock.now() + REFUND_WINDOW_MARGIN_MS) });
    const entries = t.refundEntries(data).filter((e) => t.str(e, 'm_refund_id') === outRefundNo);
    if (!entries.length) return { out_refund_no: outRefundNo, out_trade_no: refund.out_trade_no, state: 'PROCESSING' };
    for (const entry of entries) {
      const other = answeredAboutAnother(
        ctx.log,
        `YabandPay ${method}`,
        { trade_id: refund.provider_trade_no, order_id: refund.out_trade_no },
        { trade_id: t.str(entry, 'trade_id'), order_id: t.str(entry, 'order_id') },
      );
      if (other) throw other;
    }
    // Several entries under our number (a failed try, then one made on a resend): one that was made wins, so
    // a refund that left the merchant is never ended as failed and refunded again.
    const reports = entries.map((e) => t.refundReport(m, e, refund.out_trade_no));
    return reports.find((r) => r.state === 'SUCCESS') ?? reports.find((r) => r.state === 'PROCESSING') ?? reports[0];
  },

  notify: {
    peek: notify.peek,
    verify: notify.verify,
    reply: notify.reply,
  },
};
