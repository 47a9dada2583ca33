import { Type, type Static, Pattern, OneOf } from '../core/schema';

/** The providers this build implements; `pay_sp` accepts exactly these. */
export const PROVIDER_IDS = ['v2', 'v2sp', 'v3', 'v3sp', 'cloudpay', 'yaband', 'vr', '2paynow', 'supay'] as const;
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

export const YabandSection = Type.Object(
  {
    user: Type.String({ minLength: 1, description: 'the YabandPay cashier account (usually an e-mail address), sent as `user`' }),
    secret: Pattern(/^\S{8,}$/, 'must be the secret key of the YabandPay cashier account (the HMAC-SHA256 key), without spaces'),
    api_base: Type.String({ ...HttpsBase, default: 'https://mapi.yabandpay.com' }),
    time_unit: OneOf(['s', 'ms'] as const, {
      default: 's',
      description: "unit of the request `time`: PHP clients send seconds, the Java/TS samples milliseconds (both appear accepted: an assumption)",
    }),
    timeout_minutes: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1440, description: 'how long Yaband keeps a payment open; default: the order lifetime (order_expire_minutes)' }),
    ),
    sub_app_id: Type.Optional(
      Type.String({ ...AppId, description: 'the mini-program that pays (sub_app_id); default: the calling mini-program (WX context APPID)' }),
    ),
    redirect_url: Type.Optional(
      Pattern(/^https?:\/\/\S+$/, 'must be an http(s) URL', { description: 'where a payment page (alipay, ideal, ...) sends the payer afterwards' }),
    ),
    currencies: Type.Array(Pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "EUR"'), {
      minItems: 1,
      default: ['EUR'],
      description: 'currencies this Yaband account settles; orders in others are refused',
    }),
    refund_query_method: Type.String({
      ...Pattern(/^v3\.[A-Za-z]{1,64}$/, 'must be a YabandPay v3 method name such as "v3.TimeRefundOrder"'),
      default: 'v3.TimeRefundOrder',
      description: 'assumption: the method listing refunds of a time window (start_time, end_time), read for our m_refund_id; Yaband has no single-refund query',
    }),
  },
  { additionalProperties: false, description: 'YabandPay (v3 API): WeChat Pay in the mini-program and payment pages for other methods' },
);

export const VrSection = Type.Object(
  {
    space_id: Type.Integer({ minimum: 1, description: 'the space id (sent as the Space header), from the VR Payment portal' }),
    user_id: Type.Integer({ minimum: 1, description: "the application user's id (the JWT's sub)" }),
    auth_key: Pattern(
      /^[A-Za-z0-9+/]{16,}={0,2}$/,
      "must be the application user's authentication key as VR Payment shows it (base64); it signs every request",
    ),
    api_base: Type.String({ ...HttpsBase, default: 'https://gateway.vr-payment.de' }),
    success_url: Type.Optional(Pattern(/^https?:\/\/\S+$/, 'must be an http(s) URL', { description: 'where the payment page sends the payer after paying' })),
    failed_url: Type.Optional(Pattern(/^https?:\/\/\S+$/, 'must be an http(s) URL', { description: 'where the payment page sends the payer after a failure' })),
    currencies: Type.Array(Pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "EUR"'), {
      minItems: 1,
      default: ['EUR'],
      description: "currencies the space's payment connectors take",
    }),
    method_configurations: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z_]{2,32}$' }), Type.Integer({ minimum: 1 }), {
        additionalProperties: false,
        description: 'pay_method → payment method configuration id of the space: the page then offers that method only, and methods not listed are refused',
      }),
    ),
    void_path: Type.String({
      ...Pattern(/^\/[A-Za-z0-9/_.-]*\{id\}[A-Za-z0-9/_.-]*$/, 'must be an API path containing {id}'),
      default: '/payment/transactions/{id}/void-online',
      description: 'assumption: the void endpoint closeorder calls, below /api/v2.0',
    }),
    search_query: Type.String({
      ...Pattern(/\{field\}[\s\S]*\{value\}/, 'must contain {field} and then {value}'),
      default: '{field}:"{value}"',
      description: 'assumption: how a /search query names one field (merchantReference, externalId)',
    }),
  },
  { additionalProperties: false, description: 'VR Payment (wallee platform): REST API v2, JWT (HS256) authentication, hosted payment page' },
);

const TwoPayNowFunction = Pattern(/^[A-Za-z0-9_]{1,64}$/, 'must be a 2paynow function name (letters, digits, _)');
const TwoPayNowParam = Pattern(/^[A-Za-z0-9_]{1,64}$/, 'must be a request or answer field name (letters, digits, _)');
export const TwoPayNowSection = Type.Object(
  {
    mid: Pattern(/^[0-9]{4,20}$/, 'must be the 2paynow merchant id (mid): digits only'),
    key: Pattern(/^[\x21-\x7e]{8,128}$/, 'must be the 2paynow merchant key (the md5 sign key), without spaces'),
    api_base: Type.String({ ...HttpsBase, default: 'https://www.2paynow.com' }),
    gateway_path: Type.String({ ...Pattern(/^\/[A-Za-z0-9/_.-]*$/, 'must be a path starting with /'), default: '/zhifu/mc_itf' }),
    currencies: Type.Array(Pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "EUR"'), {
      minItems: 1,
      default: ['EUR'],
      description: 'currencies this 2paynow account takes; orders in others are refused',
    }),
    timeout: Type.String({
      ...Pattern(/^([1-9][0-9]{0,3}[mhd]|1c)$/, 'must be an it_b_pay duration such as "30m", "2h", "1d" or "1c"'),
      default: '30m',
      description: 'it_b_pay: how long a precreated (alipay, wechat_qr) trade stays payable',
    }),
    jsapi_function: Type.String({
      ...TwoPayNowFunction,
      default: 'jsapi_precreate',
      description: 'assumption: the in-app WeChat Pay (JSAPI) function 2paynow issues you; none is public',
    }),
    jsapi_openid_param: Type.String({ ...TwoPayNowParam, default: 'sub_openid', description: "assumption: the JSAPI request field with the payer's openid" }),
    jsapi_appid_param: Type.String({ ...TwoPayNowParam, default: 'sub_appid', description: 'assumption: the JSAPI request field with the paying mini-program appid' }),
    jsapi_answer_field: Type.String({
      ...TwoPayNowParam,
      default: 'pay_info',
      description: 'assumption: the JSAPI answer field holding the five wx.requestPayment fields (object or JSON string); when absent they are read at the top level',
    }),
    refund_function: Type.Optional(
      Type.String({ ...TwoPayNowFunction, description: 'assumption: the refund function 2paynow issued you (none is public); absent: refund is NOT_SUPPORTED' }),
    ),
  },
  { additionalProperties: false, description: '2paynow (Europe Sepay B.V.): md5-signed GET requests; notifications confirmed by function=query' },
);

const SuPayId = Pattern(/^[A-Za-z0-9_-]{1,32}$/, 'must be a SuPay merchant number (平台方商户编号): letters, digits, _ or -');
export const SuPaySection = Type.Object(
  {
    mch_id: SuPayId,
    key: Pattern(/^[\x21-\x7e]{8,128}$/, 'must be the MD5 key SuPay issued with the merchant number (密钥), without spaces'),
    recevice_id: Type.Optional(Type.String({ ...SuPayId, description: 'the payee (收款方唯一标识; sic, as the API spells it); default: mch_id' })),
    store_name: Type.String({ minLength: 1, maxLength: 64, description: 'store_name of every order (required by SuPay)' }),
    api_base: Type.String({ ...HttpsBase, default: 'https://gate.supaytechnology.com' }),
    timeout_express: Type.String({
      ...Pattern(/^[1-9][0-9]{0,3}[mhd]$/, 'must be a duration such as "30m", "2h" or "1d"'),
      default: '30m',
      description: 'how long SuPay keeps a trade payable',
    }),
    currencies: Type.Array(Pattern(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "AUD"'), {
      minItems: 1,
      default: ['AUD'],
      description: "currencies this SuPay account takes (SuPay's samples show AUD only); orders in others are refused",
    }),
    url_pay_way: OneOf(['H5', 'PC'] as const, {
      default: 'H5',
      description: 'assumption: the pay_way of url methods (alipay); SuPay answers it with the payment page url in pay_info',
    }),
    query_trade_type: Type.String({
      ...Pattern(/^[A-Z_]{1,32}$/, 'must be an upper-case trade_type value'),
      default: 'PAY',
      description: 'assumption: the trade_type query_trade needs for a payment (the SDK requires the field; its values are not public)',
    }),
    refund_query_trade_type: Type.String({
      ...Pattern(/^[A-Z_]{1,32}$/, 'must be an upper-case trade_type value'),
      default: 'REFUND',
      description: "assumption: the trade_type with which query_trade finds a refund by its mch_order_no (SuPay has no refund query service)",
    }),
  },
  { additionalProperties: false, description: 'SuPay / SuperPay (Australia): MD5-signed JSON services, WeChat Pay JSAPI and Alipay pages; signed form notifications' },
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
        template: Type.Optional(
          Type.Object(
            {
              name: Pattern(/^[a-z][a-z0-9_]{0,39}$/, 'must be the logical name of a template in config/template', {
                default: 'payment_reminder',
                description: 'the template sent; it takes the values order_no, merchant, trade_type, paid_at and amount',
              }),
              function: Pattern(/^[A-Za-z0-9_-]{1,60}$/, 'must be a cloud function name', { default: 'template-msg', description: 'the function that sends it' }),
              merchant: Type.Optional(Type.String({ minLength: 1, maxLength: 20, description: "shown as the merchant (收款账户); the order's merchant id when left out" })),
              trade_type: Type.Optional(Type.String({ minLength: 1, maxLength: 20, description: 'shown as the trade type (交易类型); 微信支付 for WeChat payments, the pay method otherwise' })),
              recipient_field: Type.Optional(
                Pattern(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a field name', {
                  description: "field of the business order holding the recipient's openid on the template's channel (e.g. the official-account openid); the payer's openid when left out",
                }),
              ),
            },
            { additionalProperties: false, description: 'a template message (config/template) sent once paid; a failed send never undoes the payment and is retried by reconcile' },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    v2: Type.Optional(V2Section),
    v2sp: Type.Optional(V2SpSection),
    v3: Type.Optional(V3Section),
    v3sp: Type.Optional(V3SpSection),
    cloudpay: Type.Optional(CloudPaySection),
    yaband: Type.Optional(YabandSection),
    vr: Type.Optional(VrSection),
    '2paynow': Type.Optional(TwoPayNowSection),
    supay: Type.Optional(SuPaySection),
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

