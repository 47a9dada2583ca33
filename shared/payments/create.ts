import { AppError, conflict, forbidden, invalidInput, notFound, notSupported } from '../core/errors';
import type { Caller } from '../core/handler';
import { assertAmount } from '../core/money';
import { formatCstCompact } from '../core/clock';
import { fieldAt } from '../core/field-path';
import { nonce } from '../crypto/nonce';
import type { LoadedPaymentConfig } from '../config/payment-load';
import type { Cloud } from '../runtime/port';
import { getOrder, insertOrder, refuseContractOrder, ORDERS, type PayOrder } from '../store/orders';
import { applyPaymentReport } from './apply';
import { queryOrderAtProvider } from './provider-query';
import { paymentConfigs, providerContext } from './context';
import { settlementRecord } from './settlement';
import { orderView } from './view';
import { closeAtProvider } from './query';

/** Out-trade-no as WeChat Pay v2 accepts it: 6–32 of letters, digits, `_ - | *`. */
export const OUT_TRADE_NO = /^[0-9A-Za-z_\-|*]{6,32}$/;

/** Which payment attempt a business order is on: one live pay order per business order at a time. */
export const ORDER_LINKS = 'pay_order_links';
interface OrderLink {
  _id: string;
  current: string;
  attempts: number;
}

export interface CreateInput {
  order_id?: string;
  pay_method?: string;
  currency?: string;
  out_trade_no?: string;
  amount?: number;
  description?: string;
  payer_openid?: string;
}

/** `yyyyMMddHHmmss` + 12 random characters: unique, sortable, within the 32-character limit. */
const newOutTradeNo = (now: number) => `${formatCstCompact(now)}${nonce(12)}`;

interface Terms {
  amount: number;
  description: string;
  business?: { collection: string; id: string };
}

/** Amount and description from the business order (amount_source 'order'), which must be the payer's own. */
async function termsFromBusinessOrder(cloud: Cloud, loaded: LoadedPaymentConfig, orderId: string, payer: string, max: number): Promise<Terms> {
  const c = loaded.config;
  const collection = c.order_collection as string;
  const doc = await cloud.store.get<Record<string, unknown>>(collection, orderId);
  if (!doc) throw notFound(`no business order ${orderId} in ${collection}`);
  if (fieldAt(doc, c.order_fields.openid) !== payer) throw forbidden(`business order ${orderId} belongs to another user`);
  if (c.on_paid.set_status && fieldAt(doc, c.order_fields.status) === c.on_paid.set_status) {
    throw conflict(`business order ${orderId} is already paid`);
  }
  const raw = fieldAt(doc, c.order_fields.amount);
  let amount: number;
  try {
    amount = assertAmount(`${collection}/${orderId}.${c.order_fields.amount}`, raw, max);
  } catch (err) {
    throw new AppError('CONFLICT', `the business order cannot be paid: ${(err as Error).message}`);
  }
  const d = fieldAt(doc, c.order_fields.description);
  return { amount, description: typeof d === 'string' && d ? d : c.description, business: { collection, id: orderId } };
}

/**
 * The out_trade_no for a business order: the current attempt while it can still be paid, a fresh one once
 * it was closed or failed. The link document moves by compare-and-set, so concurrent calls agree on one.
 */
async function attemptFor(cloud: Cloud, business: { collection: string; id: string }): Promise<string> {
  const key = `${business.collection}:${business.id}`;
  for (let i = 0; i < 5; i++) {
    const link = await cloud.store.get<OrderLink>(ORDER_LINKS, key);
    if (!link) {
      const no = newOutTradeNo(cloud.clock.now());
      if ((await cloud.store.insert(ORDER_LINKS, key, { current: no, attempts: 1 })) === 'created') return no;
      continue;
    }
    const current = await getOrder(cloud.store, link.current);
    if (current && (current.status === 'CLOSED' || current.status === 'FAILED')) {
      const no = newOutTradeNo(cloud.clock.now());
      if (await cloud.store.update(ORDER_LINKS, key, { current: link.current }, { current: no, attempts: link.attempts + 1 })) return no;
      continue;
    }
    return link.current;
  }
  throw conflict('the order is being created by another call; try again');
}

/**
 * Adds a trade the provider opened to the order (compare-and-set on the count, so concurrent retries each
 * keep theirs): a notification may name only a trade of this order, and each is asked when querying.
 */
async function rememberTrade(cloud: Cloud, id: string, trade: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const o = await getOrder(cloud.store, id);
    if (!o) return;
    const trades = o.provider_trade_nos ?? [];
    if (trades.includes(trade)) return;
    const count = o.trade_count;
    const when = count === undefined ? { trade_count: { $exists: false } as const } : { trade_count: count };
    if (await cloud.store.update(ORDERS, id, when, { provider_trade_nos: [...trades, trade], trade_count: (count ?? 0) + 1, provider_trade_no: trade })) return;
  }
  cloud.log.error('could not record a provider trade id; the order is still queried by its number', { out_trade_no: id, trade });
}

/**
 * The attempt to pay a business order with: the current one while it still fits, else the current one is
 * closed (expired, or the business amount changed) and the next attempt starts.
 */
async function currentAttempt(cloud: Cloud, terms: Terms): Promise<string> {
  for (let i = 0; i < 3; i++) {
    const no = await attemptFor(cloud, terms.business!);
    const current = await getOrder(cloud.store, no);
    const stale = current?.status === 'CREATED' && (current.expires_at <= cloud.clock.now() || current.amount !== terms.amount);
    if (!stale) return no;
    const why = current.amount !== terms.amount ? ` (its business order now asks ${terms.amount}, not ${current.amount})` : ' (expired)';
    const after = await closeAtProvider(cloud, await paymentConfigs.byId(cloud.store, cloud.clock, current.config_id), current, why);
    if (after.status !== 'CLOSED') throw conflict(`business order ${terms.business!.id} is already paid (order ${no})`);
  }
  throw conflict('the order is being replaced by another call; try again');
}

/**
 * `unifiedorder`: writes the order, then asks the provider for a prepay id and returns the `wx.requestPayment`
 * fields. The payer is the caller (getWXContext); the amount comes from the business order unless the config
 * says 'client'. Retrying with the same order reuses its out_trade_no and, while valid, its prepay id.
 */
export async function createPayment(cloud: Cloud, caller: Caller, input: CreateInput) {
  const payer = caller.trusted && input.payer_openid ? input.payer_openid : caller.openid;
  if (!payer) throw forbidden('no payer: call from the mini-program (getWXContext gives no OPENID), or as a trusted caller pass payer_openid');
  if (input.payer_openid && !caller.trusted) throw forbidden('payer_openid may be set only by another cloud function or a timer');

  const loaded = await paymentConfigs.forApp(cloud.store, cloud.clock, caller.appid);
  const c = loaded.config;
  const { provider, ctx } = providerContext(cloud, loaded, c.pay_sp);
  const payMethod = input.pay_method ?? 'wechat';
  if (!provider.methods.includes(payMethod)) {
    throw notSupported(`pay_method "${payMethod}" is not offered by ${c.pay_sp}; it offers ${provider.methods.join(', ')}`);
  }
  const currency = input.currency ?? c.currency;
  const allowed = c.currencies ?? [c.currency];
  if (!allowed.includes(currency)) throw invalidInput(`currency ${currency} is not accepted here; config/payment allows ${allowed.join(', ')}`);
  // A provider section may narrow what its account settles (acquirers' `currencies`): refused before anything is written.
  if (!provider.currencies.includes(currency)) {
    throw notSupported(`provider ${c.pay_sp} does not take ${currency}; it takes ${provider.currencies.join(', ')}`);
  }
  const narrowed = (ctx.config as { currencies?: string[] }).currencies;
  if (narrowed && !narrowed.includes(currency)) {
    throw notSupported(`${currency} is not among config/${loaded.id}.${c.pay_sp}.currencies (${narrowed.join(', ')}), the currencies this ${c.pay_sp} account settles`);
  }
  const max = Math.min(c.max_amount, provider.maxAmount);

  let terms: Terms;
  let outTradeNo: string;
  if (c.amount_source === 'order') {
    for (const f of ['amount', 'out_trade_no', 'description'] as const) {
      if (input[f] !== undefined) throw invalidInput(`${f} comes from the business order (amount_source "order"); do not send it`);
    }
    if (!input.order_id) throw invalidInput('order_id is required: the id of the business order to pay');
    terms = await termsFromBusinessOrder(cloud, loaded, input.order_id, payer, max);
    outTradeNo = await currentAttempt(cloud, terms);
  } else {
    if (input.order_id !== undefined) throw invalidInput('order_id is used only with amount_source "order"; send amount instead');
    terms = { amount: assertAmount('amount', input.amount, max), description: input.description || c.description };
    outTradeNo = input.out_trade_no ?? newOutTradeNo(cloud.clock.now());
  }
  if (!OUT_TRADE_NO.test(outTradeNo)) throw invalidInput('out_trade_no must be 6–32 letters, digits, or _ - | *');

  const now = cloud.clock.now();
  const fresh: PayOrder = {
    _id: outTradeNo,
    out_trade_no: outTradeNo,
    provider: c.pay_sp,
    config_id: loaded.id,
    merchant: provider.merchantIds(ctx.config),
    payer_openid: payer,
    payer_appid: caller.appid,
    amount: terms.amount,
    currency,
    pay_method: payMethod,
    description: terms.description,
    status: 'CREATED',
    expires_at: now + c.order_expire_minutes * 60_000,
    refunded_amount: 0,
    created_at: now,
    updated_at: now,
    hooks: { on_paid: { state: 'pending', attempts: 0 } },
  };
  if (terms.business) fresh.business = terms.business;

  let order = fresh;
  if ((await insertOrder(cloud.store, fresh)) === 'exists') {
    order = (await getOrder(cloud.store, outTradeNo)) as PayOrder;
    refuseContractOrder(order);
    if (order.payer_openid !== payer || order.amount !== terms.amount || order.currency !== fresh.currency || (order.pay_method ?? 'wechat') !== payMethod) {
      throw conflict(`out_trade_no ${outTradeNo} is already used by another order`);
    }
    if (order.status !== 'CREATED') throw conflict(`order ${outTradeNo} is ${order.status}; it cannot be paid again`);
    if (order.expires_at <= now) throw conflict(`order ${outTradeNo} has expired; close it and pay with a new out_trade_no`);
  }
  // The order pins its provider and merchant at creation; a retry uses those, not today's pay_sp.
  const pinnedConfig = order === fresh ? loaded : await paymentConfigs.byId(cloud.store, cloud.clock, order.config_id);
  const pinned = order === fresh ? { provider, ctx } : providerContext(cloud, pinnedConfig, order.provider);

  if (order.prepay_id && (order.prepay_expires_at ?? 0) > now + 60_000) {
    const payment = pinned.provider.repay?.(pinned.ctx, order.prepay_id);
    if (payment) return { ...orderView(order), payment };
  }

  // A refusal leaves the order CREATED: the same number is sent again once the cause (often the config) is fixed.
  const res = await pinned.provider.create(pinned.ctx, {
    out_trade_no: order.out_trade_no,
    pay_method: order.pay_method ?? 'wechat',
    payer_appid: order.payer_appid,
    amount: order.amount,
    currency: order.currency,
    description: order.description,
    payer_openid: order.payer_openid,
    client_ip: caller.clientIp || '127.0.0.1',
    created_at: order.created_at,
    expires_at: order.expires_at,
  });

  if (res.kind === 'pay' || res.kind === 'redirect') {
    // The provider's own trade id (acquirers query and refund by it) is kept with the order.
    const patch: Record<string, unknown> = { updated_at: cloud.clock.now() };
    if (res.kind === 'pay') Object.assign(patch, { prepay_id: res.prepay_id, prepay_expires_at: res.prepay_expires_at });
    // The acquirer's settlement quote, bound to its trade: the report that pays the order replaces it with the
    // confirmed one, and a payment of another trade never takes it (settlementAtPaid).
    if (res.settlement) Object.assign(patch, settlementRecord(res.settlement, res.provider_trade_no));
    await cloud.store.update(ORDERS, order._id, { status: 'CREATED' }, patch);
    if (res.provider_trade_no) await rememberTrade(cloud, order._id, res.provider_trade_no);
    return res.kind === 'pay' ? { ...orderView(order), payment: res.payment } : { ...orderView(order), url: res.url };
  }
  // The provider already knows the order as paid or closed: find the truth and apply it.
  if (res.provider_trade_no) await rememberTrade(cloud, order._id, res.provider_trade_no);
  const known = (await getOrder(cloud.store, order._id)) ?? order;
  const report = await queryOrderAtProvider(pinned.provider, pinned.ctx, known);
  const applied = await applyPaymentReport(cloud, pinnedConfig.config, known, report);
  return orderView(applied.order ?? known);
}
