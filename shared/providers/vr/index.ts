import { notSupported, providerRejected, providerUnavailable, type AppError } from '../../core/errors';
import type { HttpResponse } from '../../http/client';
import { answeredAboutAnother } from '../fields';
import type { PaymentProvider, ProviderCtx, RefundReport } from '../types';
import { requestJwt } from './jwt';
import * as notify from './notify';
import * as t from './transform';
import { VR_API_PREFIX, VR_PATHS, type VrError, type VrMerchant, type VrTransaction } from './wire';

type Ctx = ProviderCtx<VrMerchant>;
interface CallOpts {
  query?: Record<string, string>;
  body?: unknown;
  notFound?: boolean;
}

/** The methods of the hosted payment page. No `wechat`: VR Payment has no public JSAPI (wx.requestPayment) flow. */
const URL_METHODS = ['wechat_page', 'alipay', 'paypal', 'sofort', 'ideal', 'card'] as const;

/** Sends one request with its own JWT (the token covers this method, path and query only). */
function send(ctx: Ctx, method: 'GET' | 'POST', path: string, opts: CallOpts & { text?: boolean } = {}): Promise<HttpResponse> {
  const m = ctx.config;
  const qs = opts.query ? new URLSearchParams(opts.query).toString() : '';
  const requestPath = `${VR_API_PREFIX}${path}${qs ? `?${qs}` : ''}`;
  const headers: Record<string, string> = {
    Authorization: `Bearer ${requestJwt(m.user_id, m.auth_key, method, requestPath, Math.floor(ctx.clock.now() / 1000))}`,
    Space: String(m.space_id),
    Accept: opts.text ? 'text/plain' : 'application/json',
  };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  return ctx.http.request({
    method,
    url: `${m.api_base.replace(/\/+$/, '')}${requestPath}`,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A non-2xx answer as our error: 5xx, 429 and version conflicts are worth retrying; other 4xx are refusals. */
function failure(res: HttpResponse, what: string): AppError {
  if (res.status >= 500 || res.status === 429 || res.status === 409) {
    return providerUnavailable(`VR Payment ${what} answered HTTP ${res.status}; try again`);
  }
  const e = (parse(res.body) ?? {}) as VrError;
  const code = typeof e.code === 'string' && e.code ? e.code : `HTTP_${res.status}`;
  const detail = typeof e.message === 'string' && e.message ? e.message : `HTTP ${res.status}`;
  if (res.status === 401 || res.status === 403) {
    return providerRejected(code, `VR Payment refused ${what} (${detail}): check config/payment.vr.user_id, auth_key and space_id`);
  }
  return providerRejected(code, `VR Payment ${what}: ${detail}`);
}

/**
 * One JSON call: a 2xx answer must have the expected shape (else nothing is believed); with `notFound`,
 * 404 is `null` for a caller that handles "no such entity".
 */
async function call<T>(ctx: Ctx, what: string, method: 'GET' | 'POST', path: string, shape: (v: unknown) => v is T, opts: CallOpts & { notFound: true }): Promise<T | null>;
async function call<T>(ctx: Ctx, what: string, method: 'GET' | 'POST', path: string, shape: (v: unknown) => v is T, opts?: CallOpts): Promise<T>;
async function call<T>(ctx: Ctx, what: string, method: 'GET' | 'POST', path: string, shape: (v: unknown) => v is T, opts: CallOpts = {}): Promise<T | null> {
  const res = await send(ctx, method, path, opts);
  if (res.status === 404 && opts.notFound) return null;
  if (res.status < 200 || res.status >= 300) throw failure(res, what);
  const value = parse(res.body);
  if (!shape(value)) throw providerUnavailable(`VR Payment ${what} answered in an unexpected shape; nothing was changed`);
  return value;
}

const isTransactions = t.searchOf(t.isTransaction);
const isRefunds = t.searchOf(t.isRefund);

const readTransaction = (ctx: Ctx, id: string) =>
  call(ctx, 'transaction read', 'GET', VR_PATHS.transaction(id), t.isTransaction, { notFound: true });

const readRefund = (ctx: Ctx, id: string) => call(ctx, 'refund read', 'GET', VR_PATHS.refund(id), t.isRefund, { notFound: true });

/** Every transaction created under our order number (a retry may have made one before its answer was lost). */
async function transactionsOf(ctx: Ctx, outTradeNo: string): Promise<VrTransaction[]> {
  const query = { query: t.searchQuery(ctx.config.search_query, 'merchantReference', outTradeNo) };
  const found = await call(ctx, 'transaction search', 'GET', VR_PATHS.transactionSearch, isTransactions, { query });
  return found.data.filter((tx) => tx.merchantReference === outTradeNo);
}

/**
 * The order's transaction: by the id stored at creation (the answer must be that transaction, of this
 * order), else found by its merchantReference.
 */
async function transactionFor(ctx: Ctx, outTradeNo: string, providerTradeNo?: string): Promise<VrTransaction | null> {
  if (providerTradeNo) {
    const tx = await readTransaction(ctx, providerTradeNo);
    const other =
      tx &&
      answeredAboutAnother(ctx.log, 'VR Payment transaction read', { id: providerTradeNo, merchantReference: outTradeNo }, { id: String(tx.id), merchantReference: tx.merchantReference });
    if (other) throw other;
    return tx;
  }
  return t.pickTransaction(await transactionsOf(ctx, outTradeNo)) ?? null;
}

async function pageUrl(ctx: Ctx, id: string): Promise<string> {
  const res = await send(ctx, 'GET', VR_PATHS.paymentPageUrl(id), { text: true });
  if (res.status < 200 || res.status >= 300) throw failure(res, 'payment page url');
  const url = t.paymentPageUrl(res.body);
  if (!url) throw providerUnavailable('VR Payment payment page url answered without an https URL; try again');
  return url;
}

/**
 * VR Payment (wallee platform), REST API v2: a transaction per order, paid on VR Payment's hosted page
 * (returned as `url`); completion is read back by `queryorder`, `reconcile`, or a space webhook that only
 * names the transaction.
 */
export const vrPayment: PaymentProvider<VrMerchant> = {
  id: 'vr',
  currencies: ['EUR', 'CHF', 'GBP', 'USD', 'DKK', 'SEK', 'NOK', 'PLN', 'CZK', 'HUF', 'CNY'],
  methods: URL_METHODS,
  maxAmount: 10 ** 15 - 1, // 15 significant digits: exact through a JSON number (see majorNumber)
  merchantIds: t.merchantIds,

  async create(ctx, input) {
    const m = ctx.config;
    if (m.method_configurations && m.method_configurations[input.pay_method] === undefined) {
      throw notSupported(`pay_method "${input.pay_method}" has no payment method configuration: set config/payment.vr.method_configurations.${input.pay_method}`);
    }
    // A retry reuses the order's open transaction, so an order never has two payable pages.
    const existing = await transactionsOf(ctx, input.out_trade_no);
    const paid = existing.find((tx) => t.paymentState(tx.state) === 'PAID');
    if (paid) return { kind: 'already_paid' };
    const reusable = existing.find(
      (tx) => t.isOpen(tx) && tx.currency === input.currency && t.minorOf(tx.authorizationAmount, tx.currency) === input.amount,
    );
    const tx = reusable ?? (await call(ctx, 'transaction create', 'POST', VR_PATHS.transactions, t.isTransaction, { body: t.transactionCreate(m, input) }));
    const id = String(tx.id);
    return { kind: 'redirect', url: await pageUrl(ctx, id), provider_trade_no: id };
  },

  async query(ctx, outTradeNo, providerTradeNo) {
    const tx = await transactionFor(ctx, outTradeNo, providerTradeNo);
    if (!tx) return { out_trade_no: outTradeNo, state: 'NOT_FOUND' };
    return t.paymentReport(tx, ctx.config.space_id);
  },

  async close(ctx, outTradeNo, providerTradeNo) {
    const tx = await transactionFor(ctx, outTradeNo, providerTradeNo);
    // Never created there: nothing can be paid under it.
    if (!tx) return 'CLOSED';
    const state = t.paymentState(tx.state);
    if (state === 'PAID') return 'PAID';
    if (state !== 'PENDING') return 'CLOSED';
    const res = await send(ctx, 'POST', ctx.config.void_path.replace('{id}', String(tx.id)));
    if (res.status >= 200 && res.status < 300) return 'CLOSED';
    const refused = failure(res, 'void');
    if (refused.code !== 'PROVIDER_REJECTED') throw refused;
    // Refused: perhaps it was paid or ended meanwhile; the transaction's state decides.
    const after = await readTransaction(ctx, String(tx.id));
    const now = after ? t.paymentState(after.state) : 'CLOSED';
    if (now === 'PAID') return 'PAID';
    if (now !== 'PENDING') return 'CLOSED';
    throw refused;
  },

  async refund(ctx, input): Promise<RefundReport> {
    const tx = await transactionFor(ctx, input.out_trade_no, input.provider_trade_no);
    if (!tx) throw providerRejected('NOT_FOUND', `VR Payment has no transaction for order ${input.out_trade_no}`);
    const body = t.refundCreate(tx.id, input.out_refund_no, input.amount, input.currency);
    const r = await call(ctx, 'refund create', 'POST', VR_PATHS.refunds, t.isRefund, { body });
    return t.refundReport(r, ctx.config.space_id);
  },

  async queryRefund(ctx, outRefundNo) {
    const query = { query: t.searchQuery(ctx.config.search_query, 'externalId', outRefundNo) };
    const found = await call(ctx, 'refund search', 'GET', VR_PATHS.refundSearch, isRefunds, { query });
    const r = found.data.find((x) => x.externalId === outRefundNo);
    // An empty search proves nothing (its query syntax is an assumption, `search_query`): the refund stays in flight.
    return r ? t.refundReport(r, ctx.config.space_id) : { out_refund_no: outRefundNo, state: 'PROCESSING' };
  },

  notify: {
    peek: notify.peek,
    verify: (ctx, req) =>
      notify.verify(ctx.config, req, { transaction: (id) => readTransaction(ctx, id), refund: (id) => readRefund(ctx, id) }),
    reply: notify.reply,
  },
};
