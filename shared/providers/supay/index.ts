import { AppError, providerRejected, providerUnavailable } from '../../core/errors';
import { toMajor } from '../../core/money';
import { answeredAboutAnother } from '../fields';
import type { PaymentProvider, PaymentReport, ProviderCtx, RefundReport } from '../types';
import * as notify from './notify';
import * as t from './transform';
import { NOT_EXIST, SUPAY_CURRENCIES, SUPAY_ORDER_PATH, URL_METHODS, type SuPayFields, type SuPayMerchant, type SuPayService } from './wire';

type Ctx = ProviderCtx<SuPayMerchant>;

/**
 * One signed call to the order endpoint. Returns the answer's `data` as flat strings once SuPay accepted the
 * request (`status` T and `data.result` true; a `sign` in it must verify), or null for an F answer that says
 * the number is unknown when `unknownIsNull` is set.
 */
async function call(ctx: Ctx, service: SuPayService, fields: SuPayFields): Promise<SuPayFields>;
async function call(ctx: Ctx, service: SuPayService, fields: SuPayFields, unknownIsNull: true): Promise<SuPayFields | null>;
async function call(ctx: Ctx, service: SuPayService, fields: SuPayFields, unknownIsNull = false): Promise<SuPayFields | null> {
  const m = ctx.config;
  const req: SuPayFields = { service, mch_id: m.mch_id, charset: 'UTF-8', version: '1.0', ...fields };
  const res = await ctx.http.request({
    method: 'POST',
    url: `${m.api_base.replace(/\/+$/, '')}${SUPAY_ORDER_PATH}`,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ ...req, sign: t.sign(req, m.key), sign_type: 'MD5' }),
  });
  if (res.status !== 200) throw providerUnavailable(`SuPay ${service} answered HTTP ${res.status}; try again`);
  const a = t.answerOf(res.body);
  if (!a) throw providerUnavailable(`SuPay ${service} answered in an unexpected shape; try again`);
  const message = (a.message ?? '').slice(0, 200);
  if (a.status === 'F') {
    if (unknownIsNull && NOT_EXIST.test(message)) return null;
    // A signature refusal almost always means a wrong key in the config.
    const hint = /sign|签名/i.test(message) ? '; check config/payment.supay.key and mch_id' : '';
    throw providerRejected('F', `SuPay ${service} refused the request: ${message || 'no reason given'}${hint}`);
  }
  const f = t.flat(a.data ?? {});
  if (f.sign !== undefined && !t.verifySign(f, m.key)) {
    throw providerUnavailable(`SuPay ${service} answer failed signature verification; nothing was changed`);
  }
  if (f.result !== 'true') throw providerRejected('RESULT_FALSE', `SuPay ${service} did not accept the request: ${message || 'result is false'}`);
  return f;
}

/**
 * `query_trade` by a number of ours (`mch_order_no`: an order's, or a refund's with the refund trade_type);
 * null when SuPay has none. The answer must be about that number (its `outer_trade_no`).
 */
async function queryTrade(ctx: Ctx, no: string, tradeType: string): Promise<SuPayFields | null> {
  const f = await call(ctx, 'query_trade', { mch_order_no: no, trade_type: tradeType }, true);
  const other = f && answeredAboutAnother(ctx.log, 'SuPay query_trade', { outer_trade_no: no }, { outer_trade_no: f.outer_trade_no || undefined });
  if (other) throw other;
  return f;
}

async function query(ctx: Ctx, outTradeNo: string): Promise<PaymentReport> {
  const f = await queryTrade(ctx, outTradeNo, ctx.config.query_trade_type);
  return f ? t.paymentReport(f, ctx.config, outTradeNo) : { out_trade_no: outTradeNo, state: 'NOT_FOUND' };
}

/** SuPay / SuperPay: WeChat Pay JSAPI (`pay_info` holds the requestPayment fields) and Alipay through a payment page. */
export const suPay: PaymentProvider<SuPayMerchant> = {
  id: 'supay',
  currencies: SUPAY_CURRENCIES,
  methods: ['wechat', ...Object.keys(URL_METHODS)],
  maxAmount: 2 ** 31 - 1, // none documented: WeChat Pay's own integer limit
  merchantIds: t.merchantIds,

  async create(ctx, input) {
    const m = ctx.config;
    const channel = URL_METHODS[input.pay_method];
    let f: SuPayFields;
    try {
      f = await call(ctx, 'create_instant_trade', t.createFields(m, input, ctx.notifyUrl, channel));
    } catch (err) {
      // SuPay refuses a number it already settled: what it holds under that number decides.
      if (!(err instanceof AppError && err.code === 'PROVIDER_REJECTED')) throw err;
      const held = await query(ctx, input.out_trade_no).catch(() => null);
      if (held?.state === 'PAID') return { kind: 'already_paid' };
      if (held?.state === 'CLOSED') return { kind: 'already_closed' };
      throw err;
    }
    if (channel) {
      const url = t.paymentUrl(f.pay_info);
      if (!url) throw providerUnavailable('SuPay create_instant_trade answered without a payment page url in pay_info; try again');
      return { kind: 'redirect', url };
    }
    const payment = t.requestPayment(f.pay_info);
    if (!payment) throw providerUnavailable('SuPay create_instant_trade answered without the wx.requestPayment fields in pay_info; try again');
    return {
      kind: 'pay',
      payment,
      prepay_id: payment.package.replace(/^prepay_id=/, ''),
      prepay_expires_at: ctx.clock.now() + t.timeoutMs(m.timeout_express),
    };
  },

  query: (ctx, outTradeNo) => query(ctx, outTradeNo),

  // SuPay has no close service; its trade lapses after timeout_express. A payment that still arrives after
  // the order is closed here is applied all the same (CLOSED -> PAID), so closing loses no money.
  async close(ctx, outTradeNo) {
    return (await query(ctx, outTradeNo)).state === 'PAID' ? 'PAID' : 'CLOSED';
  },

  async refund(ctx, input): Promise<RefundReport> {
    const fields: SuPayFields = {
      mch_order_no: input.out_refund_no,
      orig_mch_order_no: input.out_trade_no,
      refund_amount: toMajor(input.amount, input.currency),
      call_back_url: ctx.notifyUrl,
    };
    if (input.reason) fields.refund_note = input.reason.slice(0, 80);
    await call(ctx, 'create_refund', fields);
    // Accepted only: refund_status_sync or a refund query is final.
    return { out_refund_no: input.out_refund_no, out_trade_no: input.out_trade_no, state: 'PROCESSING' };
  },

  async queryRefund(ctx, outRefundNo) {
    const f = await queryTrade(ctx, outRefundNo, ctx.config.refund_query_trade_type);
    return f ? t.refundReport(f, ctx.config, outRefundNo) : { out_refund_no: outRefundNo, state: 'NOT_FOUND' };
  },

  notify: {
    peek: notify.peek,
    verify: async (ctx, req) => notify.verify(ctx.config, req),
    reply: notify.reply,
  },
};
