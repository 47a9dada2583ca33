import { paymentConfigs, providerContext } from './context';
import { applyPaymentReport, applyRefundReport, type Applied } from './apply';
import { syncRefund } from './refund';
import { queryOrderAtProvider, tradesOf } from './provider-query';
import { isProviderId, providerFor } from '../providers/registry';
import { NotificationRejected, type NotifyEvent, type NotifyHint, type NotifyReply, type NotifyRequest, type PaymentProvider } from '../providers/types';
import { AppError, configInvalid, notSupported } from '../core/errors';
import { CONFIG_COLLECTION, type LoadedPaymentConfig } from '../config/payment-load';
import type { ProviderId } from '../config/payment';
import type { Cloud } from '../runtime/port';
import { recordEvent } from '../store/events';
import { getOrder, ORDERS, type PayOrder } from '../store/orders';
import { getRefund, type PayRefund } from '../store/refunds';

/**
 * The configs that may verify a notification: the one its (unverified) order was created under, the
 * per-appid documents its appids point at, then the shared one; only those whose section names its
 * merchant. Invalid documents are reported, not skipped in silence.
 */
async function candidates(cloud: Cloud, providerId: ProviderId, hint: NotifyHint) {
  const hinted = hint.out_trade_no ? await getOrder(cloud.store, hint.out_trade_no) : null;
  const every = hint.any_config ? (await cloud.store.find<{ _id: string }>(CONFIG_COLLECTION, {}, { limit: 100 })).map((d) => d._id) : [];
  const ids = [...new Set([...(hinted ? [hinted.config_id] : []), ...hint.appids.map((a) => `payment_${a}`), 'payment', ...every])];
  const configs: LoadedPaymentConfig[] = [];
  const problems: string[] = [];
  for (const id of ids.filter((i) => /^payment(_[A-Za-z0-9_-]{1,64})?$/.test(i))) {
    try {
      const loaded = await paymentConfigs.byId(cloud.store, cloud.clock, id);
      const section = loaded.config[providerId] as { mchid?: string } | undefined;
      if (section && (!hint.mchid || section.mchid === hint.mchid)) configs.push(loaded);
    } catch (err) {
      if (err instanceof AppError && err.code === 'CONFIG_INVALID') problems.push(err.message);
      else if (!(err instanceof AppError && err.code === 'CONFIG_MISSING')) throw err;
    }
  }
  return { configs, problems };
}

function verifyWith(cloud: Cloud, providerId: ProviderId, loaded: LoadedPaymentConfig, req: NotifyRequest): Promise<NotifyEvent> {
  const { provider, ctx } = providerContext(cloud, loaded, providerId);
  return provider.notify!.verify(ctx, req);
}

/** What a verified event names: an order, or a refund (and through it, its order). */
function namesOf(event: NotifyEvent): { out_trade_no?: string; provider_trade_no?: string; out_refund_no?: string } {
  if (event.kind === 'payment') return { out_trade_no: event.report.out_trade_no };
  if (event.kind === 'refund') return { out_refund_no: event.report.out_refund_no };
  return event;
}

/** The order a verified event is about (through its refund record for refunds, or the provider's trade id). */
async function orderOf(cloud: Cloud, event: NotifyEvent): Promise<PayOrder | null> {
  const n = namesOf(event);
  if (n.out_refund_no) {
    const refund = await getRefund(cloud.store, n.out_refund_no);
    return refund ? getOrder(cloud.store, refund.out_trade_no) : null;
  }
  if (n.out_trade_no) return getOrder(cloud.store, n.out_trade_no);
  if (n.provider_trade_no) return (await cloud.store.find<PayOrder>(ORDERS, { provider_trade_nos: n.provider_trade_no }, { limit: 1 }))[0] ?? null;
  return null;
}

/**
 * Verifies with the first candidate config that holds the merchant, then insists on the config the order
 * was created under: a notification counts only if that config verifies it too.
 */
async function verify(cloud: Cloud, provider: PaymentProvider<unknown>, providerId: ProviderId, req: NotifyRequest) {
  const { configs, problems } = await candidates(cloud, providerId, provider.notify!.peek(req));
  let last = 'no config holds this merchant';
  for (const loaded of configs) {
    let event: NotifyEvent;
    try {
      event = await verifyWith(cloud, providerId, loaded, req);
    } catch (err) {
      if (!(err instanceof NotificationRejected)) throw err;
      last = err.message;
      continue;
    }
    const order = await orderOf(cloud, event);
    if (!order || order.config_id === loaded.id) return { event, loaded, order };
    const own = await paymentConfigs.byId(cloud.store, cloud.clock, order.config_id);
    return { event: await verifyWith(cloud, providerId, own, req), loaded: own, order };
  }
  // A genuine notification may be failing only because an operator broke a config: answer 500 so it comes again.
  if (problems.length) throw configInvalid(problems.join('; '));
  throw new NotificationRejected(last);
}

/**
 * Applies a verified event to the order it names, which must belong to this provider. A hint is applied
 * only through what the provider answers when asked about it.
 */
async function apply(cloud: Cloud, providerId: ProviderId, loaded: LoadedPaymentConfig, event: NotifyEvent, order: PayOrder | null): Promise<Applied> {
  const refundNo = namesOf(event).out_refund_no;
  if (!order) return { outcome: 'rejected', reason: refundNo ? 'unknown refund' : 'unknown order', settled: false };
  if (order.provider !== providerId) return { outcome: 'rejected', reason: `the order belongs to provider ${order.provider}`, settled: false };
  if (event.kind === 'payment') return applyPaymentReport(cloud, loaded.config, order, event.report);
  const refund = refundNo ? await getRefund(cloud.store, refundNo) : null;
  if (event.kind === 'refund') return applyRefundReport(cloud, refund as PayRefund, event.report);
  if (refund) {
    const after = await syncRefund(cloud, refund, { order, loaded });
    return { outcome: after.status === refund.status ? 'duplicate' : 'applied', settled: true, order };
  }
  const { provider, ctx } = providerContext(cloud, loaded, providerId);
  // A hint naming a trade is asked about that trade, which must be one the provider opened for this order.
  const trade = event.provider_trade_no;
  if (trade && !tradesOf(order).includes(trade)) return { outcome: 'rejected', reason: 'the notification names a trade this order never had', settled: false };
  const report = trade ? await provider.query(ctx, order.out_trade_no, trade) : await queryOrderAtProvider(provider, ctx, order);
  return applyPaymentReport(cloud, loaded.config, order, report);
}

/** What a rejected notification's sender is told: anyone can post here, so the reason stays in the event log. */
const REJECTED = 'rejected; see the merchant event log';

/**
 * One provider notification, end to end: verify (with the config that holds the merchant), apply once,
 * record, and answer in the provider's format. Anything unproven or inconsistent changes nothing and is
 * answered with the provider's failure reply, so a genuine notification is delivered again.
 */
export async function handleNotification(cloud: Cloud, providerId: ProviderId, req: NotifyRequest): Promise<NotifyReply> {
  const provider = providerFor(providerId);
  const http = provider.notify;
  if (!http) throw notSupported(`provider ${providerId} does not send HTTP notifications`); // the notify function answers 404 first
  const receivedAt = cloud.clock.now();
  const record = (e: Parameters<typeof recordEvent>[1]) =>
    recordEvent(cloud.store, e).catch((err) => cloud.log.error('could not record notification', { error: String(err) }));
  try {
    const { event, loaded, order } = await verify(cloud, provider, providerId, req);
    const result = await apply(cloud, providerId, loaded, event, order);
    await record({
      provider: providerId,
      kind: namesOf(event).out_refund_no ? 'refund' : 'payment',
      dedupe_key: event.dedupe_key,
      out_trade_no: order?.out_trade_no ?? namesOf(event).out_trade_no,
      out_refund_no: namesOf(event).out_refund_no,
      outcome: result.outcome,
      reason: result.reason,
      fields: event.fields,
      received_at: receivedAt,
    });
    if (result.outcome === 'rejected') {
      cloud.log.warn('notification rejected', { provider: providerId, dedupe_key: event.dedupe_key, reason: result.reason });
      return http.reply(false, REJECTED);
    }
    // Paid but its hook did not complete: ask for another delivery, which runs the hook again.
    return result.settled ? http.reply(true) : http.reply(false, 'processing not complete; retry');
  } catch (err) {
    if (!(err instanceof NotificationRejected)) throw err;
    cloud.log.warn('notification rejected', { provider: providerId, reason: err.message });
    await record({ provider: providerId, kind: 'unknown', dedupe_key: `${providerId}:unverified`, outcome: 'rejected', reason: err.message, received_at: receivedAt });
    return http.reply(false, REJECTED);
  }
}

export { isProviderId };
