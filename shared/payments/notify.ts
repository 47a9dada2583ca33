import { paymentConfigs } from './context';
import { applyPaymentReport, applyRefundReport, type Applied } from './apply';
import { isProviderId, providerFor } from '../providers/registry';
import { NotificationRejected, type NotifyEvent, type NotifyReply, type NotifyRequest, type PaymentProvider } from '../providers/types';
import type { LoadedPaymentConfig } from '../config/payment-load';
import type { ProviderId } from '../config/payment';
import type { Cloud } from '../runtime/port';
import { recordEvent } from '../store/events';
import { getOrder } from '../store/orders';
import { getRefund } from '../store/refunds';

/**
 * The configs that may verify a notification: the per-appid documents its (unverified) appids point at,
 * then the shared one; only those whose section names the notification's merchant.
 */
async function candidates(cloud: Cloud, providerId: ProviderId, appids: string[], mchid?: string): Promise<LoadedPaymentConfig[]> {
  const ids = [...new Set([...appids.map((a) => `payment_${a}`), 'payment'])].filter((id) => /^[A-Za-z0-9_-]{1,80}$/.test(id));
  const out: LoadedPaymentConfig[] = [];
  for (const id of ids) {
    try {
      const loaded = await paymentConfigs.byId(cloud.store, cloud.clock, id);
      const section = loaded.config[providerId] as { mchid?: string } | undefined;
      if (section && (!mchid || section.mchid === mchid)) out.push(loaded);
    } catch {
      // a missing or invalid document cannot verify anything; the others may
    }
  }
  return out;
}

function verifyWithAny(cloud: Cloud, provider: PaymentProvider<unknown>, providerId: ProviderId, configs: LoadedPaymentConfig[], req: NotifyRequest) {
  let last = 'no config holds this merchant';
  for (const loaded of configs) {
    try {
      return { event: provider.notify.verify(loaded.config[providerId], req, cloud.clock), loaded };
    } catch (err) {
      if (!(err instanceof NotificationRejected)) throw err;
      last = err.message;
    }
  }
  throw new NotificationRejected(last);
}

/** Applies a verified event to the order it names; the order must have been created under the verifying config. */
async function apply(cloud: Cloud, providerId: ProviderId, loaded: LoadedPaymentConfig, event: NotifyEvent): Promise<Applied & { out_trade_no?: string }> {
  if (event.kind === 'payment') {
    const order = await getOrder(cloud.store, event.report.out_trade_no);
    if (!order) return { outcome: 'rejected', reason: 'unknown order', settled: false };
    if (order.provider !== providerId || order.config_id !== loaded.id) {
      return { outcome: 'rejected', reason: `the order belongs to provider ${order.provider} under config/${order.config_id}`, settled: false };
    }
    return applyPaymentReport(cloud, loaded.config, order, event.report);
  }
  const refund = await getRefund(cloud.store, event.report.out_refund_no);
  if (!refund) return { outcome: 'rejected', reason: 'unknown refund', settled: false };
  const order = await getOrder(cloud.store, refund.out_trade_no);
  if (!order || order.provider !== providerId || order.config_id !== loaded.id) {
    return { outcome: 'rejected', reason: 'the refund belongs to another provider or config', settled: false };
  }
  return applyRefundReport(cloud, refund, event.report);
}

/**
 * One provider notification, end to end: verify (with the config that holds the merchant), apply once,
 * record, and answer in the provider's format. Anything unproven or inconsistent changes nothing and is
 * answered with the provider's failure reply, so a genuine notification is delivered again.
 */
export async function handleNotification(cloud: Cloud, providerId: ProviderId, req: NotifyRequest): Promise<NotifyReply> {
  const provider = providerFor(providerId);
  const receivedAt = cloud.clock.now();
  const record = (e: Parameters<typeof recordEvent>[1]) =>
    recordEvent(cloud.store, e).catch((err) => cloud.log.error('could not record notification', { error: String(err) }));
  try {
    const hint = provider.notify.peek(req);
    const { event, loaded } = verifyWithAny(cloud, provider, providerId, await candidates(cloud, providerId, hint.appids, hint.mchid), req);
    const result = await apply(cloud, providerId, loaded, event);
    await record({
      provider: providerId,
      kind: event.kind,
      dedupe_key: event.dedupe_key,
      out_trade_no: event.report.out_trade_no,
      out_refund_no: event.kind === 'refund' ? event.report.out_refund_no : undefined,
      outcome: result.outcome,
      reason: result.reason,
      fields: event.fields,
      received_at: receivedAt,
    });
    if (result.outcome === 'rejected') {
      cloud.log.warn('notification rejected', { provider: providerId, dedupe_key: event.dedupe_key, reason: result.reason });
      return provider.notify.reply(false, result.reason);
    }
    // Paid but its hook did not complete: ask for another delivery, which runs the hook again.
    return result.settled ? provider.notify.reply(true) : provider.notify.reply(false, 'processing not complete; retry');
  } catch (err) {
    if (!(err instanceof NotificationRejected)) throw err;
    cloud.log.warn('notification rejected', { provider: providerId, reason: err.message });
    await record({ provider: providerId, kind: 'unknown', dedupe_key: `${providerId}:unverified`, outcome: 'rejected', reason: err.message, received_at: receivedAt });
    return provider.notify.reply(false, err.message);
  }
}

export { isProviderId };
