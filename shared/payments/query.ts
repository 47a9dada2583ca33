import { conflict, notFound } from '../core/errors';
import type { Caller } from '../core/handler';
import type { Cloud } from '../runtime/port';
import type { LoadedPaymentConfig } from '../config/payment-load';
import { getOrder, refuseContractOrder, transition, type PayOrder } from '../store/orders';
import { applyPaymentReport } from './apply';
import { queryOrderAtProvider } from './provider-query';
import { paymentConfigs, providerContext } from './context';
import { runPaidHooks } from './hooks';
import { assertOwn, orderView } from './view';

/** WeChat Pay refuses to close an order in its first five minutes. */
export const CLOSE_AFTER_MS = 5 * 60_000;

/** The order with the config it was created under (NOT_FOUND, CONFIG_MISSING, CONFIG_INVALID), for any caller. */
export async function orderWithConfig(cloud: Cloud, outTradeNo: string): Promise<{ order: PayOrder; loaded: LoadedPaymentConfig }> {
  const order = await getOrder(cloud.store, outTradeNo);
  if (!order) throw notFound(`no order ${outTradeNo}`);
  refuseContractOrder(order);
  const loaded = await paymentConfigs.byId(cloud.store, cloud.clock, order.config_id);
  return { order, loaded };
}

/** The order with the config it was created under, if the caller may act on it. */
export async function ownOrder(cloud: Cloud, caller: Caller, outTradeNo: string) {
  const { order, loaded } = await orderWithConfig(cloud, outTradeNo);
  assertOwn(order, caller, loaded.config);
  return { order, loaded };
}

/**
 * `queryorder`: an unsettled order is asked of its own provider, and what the provider says is applied
 * exactly as a notification would be. A paid order whose hook has not completed gets it run again.
 */
export async function queryPayment(cloud: Cloud, caller: Caller, outTradeNo: string) {
  const { order, loaded } = await ownOrder(cloud, caller, outTradeNo);
  if (order.status === 'CREATED' || order.status === 'CLOSED' || order.status === 'FAILED') {
    const { provider, ctx } = providerContext(cloud, loaded, order.provider);
    const report = await queryOrderAtProvider(provider, ctx, order);
    const applied = await applyPaymentReport(cloud, loaded.config, order, report);
    if (applied.outcome === 'rejected') {
      cloud.log.error('query found a payment that does not match the order', { out_trade_no: outTradeNo, reason: applied.reason });
    }
    return orderView(applied.order ?? order);
  }
  if (order.hooks.on_paid.state !== 'done') await runPaidHooks(cloud, loaded.config, order);
  return orderView(order);
}

/**
 * Closes an unpaid order at its provider, then here; returns the order as it then stands. If it was paid
 * meanwhile, it is applied as paid instead. CONFLICT within the provider's first five minutes.
 */
export async function closeAtProvider(cloud: Cloud, loaded: LoadedPaymentConfig, order: PayOrder, why = ''): Promise<PayOrder> {
  const now = cloud.clock.now();
  if (now - order.created_at < CLOSE_AFTER_MS) {
    throw conflict(`order ${order.out_trade_no}${why} can be closed from ${new Date(order.created_at + CLOSE_AFTER_MS).toISOString()} (five minutes after creation)`);
  }
  const { provider, ctx } = providerContext(cloud, loaded, order.provider);
  if ((await provider.close(ctx, order.out_trade_no, order.provider_trade_no ?? undefined)) === 'PAID') {
    const applied = await applyPaymentReport(cloud, loaded.config, order, await queryOrderAtProvider(provider, ctx, order));
    return applied.order ?? order;
  }
  await transition(cloud.store, order, 'CREATED', 'CLOSED', { closed_at: now }, now);
  return (await getOrder(cloud.store, order._id)) ?? order;
}

/** `closeorder`: closes an unpaid order at the provider, then here. If it was paid meanwhile, it is applied as paid. */
export async function closePayment(cloud: Cloud, caller: Caller, outTradeNo: string) {
  const { order, loaded } = await ownOrder(cloud, caller, outTradeNo);
  if (order.status === 'CLOSED') return orderView(order);
  if (order.status !== 'CREATED') throw conflict(`order ${outTradeNo} is ${order.status}; only an unpaid order can be closed`);
  return orderView(await closeAtProvider(cloud, loaded, order));
}
