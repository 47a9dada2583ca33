import { Type, type Static, Pattern, OneOf } from '../core/schema';
import { configDocLoader } from './doc-loader';

/**
 * `config/contract`: UnionPay QuickPass (云闪付) password-free payment (无感支付). UnionPay issues each
 * mini-program two parameter sets, test and production; the document holds both and `active` picks the one
 * new signings and charges use. Contracts and orders remember the set (its `app_id`) they were made under,
 * so switching `active` does not strand them.
 */

const Url = Pattern(/^https?:\/\/[^\s?#]+$/, 'must be an http(s) URL without query or fragment');
const ApiPath = Pattern(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/, 'must be an API path below api_base such as "1.0/contract.apply" (no leading /)');

/** The ACP-style deduction (the request UnionPay's 无感支付 spec defines is not public: every name here is an assumption). */
export const DeductionSection = Type.Object(
  {
    path: Type.String({ ...ApiPath, default: '1.0/contract.deduct', description: 'assumption: the API path of the background charge by contract, below api_base' }),
    query_path: Type.String({ ...ApiPath, default: '1.0/contract.query', description: 'assumption: the API path of the charge query (ACP txnType 00), below api_base' }),
    contract_field: Type.String({
      ...Pattern(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must be a field name'),
      default: 'contractId',
      description: 'assumption: the request field that carries the contract id',
    }),
    fields: Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }), Type.String({ maxLength: 64 }), {
      additionalProperties: false, // without it TypeBox's patternProperties lets any key through
      default: { txnType: '01', txnSubType: '01', bizType: '000902', accessType: '0', channelType: '07', currencyCode: '156' },
      description: 'assumption: constant ACP fields sent with every charge (txnType 01 consume, bizType, channelType, currencyCode 156 = CNY)',
    }),
    query_fields: Type.Record(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }), Type.String({ maxLength: 64 }), {
      additionalProperties: false,
      default: { txnType: '00', txnSubType: '00' },
      description: 'assumption: constant ACP fields sent with every query',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const UnionPayAppSection = Type.Object(
  {
    app_id: Pattern(/^[A-Za-z0-9]{8,64}$/, 'must be the appId UnionPay issued for this parameter set (letters and digits)'),
    secret: Pattern(/^[\x21-\x7e]{8,128}$/, 'must be the secret UnionPay issued with the appId (it signs backendToken requests), without spaces'),
    plan_id: Pattern(/^[A-Za-z0-9]{1,64}$/, 'must be the 无感支付 plan id (planId, 协议模板号) UnionPay assigned to the application'),
    symmetric_key: Pattern(/^[0-9A-Fa-f]{48}$/, 'must be the 3DES symmetric key (symmetricKey): 48 hex characters'),
    private_key: Pattern(/-----BEGIN (RSA )?PRIVATE KEY-----/, "must be the merchant's RSA private key PEM (-----BEGIN PRIVATE KEY-----)"),
    unionpay_public_key: Pattern(
      /-----BEGIN (PUBLIC KEY|CERTIFICATE)-----/,
      "must be UnionPay's RSA public key (or certificate) PEM: it verifies UnionPay's notifications",
    ),
    redirect_uri: Pattern(/^https?:\/\/\S+$/, 'must be the http(s) page the signing page returns to (registered with UnionPay)'),
    notify_url: Type.String({ ...Url, description: "base URL of the notify function's HTTP trigger; UnionPay's notifications go to <notify_url>/unionpay" }),
    api_base: Type.String({ ...Url, default: 'https://open.95516.com/open/access', description: 'the open platform; API paths such as 1.0/contract.apply are appended' }),
    sign_page: Type.String({ ...Url, default: 'https://open.95516.com/s/open/noPwd/html/open.html', description: 'the 无感支付 signing page' }),
    limits: Type.Object(
      {
        per_payment: Type.Integer({ minimum: 1, description: "the plan's largest single charge, in fen" }),
        per_day: Type.Integer({ minimum: 1, description: "the plan's total per contract per day (China time), in fen" }),
      },
      { additionalProperties: false },
    ),
    require: Type.Object(
      {
        credit_card: Type.Boolean({ default: false, description: 'the plan needs a bound credit card' }),
        mobile: Type.Boolean({ default: false, description: 'the plan needs a bound phone number' }),
        id_check: Type.Boolean({ default: false, description: 'the plan needs a real-name (ID) check' }),
      },
      { additionalProperties: false, default: {}, description: "the plan's signing requirements, shown to the user with the signing URL" },
    ),
    encrypted_fields: Type.Array(Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_.]{0,63}$' }), {
      default: ['accNo', 'cardNo', 'mobile'],
      description: 'notification fields that arrive 3DES-encrypted with symmetric_key; decrypted and kept only masked',
    }),
    deduction: DeductionSection,
  },
  { additionalProperties: false },
);

export const ContractConfigSchema = Type.Object(
  {
    active: OneOf(['test', 'production'] as const, { description: 'the parameter set new signings and charges use' }),
    client_may_charge: Type.Boolean({
      default: false,
      description: 'whether the mini-program itself may call pay (otherwise only other cloud functions and timers may charge)',
    }),
    test: Type.Optional(UnionPayAppSection),
    production: Type.Optional(UnionPayAppSection),
  },
  { additionalProperties: false, $id: 'config/contract', title: 'config/contract' },
);

export type ContractConfig = Static<typeof ContractConfigSchema>;
export type UnionPayApp = Static<typeof UnionPayAppSection>;
export type ParameterSet = 'test' | 'production';

export const contractConfig = configDocLoader('contract', ContractConfigSchema, {
  extra: (c, label) => {
    const problems: string[] = [];
    if (!c[c.active]) problems.push(`${label}${c.active} is missing: active is "${c.active}", so that parameter set must exist`);
    if (c.test && c.production && c.test.app_id === c.production.app_id) {
      problems.push(`${label}production.app_id equals test.app_id: UnionPay issues a different appId for each parameter set`);
    }
    return problems;
  },
});

/** The parameter set in use for new signings and charges (the loader has checked it exists). */
export function activeApp(config: ContractConfig): UnionPayApp & { set: ParameterSet } {
  return { ...config[config.active]!, set: config.active };
}

/** The parameter set whose appId is `appId` (a contract or order made under it, a notification for it). */
export function appById(config: ContractConfig, appId: string): (UnionPayApp & { set: ParameterSet }) | undefined {
  for (const set of ['test', 'production'] as const) {
    const app = config[set];
    if (app && app.app_id === appId) return { ...app, set };
  }
  return undefined;
}
