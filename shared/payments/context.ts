import { paymentConfigLoader, type LoadedPaymentConfig } from '../config/payment-load';
import type { ProviderId } from '../config/payment';
import { providerFor, sectionOf } from '../providers/registry';
import type { PaymentProvider, ProviderCtx } from '../providers/types';
import type { Cloud } from '../runtime/port';
import { sharedCache } from '../store/shared-cache';

/** One config cache per warm instance (per function bundle). */
export const paymentConfigs = paymentConfigLoader();

/** The provider and its ready context for an order or a new payment under `loaded`. */
export function providerContext(
  cloud: Cloud,
  loaded: LoadedPaymentConfig,
  providerId: ProviderId,
): { provider: PaymentProvider<unknown>; ctx: ProviderCtx<unknown> } {
  const provider = providerFor(providerId);
  const config = sectionOf(loaded.config, providerId, loaded.id);
  const base = loaded.config.notify_url.replace(/\/+$/, '');
  return {
    provider,
    ctx: {
      config,
      cache: sharedCache(cloud.store, cloud.clock),
      notifyUrl: `${base}/${providerId}`,
      http: cloud.http,
      clock: cloud.clock,
      log: cloud.log,
      cloudPay: cloud.cloudPay,
    },
  };
}
