import { generateKeyPairSync, randomBytes } from 'crypto';
import type { DocStore } from '../../shared/runtime/port';
import type { SandboxTls } from '../sandbox/tls';
import type { PlatformIdentity } from '../sandbox/wechatpay-v3-platform';

export const DEMO_APPID = 'wx0123456789abcdef';
export const DEMO_MCHID = '1900000109';
export const DEMO_OPENID = 'o-demo-payer';
/** The service provider of the seeded v3sp section (its sub-merchant is DEMO_MCHID, its sub appid DEMO_APPID). */
export const DEMO_SP_APPID = 'wx0f0f0f0f0f0f0f0f';
export const DEMO_SP_MCHID = '1900000100';
/**
 * The demo mini-program's AppSecret, made once per emulator process: the wechat-api sandbox keeps one secret
 * per appid, so every config document that names DEMO_APPID with a secret (template, face) must use this one.
 */
export const DEMO_APP_SECRET = randomBytes(16).toString('hex');

/** A fresh random 32-character v2 key: sandbox keys are made at run time, never committed. */
export const randomKey = () => randomBytes(16).toString('hex');

/** A v3 merchant identity made at run time: an API key pair and a certificate serial. */
export function v3MerchantKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    serial_no: randomBytes(20).toString('hex').toUpperCase(),
    apiv3_key: randomKey(),
  };
}

/**
 * On an empty store, writes a working `config/payment` (order mode) with a section for every provider's
 * sandbox — v2 over mutual TLS when the sandbox has a TLS listener, v3, v3sp, cloudpay — active provider
 * v2, and one demo business order, so every flow works at once: switching pay_sp is all it takes.
 */
export async function seedIfEmpty(
  store: DocStore,
  opts: { baseUrl: string; tlsBaseUrl?: string; tls?: SandboxTls; v3Platform: PlatformIdentity },
): Promise<boolean> {
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
    // Ready for pay_sp "v3" (platform-certificate mode), "v3sp" (WeChat Pay public-key mode) and "cloudpay".
    v3: { appid: DEMO_APPID, mchid: DEMO_MCHID, ...v3MerchantKeys(), api_base: `${opts.baseUrl}/sandbox/wechatpay-v3` },
    v3sp: {
      appid: DEMO_SP_APPID,
      mchid: DEMO_SP_MCHID,
      sub_mchid: DEMO_MCHID,
      sub_appid: DEMO_APPID,
      ...v3MerchantKeys(),
      public_key: opts.v3Platform.publicKeyPem,
      public_key_id: opts.v3Platform.publicKeyId,
      api_base: `${opts.baseUrl}/sandbox/wechatpay-v3`,
    },
    cloudpay: { sub_mchid: DEMO_MCHID, env_id: 'local-env', function_name: 'notify' },
    // VR Payment: pay with a url pay_method (wechat_page, alipay, ...); CNY too so the seeded orders work at once.
    vr: { space_id: 4100, user_id: 51000, auth_key: randomBytes(32).toString('base64'), currencies: ['EUR', 'CNY'], api_base: `${opts.baseUrl}/sandbox/vr` },
    // Yaband settles EUR; CNY too here so the seeded CNY orders work with pay_sp "yaband" at once.
    yaband: { user: 'demo-cashier@example.com', secret: randomKey(), currencies: ['EUR', 'CNY'], api_base: `${opts.baseUrl}/sandbox/yaband` },
    // 2paynow likewise; its sandbox issues the refund function `refund` (2paynow publishes none).
    '2paynow': { mid: '4000000001', key: randomKey(), currencies: ['EUR', 'CNY'], refund_function: 'refund', api_base: `${opts.baseUrl}/sandbox/2paynow` },
    // SuPay's samples are all AUD; CNY too so the seeded CNY orders work with pay_sp "supay" at once.
    supay: { mch_id: 'SP1000001', key: randomKey(), store_name: 'Demo store', currencies: ['AUD', 'CNY'], api_base: `${opts.baseUrl}/sandbox/supay` },
  });
  await store.insert('orders', 'demo-order-1', { _openid: DEMO_OPENID, amount: 1, description: 'Parking, 1 hour', status: 'unpaid' });
  return true;
}

/** The demo contract owner (a WeChat openid) and the seeded UnionPay test application. */
export const DEMO_UNIONPAY_APP_ID = 'upsandbox0000000000000000000test';

/**
 * On a store without `config/contract`, writes one whose `test` parameter set talks to the UnionPay sandbox:
 * a merchant key pair and 3DES key made now, the sandbox's public key, and a signing page that redirects at
 * once. Charges are for other cloud functions only (client_may_charge false).
 */
export async function seedContractIfEmpty(store: DocStore, opts: { baseUrl: string; unionpayPublicKeyPem: string }): Promise<boolean> {
  if (await store.get('config', 'contract')) return false;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await store.insert('config', 'contract', {
    active: 'test',
    client_may_charge: false,
    test: {
      app_id: DEMO_UNIONPAY_APP_ID,
      secret: randomKey(),
      plan_id: 'sandboxplan0001',
      symmetric_key: randomBytes(24).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      unionpay_public_key: opts.unionpayPublicKeyPem,
      redirect_uri: `${opts.baseUrl}/signed`,
      notify_url: `${opts.baseUrl}/http/notify`,
      api_base: `${opts.baseUrl}/sandbox/unionpay`,
      sign_page: `${opts.baseUrl}/sandbox/unionpay/s/open/noPwd/html/open.html`,
      limits: { per_payment: 5000, per_day: 10000 },
      require: { credit_card: false, mobile: true, id_check: false },
    },
  });
  return true;
}

/**
 * On a store without `config/face`, writes one for the demo mini-program against the wechat-api sandbox:
 * v2 (the current API); switch `version` to "v1" for the legacy one.
 */
export async function seedFaceIfEmpty(store: DocStore, opts: { baseUrl: string }): Promise<boolean> {
  if (await store.get('config', 'face')) return false;
  await store.insert('config', 'face', {
    version: 'v2',
    appid: DEMO_APPID,
    secret: DEMO_APP_SECRET,
    api_base: `${opts.baseUrl}/sandbox/wechat-api`,
    valid_for_s: 1800,
    session_ttl_s: 1800,
    max_starts_per_hour: 10,
    keep_expired_s: 7 * 86400,
  });
  return true;
}

/** The demo official account (its secret is made when config/template is seeded and kept there). */
export const DEMO_OA_APPID = 'wx00aa00aa00aa00aa';
/** The demo mini-program's id at UnionPay (mpId). */
export const DEMO_UNIONPAY_MP_ID = 'upmp0000demo';

/**
 * The templates the demo accounts own at WeChat (as added from the library in their consoles), with the
 * keys each takes. The emulator tells the wechat-api sandbox about them; config/template names them by id.
 */
export const DEMO_TEMPLATES = [
  { appid: DEMO_OA_APPID, kind: 'template', id: 'demo-tpl-payment-reminder', keys: ['keyword1', 'keyword2', 'keyword3', 'keyword4', 'keyword5'] },
  { appid: DEMO_OA_APPID, kind: 'template', id: 'demo-tpl-visitor-approval', keys: ['keyword1', 'keyword2', 'keyword3', 'keyword4'] },
  { appid: DEMO_OA_APPID, kind: 'template', id: 'demo-tpl-visitor-result', keys: ['keyword1', 'keyword2', 'keyword3', 'keyword4'] },
  { appid: DEMO_OA_APPID, kind: 'template', id: 'demo-tpl-system-message', keys: ['keyword1', 'keyword2', 'keyword3', 'keyword4'] },
  { appid: DEMO_APPID, kind: 'subscribe', id: 'demo-sub-order-paid', keys: ['character_string1', 'thing2', 'amount3', 'time4', 'phrase5'] },
] as const;

/**
 * On a store without `config/template`, writes one where every channel works against the sandboxes: the
 * four built-in templates on the demo official account (only their ids are given, the rest is built in), a
 * subscribe template of the demo mini-program, and a UnionPay template sent with config/contract's active set.
 */
export async function seedTemplateIfEmpty(store: DocStore, opts: { baseUrl: string }): Promise<boolean> {
  if (await store.get('config', 'template')) return false;
  await store.insert('config', 'template', {
    official_account: { appid: DEMO_OA_APPID, secret: randomKey(), api_base: `${opts.baseUrl}/sandbox/wechat-api`, miniprogram_appid: DEMO_APPID },
    unionpay: { parameter_set: 'active', mp_id: DEMO_UNIONPAY_MP_ID },
    currency: 'CNY',
    templates: {
      payment_reminder: { template_id: 'demo-tpl-payment-reminder', page: 'pages/order/detail' },
      visitor_approval: { template_id: 'demo-tpl-visitor-approval', recipients: ['o-demo-approver'] },
      visitor_result: { template_id: 'demo-tpl-visitor-result' },
      system_message: { template_id: 'demo-tpl-system-message' },
      order_paid: {
        channel: 'subscribe',
        template_id: 'demo-sub-order-paid',
        title: 'order paid (subscribe)',
        fields: {
          order_no: { key: 'character_string1' },
          goods: { key: 'thing2' },
          amount: { key: 'amount3' },
          paid_at: { key: 'time4' },
          state: { key: 'phrase5' },
        },
        page: 'pages/order/detail',
        miniprogram_state: 'developer',
        lang: 'zh_CN',
        clients: true,
      },
      unionpay_paid: {
        channel: 'unionpay',
        template_id: 'UPT0000001',
        title: '支付成功通知',
        desc: '您的订单已支付成功',
        fields: { order_no: { key: 'MU00000201', type: 'character_string' }, amount: { key: 'MU00000204', type: 'amount' } },
      },
    },
  });
  return true;
}
