import { fromMajor } from '../../core/money';
import { AppError, notSupported, providerRejected, providerUnavailable } from '../../core/errors';
import { answeredAboutAnother } from '../fields';
import type { PaymentProvider, PaymentReport, ProviderCtx } from '../types';
import * as notify from './notify';
import * as t from './transform';
import { URL_METHOD_TYPE, type TwoPayNowAnswer, type TwoPayNowFields, type TwoPayNowMerchant, type UrlMethod } from './wire';

type Ctx = ProviderCtx<TwoPayNowMerchant>;

const SECTION = 'config/payment.2paynow';
const NO_REFUND = `2paynow publishes no refund function: refund in the 2paynow merchant portal, or set ${SECTION}.refund_function to the function name 2paynow issued you`;

/**
 * One signed GET. Any answer with `status` 200 comes back; another `status` is a refusal carrying it as the
 * provider code (5xx ones and unreadable answers are PROVIDER_UNAVAILABLE). The answer's own `sign` is not
 * checked: like the request's it covers no field of the answer, so it proves nothing TLS does not.
 */
async function call(ctx: Ctx, fn: string, fields: TwoPayNowFields): Promise<TwoPayNowAnswer> {
  const m = ctx.config;
  const res = await ctx.http.request({ method: 'GET', url: `${m.api_base}${m.gateway_path}?${t.signedQuery(m, fn, fields, ctx.clock.now())}` });
  if (res.status >= 500) throw providerUnavailable(`2paynow ${fn} answered HTTP ${res.status}; try again`);
  const a = t.parseAnswer(res.body);
  if (!a || t.text(a.status) === undefined) {
    if (res.status !== 200) {
      throw providerRejected(`HTTP_${res.status}`, `2paynow ${fn} answered HTTP ${res.status}; check ${SECTION}.api_base and gateway_path`);
    }
    throw providerUnavailable(`2paynow ${fn} answered in an unexpected shape (no JSON status); try again`);
  }
  const status = t.text(a.status)!;
  if (status === '200') return a;
  const why = t.text(a.error_info) ?? 'no reason given';
  if (status.startsWith('5')) throw providerUnavailable(`2paynow ${fn}: ${status} ${why}; try again`);
  // "mid not exist" and sign failures (403) come from a wrong mid or key.
  const hint = status === '403' ? `; check ${SECTION}.mid and key` : '';
  throw providerRejected(status, `2paynow ${fn} refused: ${why}${hint}`);
}

/**
 * `function=query` takes `trade_no`: 2paynow's trade id, or, when none was stored (the create answer was
 * lost), our order number in that same parameter, as 2paynow's WAP queries take the merchant_trade_no
 * (protocols/acquirers.md §1b). The answer must be about that trade and this order: its `trade_no` when we
 * asked by it, and its `merchant_trade_no` (when it names one) always.
 */
async function queryTrade(ctx: Ctx, outTradeNo: string, tradeNo?: string): Promise<TwoPayNowAnswer | null> {
  let a: TwoPayNowAnswer;
  try {
    a = await call(ctx, 'query', { trade_no: tradeNo ?? outTradeNo });
  } catch (err) {
    // A trade 2paynow never opened (the create answer was lost): null.
    if (err instanceof AppError && err.code === 'PROVIDER_REJECTED' && /not exist/i.test(err.message)) return null;
    throw err;
  }
  // Our number rides in merchant_trade_no either way (create sends it): an answer naming another is not ours.
  const asked = { trade_no: tradeNo, merchant_trade_no: outTradeNo };
  const other = answeredAboutAnother(ctx.log, '2paynow query', asked, { trade_no: t.text(a.trade_no), merchant_trade_no: t.text(a.merchant_trade_no) });
  if (other) throw other;
  return a;
}

async function query(ctx: Ctx, outTradeNo: string, tradeNo?: string): Promise<PaymentReport> {
  const a = await queryTrade(ctx, outTradeNo, tradeNo);
  // Nothing can be paid under a trade 2paynow never opened.
  if (!a) return { out_trade_no: outTradeNo, state: 'NOT_FOUND' };
  if (t.text(a.trans_status) === undefined) throw providerUnavailable('2paynow query answered without trans_status; try again');
  const report = t.paymentReport(a, outTradeNo, tradeNo, ctx.config.mid);
  if (report.state === 'PAID' && (report.amount === undefined || !report.currency)) {
    throw providerUnavailable('2paynow query reports TRADE_SUCCESS without a readable amount and currency; nothing was changed');
  }
  return report;
}

/** 2paynow: precreate pages for Alipay and WeChat QR, an issued JSAPI function for in-app WeChat Pay. */
export const twoPayNow: PaymentProvider<TwoPayNowMerchant> = {
  id: '2paynow',
  // The widest set a section's `currencies` may name (EUR is the only one seen in use).
  currencies: ['EUR', 'GBP', 'CHF', 'USD', 'SEK', 'DKK', 'NOK', 'PLN', 'CZK', 'HUF', 'CNY', 'HKD', 'AUD', 'CAD', 'JPY'],
  methods: ['wechat', ...(Object.keys(URL_METHOD_TYPE) as UrlMethod[])],
  maxAmount: Number.MAX_SAFE_INTEGER, // no published limit: config max_amount applies
  merchantIds: t.merchantIds,

  async create(ctx, input) {
    const m = ctx.config;
    if (input.pay_method === 'wechat') {
      const a = await call(ctx, m.jsapi_function, t.jsapiFields(m, input, ctx.notifyUrl));
      const payment = t.requestPayment(a, m.jsapi_answer_field);
      const tradeNo = t.text(a.trade_no);
      if (!payment || !tradeNo) {
        throw providerUnavailable(
          `2paynow ${m.jsapi_function} answered without trade_no or the five wx.requestPayment fields (read from "${m.jsapi_answer_field}" or the top level); check ${SECTION}.jsapi_answer_field`,
        );
      }
      return {
        kind: 'pay',
        payment,
        prepay_id: t.prepayIdOf(payment) ?? tradeNo,
        prepay_expires_at: ctx.clock.now() + 2 * 3600_000, // WeChat's prepay lifetime; there is no repay without the acquirer
        provider_trade_no: tradeNo,
      };
    }
    if (!Object.prototype.hasOwnProperty.call(URL_METHOD_TYPE, input.pay_method)) throw notSupported(`pay_method "${input.pay_method}" is not offered by 2paynow`);
    const a = await call(ctx, 'precreate', t.precreateFields(m, input, ctx.notifyUrl, input.pay_method as UrlMethod));
    const url = t.text(a.qr_code) ?? t.text(a.pic_url);
    const tradeNo = t.text(a.trade_no);
    if (!url || !tradeNo) throw providerUnavailable('2paynow precreate answered without trade_no or qr_code; try again');
    return { kind: 'redirect', url, provider_trade_no: tradeNo };
  },

  query,

  async close(ctx, outTradeNo, tradeNo) {
    try {
      await call(ctx, 'cancel', { trade_no: tradeNo ?? outTradeNo });
      return 'CLOSED';
    } catch (err) {
      // 2paynow's refusal codes are unpublished: the trade's state says whether the refusal means "paid".
      if (!(err instanceof AppError && err.code === 'PROVIDER_REJECTED')) throw err;
      const r = await query(ctx, outTradeNo, tradeNo);
      if (r.state === 'PAID') return 'PAID';
      if (r.state === 'CLOSED' || r.state === 'FAILED' || r.state === 'NOT_FOUND') return 'CLOSED';
      throw err;
    }
  },

  // Whether the issued refund function ignores a repeated merchant_refund_no is unpublished: a retry checks the refunded total first.
  queryBeforeResend: true,

  /** Only through a refund function 2paynow issued; a 200 answer is taken as the refund done. */
  cannotRefund: (config) => (config.refund_function ? undefined : NO_REFUND),
  async refund(ctx, input) {
    const fn = ctx.config.refund_function;
    if (!fn) throw notSupported(NO_REFUND);
    const a = await call(ctx, fn, t.refundFields(input));
    // Taken as done when answered: only if the answer is about this refund, for this amount, where it says so.
    const echoedNo = t.text(a.merchant_refund_no);
    const echoedAmount = t.text(a.refund_amount);
    if ((echoedNo && echoedNo !== input.out_refund_no) || (echoedAmount && fromMajor(echoedAmount, input.currency) !== input.amount)) {
      throw providerUnavailable(`2paynow ${fn} answered about another refund or amount; the refund stays in flight`);
    }
    return {
      out_refund_no: input.out_refund_no,
      out_trade_no: input.out_trade_no,
      state: 'SUCCESS',
      refund_id: t.text(a.refund_no),
      amount: input.amount,
      total: input.total,
      finished_at: ctx.clock.now(),
    };
  },

  /**
   * 2paynow has no refund query: `function=query` gives the trade's refunded total (`refund_amount`), which must
   * be exactly what the order had refunded before plus this refund (SUCCESS), or exactly what it had before
   * (NOT_FOUND: refunds are done when answered, so one not counted was never made). Any other total is reported
   * as the difference, which does not match the refund and is refused, for a person to look at.
   */
  async queryRefund(ctx, outRefundNo, refund) {
    if (!ctx.config.refund_function) throw notSupported(NO_REFUND);
    if (!refund) throw notSupported('a 2paynow refund is found through its order: query it with queryrefund');
    const a = await queryTrade(ctx, refund.out_trade_no, refund.provider_trade_no);
    if (!a) return { out_refund_no: outRefundNo, out_trade_no: refund.out_trade_no, state: 'NOT_FOUND' };
    // An absent total is not read as 0: that would end a refund 2paynow may have made.
    const currency = t.text(a.currency);
    const refunded = t.text(a.refund_amount);
    const total = currency === refund.currency && refunded !== undefined ? fromMajor(refunded, currency) : undefined;
    if (total === undefined) {
      throw providerUnavailable(`2paynow query answered without a refunded total in ${refund.currency} (refund_amount ${refunded ?? 'absent'}, currency ${currency ?? 'absent'}); nothing was changed`);
    }
    if (total === refund.refunded_before) return { out_refund_no: outRefundNo, out_trade_no: refund.out_trade_no, state: 'NOT_FOUND' };
    return {
      out_refund_no: outRefundNo,
      out_trade_no: refund.out_trade_no,
      state: 'SUCCESS',
      amount: total - refund.refunded_before,
      finished_at: ctx.clock.now(),
      provider_state: `refunded total ${refunded} ${currency}`,
    };
  },

  notify: {
    // Reported as a GET with a query string (a form POST is read too).
    methods: ['GET', 'POST'],
    peek: notify.peek,
    verify: async (ctx, req) => notify.verify(ctx.config, req),
    reply: notify.reply,
  },
};
