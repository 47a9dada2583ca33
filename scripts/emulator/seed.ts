import { randomBytes } from 'crypto';
import type { DocStore } from '../../shared/runtime/port';
import type { SandboxTls } from '../sandbox/tls';

export const DEMO_APPID = 'wx0123456789abcdef';
export const DEMO_MCHID = '1900000109';
export const DEMO_OPENID = 'o-demo-payer';

/** A fresh random 32-character v2 key: sandbox keys are made at run time, never committed. */
export const randomKey = () => randomBytes(16).toString('hex');

/**
 * On an empty store, writes a working `config/payment` for the WeChat Pay v2 sandbox (order mode, over
 * mutual TLS when the sandbox has a TLS listener) and one demo business order, so every flow works at once.
 */
export async function seedIfEmpty(store: DocStore, opts: { baseUrl: string; tlsBaseUrl?: string; tls?: SandboxTls }): Promise<boolean> {
  if (await store.get('config', 'payment')) return false;
  const v2: Record<string, unknown> = {
    appid: DEMO_APPID,
    mchid: DEMO_MCHID,
    key: randomKey(),
    sign_type: 'MD5',
    api_base: `${opts.tlsBaseUrl ?? opts.baseUrl}/sandbox/wechatpay-v2`,
  };
  if (opts.tls && opts.tlsBaseUrl) {
    const client = opts.tls.issueClient(DEMO_MCHID);
    Object.assign(v2, { cert_pem: client.certPem, key_pem: client.keyPem, tls_ca: opts.tls.caPem });
  }
  await store.insert('config', 'payment', {
    pay_sp: 'v2',
    notify_url: `${opts.baseUrl}/http/notify`,
    currency: 'CNY',
    amount_source: 'order',
    order_collection: 'orders',
    on_paid: { set_status: 'paid' },
    admins: [],
    v2,
  });
  await store.insert('orders', 'demo-order-1', { _openid: DEMO_OPENID, amount: 1, description: 'Parking, 1 hour', status: 'unpaid' });
  return true;
}
