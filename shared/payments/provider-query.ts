import type { PaymentProvider, PaymentReport, ProviderCtx } from '../providers/types';
import type { PayOrder } from '../store/orders';

/** The provider's trades of an order, the latest first. */
export function tradesOf(order: PayOrder): string[] {
  return [...new Set([order.provider_trade_no, ...[...(order.provider_trade_nos ?? [])].reverse()].filter((t): t is string => !!t))];
}

/**
 * What the provider says of an order. Where it opened several trades for it (a retried unifiedorder at an
 * acquirer), each is asked, latest first, and a paid one wins: the payer may have paid an earlier page.
 */
export async function queryOrderAtProvider(provider: PaymentProvider<unknown>, ctx: ProviderCtx<unknown>, order: PayOrder): Promise<PaymentReport> {
  const trades = tradesOf(order);
  if (trades.length <= 1) return provider.query(ctx, order.out_trade_no, trades[0]);
  let latest: PaymentReport | undefined;
  for (const trade of trades) {
    const r = await provider.query(ctx, order.out_trade_no, trade);
    if (r.state === 'PAID') return r;
    latest ??= r;
  }
  return latest!;
}
