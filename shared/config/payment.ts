import { Type, type Static, Pattern, OneOf } from '../core/schema';

/** The providers this build implements; `pay_sp` accepts exactly these. */
export const PROVIDER_IDS = ['v2', 'v2sp', 'v3', 'v3sp', 'cloudpay'] as const;
export type ProviderId = (typeof PROVIDER_IDS)[number];

/** The flat fields of the original single-provider document, read as the active provider's section. */
export const LEGACY_FIELDS = ['appid', 'mchid', 'key', 'sign_type', 'sub_mchid', 'sub_appid'] as const;

const AppId = Pattern(/^wx[0-9a-f]{16}$/, 'must be a mini-program or official-account appid: "wx" and 16 hex digits');
const MchId = Pattern(/^[0-9]{6,16}$/, 'must be a WeChat Pay merchant id (商户号): digits only');
const V2Key = Pattern(
  /^[A-Za-z0-9]{32}$/,
  'must be the 32-character API key (API密钥, 商户平台 → 账户中心 → API安全); it is not the AppSecret, and not the APIv3 key, which v2 does not use',
);
const HttpsBase = Pattern(/^https?:\/\/[^\s?#]+$/, 'must be an http(s) URL without query or fragment');

const V2Common = {
  appid: AppId,
  mchid: MchId,
  key: V2Key,
  sign_type: OneOf(['MD5', 'HMAC-SHA256'] as const, { default: 'MD5' }),
  cert_pem: Type.Optional(
    Pattern(/-----BEGIN CERTIFICATE-----/, 'must be the PEM of apiclient_cert.pem (-----BEGIN CERTIFICATE-----)'),
  ),
  key_pem: Type.Optional(
    Pattern(/-----BEGIN (RSA )?PRIVATE KEY-----/, 'must be the PEM of apiclient_key.pem (-----BEGIN PRIVATE KEY-----)'),
  ),
  p12_base64: Type.Optional(Pattern(/^[A-Za-z0-9+/=\s]+$/, 'must be apiclient_cert.p12 encoded as base64')),
  p12_passphrase: Type.Optional(Type.String({ description: 'defaults to the merchant id, as WeChat issues it' })),
  api_base: Type.Optional(HttpsBase),
  tls_ca: Type.Optional(
    Pattern(/-----BEGIN CERTIFICATE-----/, 'must be a PEM certificate (only for a private test endpoint)'),
  ),
};

export const V2Section = Type.Object(V2Common, {
  additionalProperties: false,
  description: 'WeChat Pay API v2, direct merchant',
});
export const V2SpSection = Type.Object(
  {
    ...V2Common,
    appid: Type.String({ ...AppId, description: "the service provider's appid" }),
    mchid: Type.String({ ...MchId, description: "the service provider's merchant id; key is the provider's key" }),
    sub_mchid: MchId,
    sub_appid: Type.Optional(Type.String({ ...AppId, description: 'the mini-program that pays (paySign uses it)' })),
  },
  { additionalProperties: false, description: 'WeChat Pay API v2, service-provider mode' },
);

const PemPrivateKey = Pattern(
  /-----BEGIN (RSA )?PRIVATE KEY-----/,
  'must be the PEM of apiclient_key.pem (-----BEGIN PRIVATE KEY-----)',
);
const V3Common = {
  appid: AppId,
  mchid: MchId,
  serial_no: Pattern(/^[0-9A-Fa-f]{8,40}$/, 'must be the merchant API certificate serial (40 hex digits: openssl x509 -noout -serial -in apiclient_cert.pem)'),
  private_key: PemPrivateKey,
  apiv3_key: Pattern(/^[\x21-\x7e]{32}$/, 'must be the 32-character APIv3 key (商户平台 → API安全 → 设置APIv3密钥)'),
  public_key: Type.Optional(
    Pattern(/-----BEGIN PUBLIC KEY-----/, 'must be the WeChat Pay public key PEM (pub_key.pem, -----BEGIN PUBLIC KEY-----)'),
  ),
  public_key_id: Type.Optional(Pattern(/^PUB_KEY_ID_[0-9]{10,40}$/, 'must be the WeChat Pay public key id: PUB_KEY_ID_ and digits')),
  cert_pem: Type.Optional(
    Pattern(/-----BEGIN CERTIFICATE-----/, 'must be the PEM of apiclient_cert.pem: used only to check serial_no and private_key'),
  ),
  api_base: Type.Optional(HttpsBase),
  tls_ca: Type.Optional(
    Pattern(/-----BEGIN CERTIFICATE-----/, 'must be a PEM certificate (only for a private test endpoint)'),
  ),
};
export const V3Section = Type.Object(V3Common, { additionalProperties: false, description: 'WeChat Pay API v3, direct merchant' });
export const V3SpSection = Type.Object(
  {
    ...V3Common,
    appid: Type.String({ ...AppId, description: "the service provider's appid (sp_appid)" }),
    mchid: Type.String({ ...MchId, description: "the service provider's merchant id (sp_mchid)" }),
    sp_appid: Type.Optional(Type.String({ ...AppId, description: 'alias of appid' })),
    sp_mchid: Type.Optional(Type.String({ ...MchId, description: 'alias of mchid' })),
    sub_mchid: MchId,
    sub_appid: Type.Optional(Type.String({ ...AppId, description: 'the mini-program that pays (paySign and sub_openid use it)' })),
  },
  { additionalProperties: false, description: 'WeChat Pay API v3, service-provider (partner) mode' },
);

export const CloudPaySection = Type.Object(
  {
    sub_mchid: Type.String({ ...MchId, description: 'your merchant id, bound to the environment in the cloud console (设置 → 全局设置)' }),
    env_id: Pattern(/^[A-Za-z0-9-]{3,64}$/, 'must be the cloud environment id (云开发控制台 → 环境 ID)'),
    function_name: Type.String({ ...Pattern(/^[A-Za-z0-9_-]{1,60}$/, 'must be a cloud function name'), default: 'notify', description: 'the function cloudPay calls with results' }),
    payer_field: OneOf(['none', 'openid', 'sub_openid'] as const, {
      default: 'none',
      description: "how unifiedOrder names the payer: 'none' lets CloudBase take the calling user (unverified which one a given account needs)",
    }),
  },
  { additionalProperties: false, description: 'cloudPay: WeChat Pay through CloudBase (service provider), no certificates' },
);

const CollectionName = Pattern(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'must be a collection name');
const FieldName = Pattern(/^[A-Za-z_][A-Za-z0-9_.]{0,63}$/, 'must be a field name (dots for nested fields)');

export const PaymentConfigSchema = Type.Object(
  {
    pay_sp: OneOf(PROVIDER_IDS, { description: 'the provider for NEW orders; an order keeps its own' }),
    notify_url: Type.String({
      ...HttpsBase,
      description: "base URL of the notify function's HTTP trigger; the provider id is appended as a path segment",
    }),
    currency: Type.String({ ...Pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "CNY"'), default: 'CNY' }),
    refund_currency: Type.Optional(Pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "CNY"')),
    currencies: Type.Optional(
      Type.Array(Pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "EUR"'), {
        minItems: 1,
        description: 'currencies a client may pick for an order (unifiedorder currency); the default is currency alone',
      }),
    ),
    amount_source: OneOf(['order', 'client'] as const, {
      default: 'order',
      description: "'order': amount and payer come from the business order; 'client': the client's amount is recorded",
    }),
    order_collection: Type.Optional(CollectionName),
    order_fields: Type.Object(
      {
        amount: Type.String({ ...FieldName, default: 'amount' }),
        openid: Type.String({ ...FieldName, default: '_openid' }),
        status: Type.String({ ...FieldName, default: 'status' }),
        description: Type.String({ ...FieldName, default: 'description' }),
      },
      { additionalProperties: false, default: {} },
    ),
    description: Type.String({
      minLength: 1,
      maxLength: 127,
      default: 'Order payment',
      description: 'the goods description sent to the provider when the order has none',
    }),
    max_amount: Type.Integer({ minimum: 1, default: 5_000_000, description: 'largest amount one order may take, in minor units' }),
    order_expire_minutes: Type.Integer({ minimum: 5, maximum: 1440, default: 30 }),
    admins: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'openids allowed to call refund from the mini-program',
    }),
    on_paid: Type.Object(
      {
        set_status: Type.Optional(
          Type.String({ minLength: 1, description: "value written to the business order's status field once paid" }),
        ),
        call_function: Type.Optional(
          Pattern(/^[A-Za-z0-9_-]{1,60}$/, 'must be a cloud function name', {
            description: "cloud function called with {action: 'paid', order} once paid",
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    v2: Type.Optional(V2Section),
    v2sp: Type.Optional(V2SpSection),
    v3: Type.Optional(V3Section),
    v3sp: Type.Optional(V3SpSection),
    cloudpay: Type.Optional(CloudPaySection),
    // The original single-provider document's flat fields: read as the active provider's section when it is absent.
    ...Object.fromEntries(
      LEGACY_FIELDS.map((f) => [f, Type.Optional(Type.String({ description: `legacy: ${f} of the active provider's section` }))]),
    ),
  },
  { additionalProperties: false, $id: 'config/payment', title: 'config/payment' },
);
export type PaymentConfig = Static<typeof PaymentConfigSchema>;
export type V2Config = Static<typeof V2Section>;
export type V2SpConfig = Static<typeof V2SpSection>;
export type V3Config = Static<typeof V3Section>;
export type V3SpConfig = Static<typeof V3SpSection>;

