import { Type, type Static, Pattern, OneOf } from '../core/schema';
import { configDocLoader } from './doc-loader';

/**
 * `config/template`: the message channels' credentials and the table of logical templates the business (and
 * the payment hooks) send by name. The official account has its own appid and secret (its access token is
 * not the mini-program's); subscribe messages go through `cloud.openapi`, which needs no secret; UnionPay
 * messages use a parameter set of `config/contract` (its backendToken is shared with the contract function).
 */

/** The value types of WeChat's typed template keys (`thing1`, `time2`, ...), protocols §3.2. */
export const TYPED_KINDS = ['thing', 'phrase', 'amount', 'time', 'date', 'character_string', 'number', 'letter', 'symbol', 'phone_number', 'car_number', 'name'] as const;
/** `text`: the free text of classic `first` / `keywordN` / `remark` keys and of UnionPay's field codes. */
export const FIELD_TYPES = [...TYPED_KINDS, 'text'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];
export const CHANNELS = ['official_account', 'subscribe', 'unionpay'] as const;
export type Channel = (typeof CHANNELS)[number];

const AppId = Pattern(/^wx[0-9a-f]{16}$/, 'must be an appid: "wx" and 16 hex digits');
const Url = Pattern(/^https?:\/\/[^\s?#]+$/, 'must be an http(s) URL without query or fragment');
/** A mini-program page path with its query: `pages/order/detail?id=1` (no scheme, no spaces). */
export const PAGE_PATTERN = /^[A-Za-z0-9_\-./?=&%]{1,256}$/;
const Page = Pattern(PAGE_PATTERN, 'must be a mini-program page path such as "pages/order/detail?id=1" (letters, digits, _-./?=&%; at most 256)');
/** The name a business value goes by in `values` (and the payment hook's order fields). */
const VALUE_NAME = '^[a-z][a-z0-9_]{0,39}$';

export const FieldSpec = Type.Object(
  {
    key: Pattern(/^[A-Za-z][A-Za-z0-9_]{0,39}$/, 'must be the template key, e.g. "thing1", "keyword2", "first" or a UnionPay field code'),
    type: Type.Optional(
      OneOf(FIELD_TYPES, { description: "the value's type; a typed key's own prefix (thing1 → thing) when left out, otherwise text" }),
    ),
    optional: Type.Optional(Type.Boolean({ description: 'the value may be left out (it is then not sent)' })),
  },
  { additionalProperties: false },
);

const TemplateEntry = Type.Object(
  {
    channel: Type.Optional(OneOf(CHANNELS)),
    template_id: Pattern(/^[A-Za-z0-9_-]{1,128}$/, "must be the template's id in the account's console (not the library number such as OPENTM405545802)"),
    title: Type.Optional(Type.String({ maxLength: 64 })),
    fields: Type.Optional(
      Type.Record(Type.String({ pattern: VALUE_NAME }), FieldSpec, {
        additionalProperties: false,
        description: 'business value name (lower-case letters, digits, _) → template key and type',
      }),
    ),
    page: Type.Optional(Type.String({ ...Page, description: 'subscribe: the page opened; official account: the mini-program page (miniprogram.pagepath)' })),
    url: Type.Optional(Type.String({ ...Pattern(/^https?:\/\/\S{1,1000}$/, 'must be an http(s) URL'), description: 'official account: the web page opened' })),
    miniprogram_appid: Type.Optional(Type.String({ ...AppId, description: 'official account: the mini-program (bound to the account) that `page` opens' })),
    miniprogram_state: Type.Optional(OneOf(['developer', 'trial', 'formal'] as const, { description: 'subscribe: which version the message opens' })),
    lang: Type.Optional(OneOf(['zh_CN', 'en_US', 'zh_HK', 'zh_TW'] as const)),
    desc: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'unionpay: the message detail (desc)' })),
    dest_type: Type.Optional(OneOf(['applet', 'html', 'rn', 'native'] as const, { description: 'unionpay: what the message opens' })),
    dest_info: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'unionpay: the URL (html) or destination (rn/native); the mp_id for applet' })),
    clients: Type.Optional(Type.Boolean({ description: 'the mini-program itself may send this template (otherwise only cloud functions)' })),
    recipients: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{6,64}$' }), {
        maxItems: 100,
        description: 'openids a client may send this template to besides itself (e.g. the approvers)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const TemplateConfigSchema = Type.Object(
  {
    official_account: Type.Optional(
      Type.Object(
        {
          appid: AppId,
          secret: Pattern(/^[0-9a-f]{32}$/, "must be the official account's AppSecret: 32 hex digits (基本配置 → AppSecret)"),
          api_base: Type.Optional(Url),
          miniprogram_appid: Type.Optional(Type.String({ ...AppId, description: 'the mini-program that templates with a page open, unless a template names its own' })),
        },
        { additionalProperties: false },
      ),
    ),
    unionpay: Type.Optional(
      Type.Object(
        {
          parameter_set: OneOf(['active', 'test', 'production'] as const, { default: 'active', description: 'which parameter set of config/contract sends' }),
          mp_id: Pattern(/^[A-Za-z0-9_-]{1,64}$/, 'must be the mini-program id (mpId) UnionPay assigned'),
        },
        { additionalProperties: false },
      ),
    ),
    currency: Type.String({ pattern: '^[A-Z]{3}$', default: 'CNY', description: 'the currency of amount values given as a bare number of minor units' }),
    repeat_after_s: Type.Integer({
      minimum: 60,
      maximum: 30 * 86_400,
      default: 3_600,
      description: 'without an idempotency_key, the same content to the same recipient within this many seconds of its sending is the same message (not sent again); after it, a new one',
    }),
    keep_data_s: Type.Integer({
      minimum: 86_400,
      maximum: 3 * 365 * 86_400,
      default: 30 * 86_400,
      description: "how long msg_sends keeps a finished message's values (names, phone numbers); `purge` then clears them, keeping the record so a late retry is still recognised",
    }),
    templates: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,39}$' }), TemplateEntry, {
      additionalProperties: false,
      default: {},
      description: 'logical name (lower-case letters, digits, _) → template; the built-in names need only template_id',
    }),
  },
  { additionalProperties: false, $id: 'config/template', title: 'config/template' },
);

export type TemplateConfig = Static<typeof TemplateConfigSchema>;
type Entry = Static<typeof TemplateEntry>;
export interface ResolvedField {
  key: string;
  type: FieldType;
  optional: boolean;
}
/** A template with the built-in defaults filled in and every key's type known. */
export type Template = Omit<Entry, 'channel' | 'fields' | 'clients' | 'recipients'> & {
  name: string;
  channel: Channel;
  fields: Record<string, ResolvedField>;
  clients: boolean;
  recipients: string[];
};

type Builtin = Omit<Entry, 'template_id'> & { channel: Channel; fields: Record<string, Static<typeof FieldSpec>> };

/**
 * The templates the original system used (official-account library templates). Only `template_id` is the
 * account's own: the operator adds the template from the library and writes its id.
 */
/** 访客姓名, 手机号码, 预约时间, 来访事由: the approval request and its result carry the same four. */
const VISITOR_FIELDS: Builtin['fields'] = {
  visitor_name: { key: 'keyword1', type: 'name' },
  phone: { key: 'keyword2', type: 'phone_number' },
  visit_time: { key: 'keyword3', type: 'time' },
  reason: { key: 'keyword4' },
};

export const BUILTIN_TEMPLATES: Record<string, Builtin> = {
  payment_reminder: {
    title: '付款提醒 (OPENTM405545802)',
    channel: 'official_account',
    fields: {
      order_no: { key: 'keyword1', type: 'character_string' }, // 账单编号
      merchant: { key: 'keyword2' }, // 收款账户
      trade_type: { key: 'keyword3' }, // 交易类型
      paid_at: { key: 'keyword4', type: 'time' }, // 交易时间
      amount: { key: 'keyword5', type: 'amount' }, // 付款金额
    },
    clients: false,
  },
  visitor_approval: {
    title: '访客预约审批通知 (OPENTM417363270)',
    channel: 'official_account',
    fields: VISITOR_FIELDS,
    // A visitor's mini-program asks the approvers (listed in recipients) to approve.
    clients: true,
  },
  visitor_result: {
    title: '来访预约结果通知 (OPENTM417740493)',
    channel: 'official_account',
    fields: VISITOR_FIELDS,
    clients: false,
  },
  system_message: {
    title: '集成系统新消息提醒 (custom)',
    channel: 'official_account',
    fields: {
      content: { key: 'keyword1' },
      source: { key: 'keyword2' },
      sender: { key: 'keyword3' },
      remind_time: { key: 'keyword4', type: 'time' },
    },
    clients: false,
  },
};

const TYPED_KEY = new RegExp(`^(${[...TYPED_KINDS].sort((a, b) => b.length - a.length).join('|')})\\d+$`);

/** The type a key's name fixes (`amount3` → amount), if it is a typed key. */
export const typedKeyKind = (key: string): FieldType | undefined => TYPED_KEY.exec(key)?.[1] as FieldType | undefined;

/** Each template with the built-in defaults applied, or the problems naming the fields to fix. */
export function resolveTemplates(config: TemplateConfig, label = 'config/template.'): { templates: Record<string, Template>; problems: string[] } {
  const templates: Record<string, Template> = {};
  const problems: string[] = [];
  for (const [name, entry] of Object.entries(config.templates)) {
    const at = `${label}templates.${name}`;
    const builtin = BUILTIN_TEMPLATES[name];
    const channel = entry.channel ?? builtin?.channel;
    const specs = entry.fields ?? builtin?.fields;
    if (!channel) problems.push(`${at}.channel is missing: it must be one of ${CHANNELS.map((c) => `"${c}"`).join(', ')} (${name} is not a built-in template)`);
    if (!specs || Object.keys(specs).length === 0) problems.push(`${at}.fields is missing: map each business value to its template key, e.g. {"amount": {"key": "amount3"}}`);
    if (!channel || !specs) continue;
    const fields: Record<string, ResolvedField> = {};
    const keys = new Set<string>();
    for (const [value, spec] of Object.entries(specs)) {
      const fixed = typedKeyKind(spec.key);
      if (fixed && spec.type && spec.type !== fixed) problems.push(`${at}.fields.${value}.type is "${spec.type}" but key ${spec.key} is a ${fixed} key: leave type out or make it "${fixed}"`);
      if (keys.has(spec.key)) problems.push(`${at}.fields.${value}.key ${spec.key} is used by another value too`);
      keys.add(spec.key);
      fields[value] = { key: spec.key, type: fixed ?? spec.type ?? 'text', optional: spec.optional === true };
    }
    const t: Template = { ...builtin, ...entry, name, channel, fields, clients: entry.clients ?? builtin?.clients ?? false, recipients: entry.recipients ?? [] };
    if (channel === 'official_account' && !config.official_account) problems.push(`${at} uses the official_account channel: config/template.official_account (appid, secret) is missing`);
    if (channel === 'unionpay' && !config.unionpay) problems.push(`${at} uses the unionpay channel: config/template.unionpay (mp_id) is missing`);
    if (channel === 'unionpay' && t.dest_type && t.dest_type !== 'applet' && !t.dest_info) problems.push(`${at}.dest_info is missing: dest_type "${t.dest_type}" needs the URL or destination it opens`);
    if (t.page && channel === 'official_account' && !t.miniprogram_appid && !config.official_account?.miniprogram_appid) {
      problems.push(`${at}.page needs a mini-program: set ${at}.miniprogram_appid or ${label}official_account.miniprogram_appid`);
    }
    templates[name] = t;
  }
  return { templates, problems };
}

export const templateConfig = configDocLoader('template', TemplateConfigSchema, {
  extra: (c, label) => resolveTemplates(c, label).problems,
});

/** The loaded document and its resolved templates (the loader has checked they resolve). */
export async function loadTemplates(...args: Parameters<typeof templateConfig.load>): Promise<{ config: TemplateConfig; templates: Record<string, Template> }> {
  const config = await templateConfig.load(...args);
  return { config, templates: resolveTemplates(config).templates };
}
