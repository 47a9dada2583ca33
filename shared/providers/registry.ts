import type { PaymentConfig, ProviderId } from '../config/payment';
import { configMissing, notSupported } from '../core/errors';
import type { PaymentProvider } from './types';
import { wechatPayV2 } from './wechatpay-v2';
import { wechatPayV3 } from './wechatpay-v3';
import { cloudPay } from './cloudpay';
import { yaband } from './yaband';
import { vrPayment } from './vr';
import { twoPayNow } from './twopaynow';
import { suPay } from './supay';

const PROVIDERS: { [K in ProviderId]: PaymentProvider<NonNullable<PaymentConfig[K]>> } = {
  v2: wechatPayV2('v2'),
  v2sp: wechatPayV2('v2sp'),
  v3: wechatPayV3('v3'),
  v3sp: wechatPayV3('v3sp'),
  cloudpay: cloudPay,
  yaband,
  vr: vrPayment,
  '2paynow': twoPayNow,
  supay: suPay,
};

export function isProviderId(id: string): id is ProviderId {
  return Object.prototype.hasOwnProperty.call(PROVIDERS, id);
}

export function providerFor(id: string): PaymentProvider<unknown> {
  if (!isProviderId(id)) {
    throw notSupported(`provider "${id}" is not available in this build; available: ${Object.keys(PROVIDERS).join(', ')}`);
  }
  return PROVIDERS[id] as PaymentProvider<unknown>;
}

/** The provider's config section, or a config error naming it. */
export function sectionOf(config: PaymentConfig, id: ProviderId, docId: string): unknown {
  const section = config[id];
  if (!section) throw configMissing(`config/${docId}.${id} is missing: orders of provider "${id}" need that section`);
  return section;
}
