/**
 * `template-msg` end to end through the emulator: every built-in template on each channel (official-account
 * template send and mini-program subscribe send against the wechat-api sandbox, UnionPay applet.msg against
 * the UnionPay sandbox), value checks, each errcode's meaning, who may send to whom, retries that are never
 * delivered twice, and bursts from many instances that fetch one token.
 */
import { manualClock } from '../../shared/core/clock';
import { memoryLogger } from '../../shared/core/logger';
import { createHttpClient, HttpUnavailableError, type HttpClient } from '../../shared/http/client';
import { localCloud, localOpenApi } from '../../shared/runtime/local';
import type { DocStore } from '../../shared/runtime/port';
import { messageContent, messageId } from '../../shared/messaging/send';
import { tokenCacheKey } from '../../shared/messaging/access-token';
import { backendTokenCacheKey } from '../../shared/providers/unionpay/backend-token';
import { CACHE } from '../../shared/store/shared-cache';
import { MSG_SENDS } from '../../shared/store/msg-sends';
import { templateMsgHandler } from '../../functions/template-msg/handler';
import { DEMO_APPID, DEMO_APP_SECRET, DEMO_OA_APPID, DEMO_UNIONPAY_MP_ID } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
/** Moved by hand only where a test needs time to pass (repeat_after_s). */
const clock = manualClock(Date.now());
let seeded: Record<string, any>;
const FN = { source: 'wx_client,scf' };
const client = (openid: string) => ({ openid, source: 'wx_client' });
const wx = () => emu.sandboxes['wechat-api'];
const up = () => emu.sandboxes.unionpay;
const send = (event: Record<string, unknown>, ctx: Record<string, string> = FN) => emu.fn('template-msg', { action: 'send', ...event }, ctx);
const record = (id: string) => emu.db(MSG_SENDS, id);

const PAID_AT = Date.UTC(2026, 5, 1, 2, 30); // 10:30 in China
const VALUES: Record<string, Record<string, unknown>> = {
  payment_reminder: { order_no: 'A20260601001', merchant: 'Demo store', trade_type: 'WeChat Pay', paid_at: PAID_AT, amount: 9900 },
  visitor_approval: { visitor_name: '张三', phone: '13800000000', visit_time: '2026-06-02 09:30', reason: 'Budget review' },
  visitor_result: { visitor_name: '张三', phone: '13800000000', visit_time: '2026-06-02 09:30', reason: 'Budget review' },
  system_message: { content: 'Reconciliation done', source: 'pay', sender: 'system', remind_time: '2026-06-01 23:00' },
};
/** The same business values on the typed keys of a subscribe template. */
const SUBSCRIBE_KEYS: Record<string, Record<string, string>> = {
  payment_reminder: { order_no: 'character_string1', merchant: 'thing2', trade_type: 'thing3', paid_at: 'time4', amount: 'amount5' },
  visitor_approval: { visitor_name: 'name1', phone: 'phone_number2', visit_time: 'time3', reason: 'thing4' },
  visitor_result: { visitor_name: 'name1', phone: 'phone_number2', visit_time: 'time3', reason: 'thing4' },
  system_message: { content: 'thing1', source: 'thing2', sender: 'name3', remind_time: 'time4' },
};
const BUILTINS = Object.keys(VALUES);
const EXPECTED_TEXT: Record<string, Record<string, string>> = {
  payment_reminder: { order_no: 'A20260601001', merchant: 'Demo store', trade_type: 'WeChat Pay', paid_at: '2026-06-01 10:30', amount: '¥99.00' },
  visitor_approval: { visitor_name: '张三', phone: '13800000000', visit_time: '2026-06-02 09:30', reason: 'Budget review' },
  visitor_result: { visitor_name: '张三', phone: '13800000000', visit_time: '2026-06-02 09:30', reason: 'Budget review' },
  system_message: { content: 'Reconciliation done', source: 'pay', sender: 'system', remind_time: '2026-06-01 23:00' },
};

/** The seeded document plus each built-in template again on the subscribe and the UnionPay channel. */
function withAllChannels(doc: Record<string, any>) {
  const templates = { ...doc.templates };
  for (const name of BUILTINS) {
    const keys = SUBSCRIBE_KEYS[name];
    templates[`${name}_sub`] = { channel: 'subscribe', template_id: `sub-${name}`, fields: Object.fromEntries(Object.entries(keys).map(([v, key]) => [v, { key }])), page: 'pages/index/index' };
    const builtinTypes: Record<string, string> = { paid_at: 'time', amount: 'amount', order_no: 'character_string', visit_time: 'time', remind_time: 'time', phone: 'phone_number' };
    templates[`${name}_up`] = {
      channel: 'unionpay',
      template_id: `UPT-${name}`,
      desc: `${name} notice`,
      fields: Object.fromEntries(Object.keys(keys).map((v, i) => [v, { key: `MU0000020${i + 1}`, ...(builtinTypes[v] ? { type: builtinTypes[v] } : {}) }])),
    };
  }
  return { ...doc, templates };
}

beforeAll(async () => {
  emu = await testEmulator({ clock });
  seeded = (await emu.db('config', 'template'))!;
  for (const name of BUILTINS) wx().messages.addTemplate(DEMO_APPID, 'subscribe', `sub-${name}`, Object.values(SUBSCRIBE_KEYS[name]));
  await emu.put('config', 'template', withAllChannels(seeded));
});
afterAll(() => emu.stop());

describe('each built-in template on each channel', () => {
  test.each(BUILTINS)('%s on the official account', async (name) => {
    const to = `o-oa-${name}`;
    const r = await send({ template: name, to, values: VALUES[name] });
    expect(r).toMatchObject({ ok: true, data: { template: name, to, status: 'sent', duplicate: false } });
    const [m] = wx().messages.delivered(to);
    expect(m).toMatchObject({ appid: DEMO_OA_APPID, kind: 'template', template_id: `demo-tpl-${name.replace('_', '-')}`, client_msg_id: r.data.client_msg_id, msgid: Number(r.data.msgid) });
    const keys = Object.fromEntries(Object.entries(EXPECTED_TEXT[name]).map(([, v], i) => [`keyword${i + 1}`, v]));
    expect(m.data).toEqual(keys);
    if (name === 'payment_reminder') expect(m.miniprogram).toEqual({ appid: DEMO_APPID, pagepath: 'pages/order/detail' });
    expect(await record(r.data.client_msg_id)).toMatchObject({ status: 'sent', channel: 'official_account', to, attempts: 1, data: keys, sent_by: { source: 'wx_client,scf' } });
  });

  test.each(BUILTINS)('%s as a mini-program subscribe message', async (name) => {
    const to = `o-sub-${name}`;
    const r = await send({ template: `${name}_sub`, to, values: VALUES[name], page: 'pages/visit/detail?id=7' });
    expect(r).toMatchObject({ ok: true, data: { status: 'sent' } });
    const [m] = wx().messages.delivered(to);
    expect(m).toMatchObject({ appid: DEMO_APPID, kind: 'subscribe', template_id: `sub-${name}`, page: 'pages/visit/detail?id=7' });
    expect(m.data).toEqual(Object.fromEntries(Object.entries(SUBSCRIBE_KEYS[name]).map(([v, key]) => [key, EXPECTED_TEXT[name][v]])));
  });

  test.each(BUILTINS)('%s as a UnionPay mini-program message', async (name) => {
    const to = `up-user-${name.replace('_', '')}`;
    const r = await send({ template: `${name}_up`, to, values: VALUES[name] });
    expect(r).toMatchObject({ ok: true, data: { status: 'sent', msgid: expect.stringMatching(/^MSG/) } });
    const [m] = up().messages(to);
    expect(m).toMatchObject({ mpId: DEMO_UNIONPAY_MP_ID, templateId: `UPT-${name}`, desc: `${name} notice`, destType: 'applet', destInfo: DEMO_UNIONPAY_MP_ID, isPush: '1' });
    expect(m.valueList).toEqual(Object.values(EXPECTED_TEXT[name]).map((value, i) => ({ key: `MU0000020${i + 1}`, value })));
  });

  test('the official account takes typed-key (category) templates and classic ones with first and remark', async () => {
    wx().messages.addTemplate(DEMO_OA_APPID, 'template', 'oa-typed', ['thing1', 'amount2', 'time3']);
    wx().messages.addTemplate(DEMO_OA_APPID, 'template', 'oa-classic', ['keyword1']);
    const doc = withAllChannels(seeded);
    doc.templates.oa_typed = { channel: 'official_account', template_id: 'oa-typed', url: 'https://example.com/orders/1', fields: { goods: { key: 'thing1' }, amount: { key: 'amount2' }, paid_at: { key: 'time3' } } };
    doc.templates.oa_classic = { channel: 'official_account', template_id: 'oa-classic', fields: { intro: { key: 'first', optional: true }, what: { key: 'keyword1' }, outro: { key: 'remark', optional: true } } };
    await emu.put('config', 'template', doc);
    expect(await send({ template: 'oa_typed', to: 'o-oa-typed', values: { goods: 'Parking, 1 hour', amount: 1234, paid_at: PAID_AT } })).toMatchObject({ ok: true });
    expect(wx().messages.delivered('o-oa-typed')[0]).toMatchObject({ url: 'https://example.com/orders/1', data: { thing1: 'Parking, 1 hour', amount2: '¥12.34', time3: '2026-06-01 10:30' } });
    const c = await send({ template: 'oa_classic', to: 'o-oa-classic', values: { intro: 'Hello', what: 'Your pass is ready', outro: 'Thank you' } });
    expect(c).toMatchObject({ ok: true });
    // first and remark are sent; WeChat (and its sandbox) drops them since May 2023 and shows the keywords.
    expect((await record(c.data.client_msg_id)).data).toEqual({ first: 'Hello', keyword1: 'Your pass is ready', remark: 'Thank you' });
    expect(wx().messages.delivered('o-oa-classic')[0].data).toEqual({ keyword1: 'Your pass is ready' });
    expect(await send({ template: 'oa_classic', to: 'o-oa-classic-2', values: { what: 'Your pass is ready' } })).toMatchObject({ ok: true });
    expect(wx().messages.delivered('o-oa-classic-2')[0].data).toEqual({ keyword1: 'Your pass is ready' });
    await emu.put('config', 'template', withAllChannels(seeded));
  });

  test('the seeded subscribe and UnionPay templates work as seeded, with miniprogramState and lang', async () => {
    const me = 'o-demo-payer';
    const r = await send({ template: 'order_paid', values: { order_no: 'A1', goods: 'Parking, 1 hour', amount: 1, paid_at: PAID_AT, state: '已支付' } }, client(me));
    expect(r).toMatchObject({ ok: true, data: { to: me } });
    expect(wx().messages.delivered(me).pop()).toMatchObject({ kind: 'subscribe', miniprogram_state: 'developer', lang: 'zh_CN', page: 'pages/order/detail', data: { amount3: '¥0.01', phrase5: '已支付' } });
    const u = await send({ template: 'unionpay_paid', to: 'up-seeded-user', values: { order_no: 'A1', amount: { amount: 250, currency: 'CNY' } } });
    expect(u).toMatchObject({ ok: true });
    expect(up().messages('up-seeded-user')[0].valueList).toEqual([{ key: 'MU00000201', value: 'A1' }, { key: 'MU00000204', value: '¥2.50' }]);
  });
});

describe('values', () => {
  test('every violation is named, and nothing is sent or recorded', async () => {
    const before = wx().messages.delivered().length;
    const r = await send({ template: 'payment_reminder_sub', to: 'o-bad-values', values: { order_no: 'A 1', merchant: '一二三四五六七八九十一二三四五六七八九十一', paid_at: 'noon', amount: { amount: 100, currency: 'CHF' }, extra: 'x' } });
    expect(r.ok).toBe(false);
    expect(r.error.code).toBe('INVALID_INPUT');
    for (const part of [
      'values.order_no (template key character_string1, character_string) must be digits, letters and symbols only',
      'values.merchant (template key thing2, thing) is 21 characters: a thing value is at most 20',
      'values.trade_type (template key thing3, thing) is missing',
      'values.paid_at (template key time4, time) must be a 24-hour time',
      'values.amount (template key amount5, amount) is in CHF',
      'values.extra is not a value of template payment_reminder_sub',
    ]) expect(r.error.message).toContain(part);
    expect(wx().messages.delivered().length).toBe(before);
    expect(await emu.store.find(MSG_SENDS, { to: 'o-bad-values' })).toEqual([]);
  });

  test('a value name the template lacks is repeated clipped: a huge name does not come back whole', async () => {
    const huge = `x${'y'.repeat(20_000)}`;
    // visitor_approval: a template a mini-program may send (to itself).
    const r = await send({ template: 'visitor_approval', values: { ...VALUES.visitor_approval, [huge]: 'x' } }, client('o-huge-name'));
    expect(r.error.code).toBe('INVALID_INPUT');
    expect(r.error.message).toContain(`values.x${'y'.repeat(39)}… is not a value of template visitor_approval`);
    expect(r.error.message.length).toBeLessThan(400);
  });

  test('an unknown template names the ones there are', async () => {
    const r = await send({ template: 'nope', to: 'o-someone', values: {} });
    expect(r).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('payment_reminder') } });
  });

  test('a name every object inherits ("constructor") is not a template, for a client or a function', async () => {
    for (const ctx of [FN, client('o-proto-user')]) {
      const r = await send({ template: 'constructor', to: 'o-proto-user', values: {} }, ctx);
      expect(r).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('no template constructor in config/template') } });
    }
  });

  test('a value WeChat still refuses (47003) is final and names the key', async () => {
    // The operator marked keyword5 optional, but the account's template requires it.
    const doc = withAllChannels(seeded);
    doc.templates.lenient = { channel: 'official_account', template_id: 'demo-tpl-payment-reminder', fields: { ...Object.fromEntries(Object.entries({ order_no: 'keyword1', merchant: 'keyword2', trade_type: 'keyword3', paid_at: 'keyword4' }).map(([v, key]) => [v, { key }])), amount: { key: 'keyword5', type: 'amount', optional: true } } };
    await emu.put('config', 'template', doc);
    const { amount: _amount, ...values } = VALUES.payment_reminder;
    void _amount;
    const r = await send({ template: 'lenient', to: 'o-lenient', values: { ...values, paid_at: '2026-06-01 10:30' } });
    expect(r).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: '47003', message: expect.stringContaining('data.keyword5.value is empty') } });
    const [rec] = await emu.store.find<any>(MSG_SENDS, { to: 'o-lenient' });
    expect(rec).toMatchObject({ status: 'failed', retryable: false, error: { provider_code: '47003' } });
  });
});

describe('what each refusal means', () => {
  afterEach(async () => {
    await emu.put('config', 'template', withAllChannels(seeded));
  });

  test.each<[string, number, string, string, RegExp]>([
    ['43101 on subscribe: final, ask the user again', 43101, 'payment_reminder_sub', 'PROVIDER_REJECTED', /not retried; the mini-program must ask again with wx.requestSubscribeMessage/],
    ['43004 on the official account: final, not following', 43004, 'payment_reminder', 'PROVIDER_REJECTED', /does not follow the official account wx00aa00aa00aa00aa \(43004\): not retried/],
    ['40164: the IP whitelist explained', 40164, 'payment_reminder', 'PROVIDER_REJECTED', /calling IP is not whitelisted.*fixed egress IP/],
  ])('%s', async (_what, errcode, template, code, message) => {
    const to = `o-forced-${errcode}`;
    wx().messages.force(to, errcode);
    const r = await send({ template, to, values: VALUES.payment_reminder });
    expect(r).toMatchObject({ ok: false, error: { code, provider_code: String(errcode) } });
    expect(r.error.message).toMatch(message);
    const [rec] = await emu.store.find<any>(MSG_SENDS, { to });
    expect(rec).toMatchObject({ status: 'failed', retryable: false, error: { provider_code: String(errcode) } });
    expect(wx().messages.delivered(to)).toEqual([]);
    wx().messages.force(to, 0);
  });

  test('40003: the openid is not one of the account, and the message says which id is wrong', async () => {
    const r = await send({ template: 'visitor_result', to: 'mini-program-openid', values: VALUES.visitor_result });
    expect(r).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: '40003' } });
    expect(r.error.message).toContain(`to: mini-program-openid is not an openid of ${DEMO_OA_APPID}`);
  });

  test('40037: the template id is wrong, and the message names the config field', async () => {
    const doc = withAllChannels(seeded);
    doc.templates.payment_reminder = { template_id: 'OPENTM405545802', page: 'pages/order/detail' };
    await emu.put('config', 'template', doc);
    const r = await send({ template: 'payment_reminder', to: 'o-wrong-template', values: VALUES.payment_reminder });
    expect(r).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID' } });
    expect(r.error.message).toContain('config/template.templates.payment_reminder.template_id OPENTM405545802 is not a template of wx00aa00aa00aa00aa (40037)');
  });

  test('45009: retryable after midnight China time; the template backs off until then; the retry is delivered once', async () => {
    const to = 'o-quota';
    wx().messages.force(to, 45009, 1);
    const b = await emu.fn('template-msg', { action: 'send_batch', items: [{ template: 'system_message', to, values: VALUES.system_message }] }, FN);
    expect(b).toMatchObject({ ok: true, data: { sent: 0, failed: 1 } });
    const midnight = (() => {
      const day = 86_400_000;
      const off = 8 * 3600_000;
      return Math.floor((clock.now() + off) / day) * day + day - off;
    })();
    const refusal = { code: 'PROVIDER_REJECTED', provider_code: '45009', message: expect.stringContaining('daily quota'), retryable: true, retry_after: midnight };
    expect(b.data.results[0].error).toEqual(refusal);
    const [rec] = await emu.store.find<any>(MSG_SENDS, { to });
    expect(rec).toMatchObject({ status: 'failed', retryable: true, retry_after: midnight });
    // Until then every send of that template on that account is refused at once, without asking WeChat
    // (which would deliver this one: only o-quota's next send is forced to 45009), and recorded.
    const sentBefore = wx().messages.delivered().length;
    const other = await emu.fn('template-msg', { action: 'send_batch', items: [{ template: 'system_message', to: 'o-quota-2', values: VALUES.system_message }] }, FN);
    expect(other.data.results[0].error).toEqual({ ...refusal, message: b.data.results[0].error.message });
    expect(await send({ template: 'system_message', to, values: VALUES.system_message })).toMatchObject({ ok: false, error: { provider_code: '45009', retryable: true, retry_after: midnight } });
    expect(wx().messages.delivered().length).toBe(sentBefore);
    expect((await emu.store.find<any>(MSG_SENDS, { to: 'o-quota-2' }))[0]).toMatchObject({ status: 'failed', retryable: true, retry_after: midnight, error: { provider_code: '45009' } });
    expect(await record(rec._id)).toMatchObject({ status: 'failed', attempts: 2 });
    // Other templates of the account are not held back.
    expect(await send({ template: 'visitor_result', to: 'o-quota-3', values: VALUES.visitor_result })).toMatchObject({ ok: true });
    clock.advance(midnight - 1 - clock.now());
    expect(await send({ template: 'system_message', to, values: VALUES.system_message })).toMatchObject({ ok: false, error: { provider_code: '45009' } });
    clock.advance(1);
    const again = await send({ template: 'system_message', to, values: VALUES.system_message });
    expect(again).toMatchObject({ ok: true, data: { duplicate: false, client_msg_id: rec._id } });
    expect(await record(rec._id)).toMatchObject({ status: 'sent', attempts: 4, error: null, retry_after: null });
    expect(wx().messages.delivered(to)).toHaveLength(1);
    expect(await send({ template: 'system_message', to: 'o-quota-2', values: VALUES.system_message })).toMatchObject({ ok: true });
  });

  test.each([
    [45009, 'token quota'],
    [45011, 'token quota'],
    [-1, 'system busy'],
  ])("the token service's temporary refusal %s is retryable, and the retry is delivered", async (errcode, errmsg) => {
    const to = `o-token-busy-${errcode}`;
    await emu.store.remove(CACHE, tokenCacheKey(DEMO_OA_APPID));
    const refusing = instance((http) => ({
      request: async (req) => (req.url.includes('/cgi-bin/stable_token') ? { status: 200, headers: {}, body: JSON.stringify({ errcode, errmsg }) } : http.request(req)),
    }));
    const r = await templateMsgHandler({ action: 'send_batch', items: [{ template: 'system_message', to, values: VALUES.system_message }] }, refusing);
    expect(r).toMatchObject({ ok: true, data: { failed: 1, results: [{ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: String(errcode), retryable: true } }] } });
    const [rec] = await emu.store.find<any>(MSG_SENDS, { to });
    expect(rec).toMatchObject({ status: 'failed', retryable: true, error: { provider_code: String(errcode) } });
    await emu.store.remove(CACHE, tokenCacheKey(DEMO_OA_APPID)); // the failed refresher's lease
    expect(await templateMsgHandler({ action: 'send', template: 'system_message', to, values: VALUES.system_message }, instance())).toMatchObject({ ok: true, data: { client_msg_id: rec._id } });
    expect(wx().messages.delivered(to)).toHaveLength(1);
  });

  test('an expired official-account token is replaced once and the message goes out', async () => {
    await send({ template: 'system_message', to: 'o-token-1', values: VALUES.system_message });
    const before = wx().tokens.fetchCount(DEMO_OA_APPID);
    wx().tokens.expireAll(DEMO_OA_APPID);
    const r = await send({ template: 'system_message', to: 'o-token-2', values: VALUES.system_message });
    expect(r).toMatchObject({ ok: true });
    expect(wx().tokens.fetchCount(DEMO_OA_APPID) - before).toBe(1);
  });

  test('UnionPay: a10 is answered by one token refresh; a config refusal names what to fix', async () => {
    const cfg = (await emu.db('config', 'contract'))!;
    await emu.post('/sandbox/unionpay/expire-tokens', { appId: cfg.test.app_id });
    expect(await send({ template: 'unionpay_paid', to: 'up-a10-user', values: { order_no: 'A2', amount: 100 } })).toMatchObject({ ok: true });
    await emu.post('/sandbox/unionpay/msg-faults', { openId: 'up-refused', resp: 'BC2133' });
    const r = await send({ template: 'unionpay_paid', to: 'up-refused', values: { order_no: 'A3', amount: 100 } });
    expect(r).toMatchObject({ ok: false, error: { code: 'CONFIG_INVALID', message: expect.stringContaining('check app_id in config/contract') } });
    await emu.post('/sandbox/unionpay/msg-faults', { openId: 'up-missing', resp: 'XX99' });
    expect(await send({ template: 'unionpay_paid', to: 'up-missing', values: { order_no: 'A4', amount: 100 } })).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: 'XX99' } });
  });
});

describe('who may send', () => {
  test('a client sends a client template to itself, not to someone else', async () => {
    const values = { order_no: 'A9', goods: 'Parking', amount: 500, paid_at: PAID_AT, state: '已支付' };
    expect(await send({ template: 'order_paid', values }, client('o-client-self'))).toMatchObject({ ok: true, data: { to: 'o-client-self' } });
    const r = await send({ template: 'order_paid', to: 'o-victim-user', values }, client('o-client-self'));
    expect(r).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('only to its own user') } });
    expect(wx().messages.delivered('o-victim-user')).toEqual([]);
  });

  test('a client reaches the recipients the template lists (the approvers), and no one else', async () => {
    const r = await send({ template: 'visitor_approval', to: 'o-demo-approver', values: VALUES.visitor_approval }, client('o-visitor-1'));
    expect(r).toMatchObject({ ok: true, data: { to: 'o-demo-approver' } });
    expect(await record(r.data.client_msg_id)).toMatchObject({ sent_by: { source: 'wx_client', openid: 'o-visitor-1' } });
    expect(await send({ template: 'visitor_approval', to: 'o-not-an-approver', values: VALUES.visitor_approval }, client('o-visitor-1'))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });

  test('a client may not send a function-only template, even to itself; a caller without OPENID nothing', async () => {
    expect(await send({ template: 'payment_reminder', values: VALUES.payment_reminder }, client('o-client-2'))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('cloud functions only') } });
    expect(await send({ template: 'order_paid', values: {} }, { source: 'wx_client' })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });
});

describe('a retried send is never delivered twice', () => {
  test('the same message again is recognised by its client_msg_id', async () => {
    const to = 'o-retry-user';
    const first = await send({ template: 'visitor_result', to, values: VALUES.visitor_result });
    const second = await send({ template: 'visitor_result', to, values: VALUES.visitor_result });
    expect(second).toEqual({ ok: true, data: { ...first.data, duplicate: true } });
    expect(wx().messages.delivered(to)).toHaveLength(1);
    expect(await record(first.data.client_msg_id)).toMatchObject({ attempts: 1, status: 'sent' });
  });

  test('the same content without a key is a new message once repeat_after_s has passed, and its retry again is not', async () => {
    const to = 'o-repeat-user';
    const first = await send({ template: 'visitor_result', to, values: VALUES.visitor_result });
    clock.advance(3_600_000 - 1); // the default repeat_after_s
    expect(await send({ template: 'visitor_result', to, values: VALUES.visitor_result })).toEqual({ ok: true, data: { ...first.data, duplicate: true } });
    clock.advance(1);
    const later = await send({ template: 'visitor_result', to, values: VALUES.visitor_result });
    expect(later).toMatchObject({ ok: true, data: { duplicate: false } });
    expect(later.data.client_msg_id).not.toBe(first.data.client_msg_id);
    expect(await send({ template: 'visitor_result', to, values: VALUES.visitor_result })).toEqual({ ok: true, data: { ...later.data, duplicate: true } });
    expect(wx().messages.delivered(to)).toHaveLength(2);
    // With an idempotency key the message stays one however long ago it was sent.
    const keyed = await send({ template: 'visitor_result', to, values: VALUES.visitor_result, idempotency_key: 'visit-42' });
    clock.advance(30 * 86_400_000);
    expect(await send({ template: 'visitor_result', to, values: VALUES.visitor_result, idempotency_key: 'visit-42' })).toEqual({ ok: true, data: { ...keyed.data, duplicate: true } });
    expect(wx().messages.delivered(to)).toHaveLength(3);
  });

  test('after more than a thousand repeats of the same content the next one is still sent, found in a few reads', async () => {
    const to = 'o-long-chain';
    const first = await send({ template: 'visitor_result', to, values: VALUES.visitor_result });
    const { _id, ...sent } = await record(first.data.client_msg_id);
    const idAt = (repeat: number) => messageId({ template: 'visitor_result', to, content: messageContent(sent.data), repeat });
    expect(idAt(0)).toBe(_id);
    for (let k = 1; k <= 1100; k++) await emu.store.insert(MSG_SENDS, idAt(k), { ...sent, client_msg_id: idAt(k) });
    clock.advance(3_600_000);
    let reads = 0;
    const counting: DocStore = { ...emu.store, get: (c, id) => ((reads += c === MSG_SENDS ? 1 : 0), emu.store.get(c, id)) };
    const r = await templateMsgHandler({ action: 'send', template: 'visitor_result', to, values: VALUES.visitor_result }, instance(undefined, counting));
    expect(r).toMatchObject({ ok: true, data: { duplicate: false, client_msg_id: idAt(1101) } });
    expect(wx().messages.delivered(to)).toHaveLength(2);
    expect(reads).toBeLessThanOrEqual(30);
  });

  test('10 concurrent sends of one message deliver it once', async () => {
    const to = 'o-concurrent-user';
    const rs = await Promise.all(Array.from({ length: 10 }, () => send({ template: 'system_message', to, values: VALUES.system_message, idempotency_key: 'night-1' })));
    for (const r of rs) expect(r.ok || r.error.code === 'CONFLICT').toBe(true);
    expect(rs.filter((r) => r.ok && !r.data.duplicate)).toHaveLength(1);
    expect(wx().messages.delivered(to)).toHaveLength(1);
  });

  test('an idempotency key names one message: other values under it are a conflict', async () => {
    const to = 'o-key-user';
    expect(await send({ template: 'system_message', to, values: VALUES.system_message, idempotency_key: 'k-1' })).toMatchObject({ ok: true });
    const r = await send({ template: 'system_message', to, values: { ...VALUES.system_message, content: 'Something else' }, idempotency_key: 'k-1' });
    expect(r).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('use a new key') } });
    expect(await send({ template: 'system_message', to, values: { ...VALUES.system_message, content: 'Something else' }, idempotency_key: 'k-2' })).toMatchObject({ ok: true, data: { duplicate: false } });
    expect(wx().messages.delivered(to)).toHaveLength(2);
  });

  test('under a key, a message that was never delivered may be sent with other values; a sent one may not', async () => {
    const to = 'o-key-failed';
    wx().messages.force(to, 45009, 1);
    const failed = await send({ template: 'system_message', to, values: VALUES.system_message, idempotency_key: 'k-3' });
    expect(failed).toMatchObject({ ok: false, error: { provider_code: '45009' } });
    const [rec] = await emu.store.find<any>(MSG_SENDS, { to });
    clock.advance(rec.retry_after - clock.now()); // the template's back-off ends
    // 45009 was a definite refusal: nothing reached the user, so the key takes the new values.
    const changed = { ...VALUES.system_message, content: 'Changed' };
    const r = await send({ template: 'system_message', to, values: changed, idempotency_key: 'k-3' });
    expect(r).toMatchObject({ ok: true, data: { duplicate: false, client_msg_id: rec._id } });
    expect(wx().messages.delivered(to)).toEqual([expect.objectContaining({ data: expect.objectContaining({ keyword1: 'Changed' }) })]);
    expect(await record(r.data.client_msg_id)).toMatchObject({ status: 'sent', attempts: 2, data: { keyword1: 'Changed' } });
    // Sent: the first values again under the key are a conflict, and nothing more is delivered.
    expect(await send({ template: 'system_message', to, values: VALUES.system_message, idempotency_key: 'k-3' })).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });
    expect(wx().messages.delivered(to)).toHaveLength(1);
  });

  test('under a key, a message with an unknown outcome (no answer) refuses other values', async () => {
    const to = 'o-key-unknown';
    const lossy = answerLost();
    const event = { action: 'send', template: 'system_message', to, values: VALUES.system_message, idempotency_key: 'k-4' };
    expect(await templateMsgHandler(event, lossy)).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } });
    const other = await send({ template: 'system_message', to, values: { ...VALUES.system_message, content: 'Changed' }, idempotency_key: 'k-4' });
    expect(other).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('use a new key') } });
    expect(wx().messages.delivered(to)).toHaveLength(1);
    expect((await emu.store.find<any>(MSG_SENDS, { to }))[0]).toMatchObject({ status: 'failed', outcome: 'unknown', attempts: 1, data: { keyword1: VALUES.system_message.content } });
  });
});

describe('send_batch', () => {
  test('per-item results in order; one refusal does not stop the others', async () => {
    const r = await emu.fn(
      'template-msg',
      {
        action: 'send_batch',
        items: [
          { template: 'system_message', to: 'o-batch-1', values: VALUES.system_message },
          { template: 'system_message', to: 'o-batch-2', values: { ...VALUES.system_message, remind_time: 'late' } },
          { template: 'visitor_result', to: 'o-batch-3', values: VALUES.visitor_result },
        ],
      },
      FN,
    );
    expect(r).toMatchObject({ ok: true, data: { sent: 2, failed: 1 } });
    expect(r.data.results.map((x: any) => x.ok)).toEqual([true, false, true]);
    expect(r.data.results[1].error).toMatchObject({ code: 'INVALID_INPUT', retryable: false, message: expect.stringContaining('values.remind_time') });
  });

  test('a batch is bounded', async () => {
    const items = Array.from({ length: 51 }, (_, i) => ({ template: 'system_message', to: `o-big-${i}`, values: VALUES.system_message }));
    expect(await emu.fn('template-msg', { action: 'send_batch', items }, FN)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('1 to 50') } });
  });
});

test('a page the template cannot open is refused before anything is recorded', async () => {
  const doc: Record<string, any> = withAllChannels(seeded);
  const { miniprogram_appid, ...account } = doc.official_account;
  expect(miniprogram_appid).toBeDefined();
  doc.official_account = account;
  doc.templates.payment_reminder = { template_id: doc.templates.payment_reminder.template_id };
  await emu.put('config', 'template', doc);
  try {
    const to = 'o-page-nowhere';
    const r = await send({ template: 'system_message', to, values: VALUES.system_message, page: 'pages/order/detail' });
    expect(r).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('opens no mini-program') } });
    expect(await emu.store.find(MSG_SENDS, { to })).toEqual([]);
    // Without the page it goes out, as one message.
    expect(await send({ template: 'system_message', to, values: VALUES.system_message })).toMatchObject({ ok: true });
    expect(await emu.store.find(MSG_SENDS, { to })).toHaveLength(1);
  } finally {
    await emu.put('config', 'template', withAllChannels(seeded));
  }
});

test('a page for a UnionPay template message is refused (it opens its configured dest_info), and nothing is recorded', async () => {
  const to = 'o-up-page';
  const r = await send({ template: 'system_message_up', to, values: VALUES.system_message, page: 'pages/order/detail' });
  expect(r).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('leave page out') } });
  expect(await emu.store.find(MSG_SENDS, { to })).toEqual([]);
});

/** A warm instance of the function: its own port objects and HTTP client over the one shared store. */
function instance(wrap: (http: HttpClient) => HttpClient = (h) => h, store: DocStore = emu.store) {
  const log = memoryLogger();
  const http = wrap(createHttpClient(log));
  return localCloud({
    store,
    context: { SOURCE: 'wx_client,scf' },
    callFunction: async () => undefined,
    cloudPay: undefined as never,
    openapi: localOpenApi({ app: { appid: DEMO_APPID, secret: DEMO_APP_SECRET, api_base: `${emu.url}/sandbox/wechat-api` }, store: emu.store, http, clock, log }),
    http,
    clock,
    log,
  });
}

/** An instance whose template sends reach WeChat but whose answers are lost (a timeout). */
const answerLost = () =>
  instance((http) => ({
    request: async (req) => {
      const res = await http.request(req);
      if (req.url.includes('/message/template/send')) throw new HttpUnavailableError('timeout', req.url);
      return res;
    },
  }));

test('purge: a timer clears the values of messages finished keep_data_s ago, keeps the records, and a late retry is still not delivered again', async () => {
  const to = 'o-purge-user';
  const old = await send({ template: 'visitor_result', to, values: VALUES.visitor_result, idempotency_key: 'visit-purge' });
  expect(old).toMatchObject({ ok: true });
  clock.advance(30 * 86_400_000 + 1); // past the default keep_data_s
  const recent = await send({ template: 'system_message', to, values: VALUES.system_message });
  // Only timers and other cloud functions run it.
  expect(await emu.fn('template-msg', { action: 'purge' }, client(to))).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  const run = await emu.fn('template-msg', { action: 'purge' }, FN);
  expect(run).toMatchObject({ ok: true, data: { more: false } });
  expect(run.data.redacted).toBeGreaterThanOrEqual(1);
  const cleared = await record(old.data.client_msg_id);
  expect(cleared).toMatchObject({ status: 'sent', data: {}, redacted_at: clock.now() });
  expect(JSON.stringify(cleared)).not.toContain('张三');
  expect((await record(recent.data.client_msg_id))!.data).toEqual(expect.objectContaining({ keyword1: VALUES.system_message.content }));
  // The record still names the message: the same send again is recognised, not delivered a second time.
  const delivered = wx().messages.delivered(to).length;
  expect(await send({ template: 'visitor_result', to, values: VALUES.visitor_result, idempotency_key: 'visit-purge' })).toMatchObject({ ok: true, data: { duplicate: true } });
  expect(wx().messages.delivered(to)).toHaveLength(delivered);
  // A second run finds nothing more to clear for that record.
  expect((await emu.fn('template-msg', { action: 'purge' }, FN)).data.redacted).toBe(0);
  expect(await record(recent.data.client_msg_id)).toMatchObject({ data_held: true });
});

test('purge: a failed message cleared by purge and then retried holds its new values until the next purge clears them', async () => {
  const to = 'o-purge-retry';
  const send1 = () => send({ template: 'system_message', to, values: VALUES.system_message, idempotency_key: 'purge-retry' });
  wx().messages.force(to, 43004, 1);
  const failed = await send1();
  expect(failed).toMatchObject({ ok: false, error: { provider_code: '43004' } });
  clock.advance(30 * 86_400_000 + 1);
  await emu.fn('template-msg', { action: 'purge' }, FN);
  const id = (await emu.store.find<any>(MSG_SENDS, { to }))[0]._id;
  expect(await record(id)).toMatchObject({ status: 'failed', data: {}, data_held: false });
  expect(await send1()).toMatchObject({ ok: true, data: { duplicate: false, client_msg_id: id } });
  expect(await record(id)).toMatchObject({ status: 'sent', data_held: true, data: expect.objectContaining({ keyword1: VALUES.system_message.content }) });
  clock.advance(30 * 86_400_000 + 1);
  await emu.fn('template-msg', { action: 'purge' }, FN);
  expect(await record(id)).toMatchObject({ status: 'sent', data: {}, data_held: false });
});

test('no answer: recorded as unknown and retryable; the retry keeps its client_msg_id and is delivered once', async () => {
  const to = 'o-no-answer';
  const event = { action: 'send', template: 'system_message', to, values: VALUES.system_message };
  const lossy = answerLost();
  const r = await templateMsgHandler(event, lossy);
  expect(r).toMatchObject({ ok: false, error: { code: 'PROVIDER_UNAVAILABLE' } });
  const [rec] = await emu.store.find<any>(MSG_SENDS, { to });
  expect(rec).toMatchObject({ status: 'failed', outcome: 'unknown', retryable: true });
  // The outcome is in the function's log too, under the message's id.
  const logged = (lossy.log as ReturnType<typeof memoryLogger>).lines.map((l) => JSON.parse(l)).find((l) => l.client_msg_id === rec._id);
  expect(logged).toMatchObject({ template: 'system_message', outcome: 'unknown' });
  expect(wx().messages.delivered(to)).toHaveLength(1);
  // The retry carries the same client_msg_id: WeChat recognises it and the user gets one message.
  const again = await templateMsgHandler(event, instance());
  expect(again).toMatchObject({ ok: true, data: { client_msg_id: rec._id } });
  expect(await record(rec._id)).toMatchObject({ status: 'sent', attempts: 2, outcome: null });
  expect(wx().messages.delivered(to)).toHaveLength(1);
});

describe('200 concurrent sends from 10 instances fetch exactly one token', () => {
  test.each([
    ['official account', 'system_message', DEMO_OA_APPID],
    ['subscribe', 'system_message_sub', DEMO_APPID],
  ])('%s', async (_what, template, appid) => {
    await emu.store.remove(CACHE, tokenCacheKey(appid));
    const before = wx().tokens.fetchCount(appid);
    const instances = Array.from({ length: 10 }, () => instance());
    const rs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => templateMsgHandler({ action: 'send', template, to: `o-burst-${template}-${i}`, values: VALUES.system_message }, instances[i % 10])),
    );
    expect(rs.filter((r) => !r.ok)).toEqual([]);
    expect(wx().tokens.fetchCount(appid) - before).toBe(1);
    expect(wx().messages.delivered().filter((m) => m.touser.startsWith(`o-burst-${template}-`))).toHaveLength(200);
  }, 30_000);

  test('UnionPay', async () => {
    const cfg = (await emu.db('config', 'contract'))!;
    await emu.store.remove(CACHE, backendTokenCacheKey(cfg.test.app_id));
    const before = up().tokenFetches(cfg.test.app_id);
    const instances = Array.from({ length: 10 }, () => instance());
    const rs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => templateMsgHandler({ action: 'send', template: 'system_message_up', to: `up-burst-${i}`, values: VALUES.system_message }, instances[i % 10])),
    );
    expect(rs.filter((r) => !r.ok)).toEqual([]);
    expect(up().tokenFetches(cfg.test.app_id) - before).toBe(1);
  }, 30_000);
});
