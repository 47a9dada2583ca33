/**
 * Template values against WeChat's limits per key type (protocols §3.2), amounts from minor units, and the
 * config/template document's own checks (built-in templates, typed keys, channels).
 */
import { formatValue, templateData, describeViolation, formatAmount } from '../../shared/messaging/fields';
import { resolveTemplates, templateConfig, typedKeyKind, BUILTIN_TEMPLATES, type FieldType } from '../../shared/config/template';
import { messageId, recipientFor } from '../../shared/messaging/send';
import { wechatRefusal } from '../../shared/messaging/outcomes';
import { nextCstMidnight } from '../../shared/core/clock';
import type { Caller } from '../../shared/core/handler';
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { checkConfigFile } from '../../scripts/check-config';

const problem = (type: FieldType, v: unknown) => {
  const r = formatValue(type, v, 'CNY');
  return 'problem' in r ? r.problem : undefined;
};
const ok = (type: FieldType, v: unknown) => {
  const r = formatValue(type, v, 'CNY');
  if ('problem' in r) throw new Error(`expected ${JSON.stringify(v)} to pass as ${type}: ${r.problem}`);
  return r.ok;
};

describe('each key type keeps to its limit', () => {
  test.each<[FieldType, unknown, RegExp]>([
    ['thing', '一二三四五六七八九十一二三四五六七八九十一', /21 characters: a thing value is at most 20/],
    ['phrase', '已经完成支付', /at most 5 Chinese characters/],
    ['phrase', 'paid', /at most 5 Chinese characters/],
    ['character_string', 'A'.repeat(33), /33 characters: a character_string is at most 32/],
    ['character_string', 'AB 12', /no spaces/],
    ['letter', 'abc1', /at most 32 letters/],
    ['symbol', '★★★★★★', /6 characters: a symbol value is at most 5/],
    ['number', '12a', /must be a number/],
    ['number', '1'.repeat(33), /33 digits: a number is at most 32/],
    ['amount', '¥12345678901', /11 digits: an amount is at most 10/],
    ['amount', 'RMB 12', /one currency symbol and a number/],
    ['amount', { amount: 1.5, currency: 'CNY' }, /whole, non-negative number of minor units/],
    ['amount', { amount: 100, currency: 'CHF' }, /CHF, which has no one-character currency symbol/],
    ['amount', { amount: 100 }, /needs an ISO 4217 currency/],
    ['time', '25:00', /24-hour time/],
    ['time', 'tomorrow', /24-hour time/],
    ['date', '2019-10', /must be a date/],
    ['phone_number', '1'.repeat(18), /18 characters: a phone_number is at most 17/],
    ['phone_number', '138abc', /digits and \+ - \( \) only/],
    ['car_number', '粤B123456A', /9 characters: a car_number is at most 8/],
    ['car_number', '粤b-12345', /plate number/],
    ['name', '欧阳一二三四五六七八九', /a Chinese name is at most 10 Chinese characters/],
    ['name', 'Alexander Maximilian Smith', /at most 10 Chinese characters or 20 letters/],
    ['name', '张3', /without letters or digits/],
    ['text', 'x'.repeat(201), /201 characters: at most 200/],
    ['thing', '', /is empty/],
    ['thing', '   ', /is empty/],
    ['text', 'line one\nline two', /line break or control character/],
    ['thing', 'tab\there', /control character/],
    ['thing', null, /must be text, got null/],
    ['time', -5, /milliseconds since the epoch/],
    ['number', 1e21, /plain decimal number/],
  ])('%s %j', (type, value, expected) => {
    expect(problem(type, value)).toMatch(expected);
  });

  test('values within the limits pass unchanged', () => {
    expect(ok('thing', '一二三四五六七八九十一二三四五六七八九十')).toHaveLength(20);
    expect(ok('phrase', '已支付')).toBe('已支付');
    expect(ok('character_string', 'A'.repeat(32))).toHaveLength(32);
    expect(ok('number', '-12.50')).toBe('-12.50');
    expect(ok('number', 42)).toBe('42');
    expect(ok('amount', '¥1234567.89')).toBe('¥1234567.89');
    expect(ok('amount', '99.00元')).toBe('99.00元');
    expect(ok('time', '15:01')).toBe('15:01');
    expect(ok('time', '2019-10-01 15:01 ~ 2019-10-01 16:00')).toBe('2019-10-01 15:01 ~ 2019-10-01 16:00');
    expect(ok('date', '2019年10月1日')).toBe('2019年10月1日');
    expect(ok('date', '2018-01-01 08:00')).toBe('2018-01-01 08:00');
    expect(ok('phone_number', '+86 138-0000-0000')).toBe('+86 138-0000-0000');
    expect(ok('car_number', '粤B12345D')).toBe('粤B12345D');
    expect(ok('name', '欧阳娜娜')).toBe('欧阳娜娜');
    expect(ok('name', 'Anna Smith')).toBe('Anna Smith');
  });

  test('amounts come from minor units and currency, without floats', () => {
    expect(ok('amount', 9900)).toBe('¥99.00');
    expect(ok('amount', 1)).toBe('¥0.01');
    expect(ok('amount', { amount: 250, currency: 'USD' })).toBe('$2.50');
    expect(ok('amount', { amount: 500, currency: 'JPY' })).toBe('¥500');
    expect(formatAmount({ amount: 123456, currency: 'EUR' })).toBe('€1234.56');
    expect(formatValue('amount', 9900, 'EUR')).toEqual({ ok: '€99.00' });
  });

  test('times given as epoch milliseconds are shown in China time', () => {
    const t = Date.UTC(2026, 0, 31, 16, 5); // 00:05 on 1 February in China
    expect(ok('time', t)).toBe('2026-02-01 00:05');
    expect(ok('date', t)).toBe('2026-02-01');
  });
});

test("a typed key's name fixes its type, symbol keys included", () => {
  expect(['thing1', 'character_string12', 'symbol3', 'phrase5', 'keyword1'].map(typedKeyKind)).toEqual(['thing', 'character_string', 'symbol', 'phrase', undefined]);
});

describe('templateData names every violation', () => {
  const t = resolveTemplates({ currency: 'CNY', repeat_after_s: 3600, keep_data_s: 2592000, templates: { payment_reminder: { template_id: 'x' } }, official_account: { appid: 'wx0123456789abcdef', secret: 'a'.repeat(32) } }).templates.payment_reminder;

  test('a good set of values gives the keyword data', () => {
    const r = templateData(t, { order_no: 'A20260101001', merchant: 'Demo store', trade_type: 'WeChat Pay', paid_at: '2026-01-01 12:00', amount: 9900 }, 'CNY');
    expect(r.violations).toEqual([]);
    expect(r.data).toEqual({ keyword1: 'A20260101001', keyword2: 'Demo store', keyword3: 'WeChat Pay', keyword4: '2026-01-01 12:00', keyword5: '¥99.00' });
  });

  test('missing, unknown and over-long values are each named with key, type and limit', () => {
    const r = templateData(t, { order_no: 'A'.repeat(40), merchant: 'Demo', paid_at: '2026-01-01 12:00', amount: 9900, colour: 'red' }, 'CNY');
    const lines = r.violations.map(describeViolation);
    expect(lines).toEqual([
      'values.order_no (template key keyword1, character_string) is 40 characters: a character_string is at most 32',
      'values.trade_type (template key keyword3, text) is missing',
      'values.colour is not a value of template payment_reminder; its values: order_no, merchant, trade_type, paid_at, amount',
    ]);
  });

  test('names every object inherits are not values: "constructor" is unknown, and a field of that name is missing', () => {
    const good = { order_no: 'A1', merchant: 'Demo', trade_type: 'WeChat Pay', paid_at: '2026-01-01 12:00', amount: 9900 };
    expect(templateData(t, { ...good, constructor: 'x' }, 'CNY').violations.map(describeViolation)).toEqual([
      'values.constructor is not a value of template payment_reminder; its values: order_no, merchant, trade_type, paid_at, amount',
    ]);
    const odd = { name: 'odd', fields: { constructor: { key: 'thing1', type: 'thing' as const, optional: false } } };
    expect(templateData(odd, {}, 'CNY').violations.map(describeViolation)).toEqual(['values.constructor (template key thing1, thing) is missing']);
  });
});

describe('config/template', () => {
  const oa = { appid: 'wx0123456789abcdef', secret: 'a'.repeat(32) };

  test('a built-in template needs only its id; its fields and who may send come with it', () => {
    const r = templateConfig.validate({ official_account: oa, templates: { visitor_approval: { template_id: 'abc', recipients: ['o-approver-1'] } } });
    expect(r.ok).toBe(true);
    const t = resolveTemplates((r as { config: any }).config).templates.visitor_approval;
    expect(t).toMatchObject({ channel: 'official_account', clients: true, recipients: ['o-approver-1'] });
    expect(t.fields.visitor_name).toEqual({ key: 'keyword1', type: 'name', optional: false });
    expect(Object.keys(BUILTIN_TEMPLATES).sort()).toEqual(['payment_reminder', 'system_message', 'visitor_approval', 'visitor_result']);
  });

  test.each<[string, Record<string, unknown>, string]>([
    ['an own template without channel', { official_account: oa, templates: { mine: { template_id: 'x', fields: { a: { key: 'thing1' } } } } }, 'config/template.templates.mine.channel is missing'],
    ['an own template without fields', { official_account: oa, templates: { mine: { channel: 'subscribe', template_id: 'x' } } }, 'config/template.templates.mine.fields is missing'],
    ['a type that contradicts its key', { templates: { mine: { channel: 'subscribe', template_id: 'x', fields: { a: { key: 'thing1', type: 'amount' } } } } }, 'config/template.templates.mine.fields.a.type is "amount" but key thing1 is a thing key'],
    ['an official-account template without the account', { templates: { payment_reminder: { template_id: 'x' } } }, 'config/template.official_account (appid, secret) is missing'],
    ['a UnionPay template without mp_id', { templates: { u: { channel: 'unionpay', template_id: 'x', fields: { a: { key: 'MU1' } } } } }, 'config/template.unionpay (mp_id) is missing'],
    ['a bad secret', { official_account: { ...oa, secret: 'short' }, templates: {} }, 'config/template.official_account.secret must be'],
    ['an unknown channel', { templates: { mine: { channel: 'sms', template_id: 'x', fields: { a: { key: 'thing1' } } } } }, 'config/template.templates.mine.channel must be one of'],
    ['a template name that cannot be sent', { templates: { Mine: { channel: 'subscribe', template_id: 'x', fields: { a: { key: 'thing1' } } } } }, 'config/template.templates.Mine is not a known field'],
    ['a value name that cannot be sent', { templates: { mine: { channel: 'subscribe', template_id: 'x', fields: { Amount: { key: 'amount1' } } } } }, 'config/template.templates.mine.fields.Amount is not a known field'],
    ['a page without a mini-program', { official_account: oa, templates: { payment_reminder: { template_id: 'x', page: 'pages/a' } } }, 'config/template.templates.payment_reminder.page needs a mini-program'],
  ])('%s is refused naming the field', (_what, doc, expected) => {
    const r = templateConfig.validate(doc);
    expect(r.ok).toBe(false);
    expect((r as { problems: string[] }).problems.join('\n')).toContain(expected);
  });
});

describe('who may send, and the message id', () => {
  const t = resolveTemplates({ currency: 'CNY', repeat_after_s: 3600, keep_data_s: 2592000, official_account: { appid: 'wx0123456789abcdef', secret: 'a'.repeat(32) }, templates: { visitor_approval: { template_id: 'x', recipients: ['o-approver'] }, visitor_result: { template_id: 'y' } } }).templates;
  const client: Caller = { openid: 'o-visitor', source: 'wx_client', trusted: false };
  const fn: Caller = { source: 'wx_client,scf', trusted: true };

  test('a client sends client templates to itself or the listed recipients only', () => {
    expect(recipientFor(client, t.visitor_approval, undefined)).toBe('o-visitor');
    expect(recipientFor(client, t.visitor_approval, 'o-approver')).toBe('o-approver');
    expect(() => recipientFor(client, t.visitor_approval, 'o-someone-else')).toThrow(/only to its own user/);
    expect(() => recipientFor(client, t.visitor_result, undefined)).toThrow(/sent by cloud functions only/);
    expect(() => recipientFor({ source: 'wx_client', trusted: false }, t.visitor_approval, undefined)).toThrow(/no OPENID/);
  });

  test('a cloud function sends any template to anyone it names', () => {
    expect(recipientFor(fn, t.visitor_result, 'o-anyone')).toBe('o-anyone');
    expect(() => recipientFor(fn, t.visitor_result, undefined)).toThrow(/to is missing/);
  });

  test('the id is the same for the same message, and differs for another recipient, content, key or client', () => {
    const base = { template: 'a', to: 'o1', content: 'c' };
    expect(messageId(base)).toBe(messageId({ ...base }));
    expect(messageId(base)).toMatch(/^[0-9a-f]{32}$/);
    const others = [{ ...base, to: 'o2' }, { ...base, content: 'd' }, { ...base, key: 'k' }, { ...base, client: 'o1' }].map(messageId);
    expect(new Set([messageId(base), ...others]).size).toBe(5);
    // With a key, the content does not change the id (a retry with other values is caught as a conflict).
    expect(messageId({ ...base, key: 'k' })).toBe(messageId({ ...base, content: 'other', key: 'k' }));
  });
});

describe('what a refusal means', () => {
  const c = { channel: 'official_account' as const, template: 'payment_reminder', template_id: 'tid', to: 'o-user', appid: 'wx0123456789abcdef', now: Date.UTC(2026, 0, 1, 3, 0) };

  test.each<[number, string, boolean, RegExp]>([
    [43101, 'PROVIDER_REJECTED', false, /refuses messages.*not retried/],
    [43004, 'PROVIDER_REJECTED', false, /does not follow the official account wx0123456789abcdef.*not retried/],
    [40003, 'PROVIDER_REJECTED', false, /to: o-user is not an openid of wx0123456789abcdef.*official-account openid, not the mini-program's/],
    [40037, 'CONFIG_INVALID', false, /config\/template.templates.payment_reminder.template_id tid is not a template of wx0123456789abcdef/],
    [47003, 'PROVIDER_REJECTED', false, /47003 data.keyword1.value invalid/],
    [40164, 'PROVIDER_REJECTED', false, /not whitelisted.*IP白名单/],
    [45009, 'PROVIDER_REJECTED', true, /daily quota.*retry after 2026-01-01T16:00:00.000Z/],
    [-1, 'PROVIDER_UNAVAILABLE', true, /try again/],
    [12345, 'PROVIDER_REJECTED', false, /12345 data.keyword1.value invalid/],
  ])('%i', (code, expectedCode, retryable, message) => {
    const r = wechatRefusal(code, 'data.keyword1.value invalid', c);
    expect(r.error.code).toBe(expectedCode);
    expect(r.retryable).toBe(retryable);
    expect(r.error.message).toMatch(message);
  });

  test('45009 backs off until midnight China time', () => {
    expect(wechatRefusal(45009, '', c).retry_after).toBe(Date.UTC(2026, 0, 1, 16, 0));
    expect(nextCstMidnight(Date.UTC(2026, 0, 1, 16, 0))).toBe(Date.UTC(2026, 0, 2, 16, 0));
  });

  test('43101 on the subscribe channel says to ask the user again', () => {
    expect(wechatRefusal(43101, '', { ...c, channel: 'subscribe' }).error.message).toMatch(/wx.requestSubscribeMessage/);
  });
});

test('npm run check-config knows config/template', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tpl-'));
  try {
    const good = join(dir, 'template.json');
    writeFileSync(good, JSON.stringify({ official_account: { appid: 'wx0123456789abcdef', secret: 'a'.repeat(32) }, templates: { payment_reminder: { template_id: 'abc' } } }));
    expect(checkConfigFile(good)).toEqual({ ok: true, lines: [`${good}: config/template is valid (1 templates)`] });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ _id: 'template', templates: { payment_reminder: { template_id: 'abc' } } }));
    const r = checkConfigFile(bad);
    expect(r.ok).toBe(false);
    expect(r.lines.join('\n')).toContain('config/template.official_account (appid, secret) is missing');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
