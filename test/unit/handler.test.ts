/** The function wrapper (routing, input checks, the error envelope), the caller's identity, and the logger's redaction. */
import { action, callerFrom, createHandler, toAppError, Type } from '../../shared/core/handler';
import { AppError, providerRejected } from '../../shared/core/errors';
import { manualClock } from '../../shared/core/clock';
import { jsonLogger, memoryLogger, redact, REDACTED } from '../../shared/core/logger';
import { HttpUnavailableError, type HttpClient } from '../../shared/http/client';
import { localStore } from '../../shared/runtime/local';
import type { Cloud, WxContext } from '../../shared/runtime/port';

const SECRET_DETAIL = 'db password=hunter2 at 10.0.0.7';

const handler = createHandler('demo', {
  echo: action(
    Type.Object({ n: Type.Number(), s: Type.Optional(Type.String()) }, { additionalProperties: false }),
    async (input, { caller }) => ({ input, caller }),
  ),
  fail: action(
    Type.Object({ kind: Type.Union([Type.Literal('app'), Type.Literal('rejected'), Type.Literal('plain'), Type.Literal('http')]) }, { additionalProperties: false }),
    async ({ kind }, { cloud }) => {
      if (kind === 'app') throw new AppError('NOT_FOUND', 'order X does not exist');
      if (kind === 'rejected') throw providerRejected('ORDERPAID', 'the order is already paid');
      if (kind === 'plain') throw new Error(SECRET_DETAIL);
      return cloud.http.request({ method: 'POST', url: 'https://api.mch.weixin.qq.com/pay/orderquery' });
    },
  ),
});

let wx: WxContext;
let log: ReturnType<typeof memoryLogger>;
let store: ReturnType<typeof localStore>;
let cloud: Cloud;

beforeEach(() => {
  wx = { OPENID: 'oUser', APPID: 'wx0123456789abcdef', SOURCE: 'wx_client' };
  log = memoryLogger();
  store = localStore();
  const http: HttpClient = {
    request: async (req) => {
      throw new HttpUnavailableError('timeout', req.url);
    },
  };
  const unused = async (): Promise<never> => {
    throw new Error('cloudPay is not used here');
  };
  cloud = {
    store,
    context: () => wx,
    cloudPay: { unifiedOrder: unused, queryOrder: unused, closeOrder: unused, refund: unused, queryRefund: unused },
    openapi: { subscribeMessage: { send: unused } },
    callFunction: async () => {
      throw new Error('callFunction is not used here');
    },
    http,
    clock: manualClock(0),
    log,
  };
});
afterEach(() => store.close());

type Failure = { ok: false; error: { code: string; message: string; provider_code?: string } };
async function failure(event: unknown): Promise<Failure['error']> {
  const r = await handler(event, cloud);
  expect(r.ok).toBe(false);
  return (r as Failure).error;
}

describe('createHandler: routing', () => {
  it('runs the named action with its checked input and the caller', async () => {
    const r = await handler({ action: 'echo', n: 1, s: 'x' }, cloud);
    expect(r).toEqual({
      ok: true,
      data: { input: { n: 1, s: 'x' }, caller: expect.objectContaining({ openid: 'oUser', appid: 'wx0123456789abcdef', trusted: false }) },
    });
  });

  it('an unknown action: UNKNOWN_ACTION listing the valid actions', async () => {
    const e = await failure({ action: 'nope' });
    expect(e.code).toBe('UNKNOWN_ACTION');
    expect(e.message).toContain('"nope"');
    expect(e.message).toContain('valid actions: echo, fail');
  });

  it('an inherited property name is not an action', async () => {
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect((await failure({ action: name })).code).toBe('UNKNOWN_ACTION');
    }
  });

  it('a missing or non-string action: UNKNOWN_ACTION listing the valid actions', async () => {
    for (const event of [{}, { action: 1 }, { action: null }, { action: ['echo'] }]) {
      const e = await failure(event);
      expect(e.code).toBe('UNKNOWN_ACTION');
      expect(e.message).toContain('echo, fail');
    }
    expect((await failure({})).message).toContain('no action');
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['an array', [{ action: 'echo', n: 1 }]],
    ['a string', 'echo'],
    ['a number', 1],
  ])('a non-object event (%s): INVALID_INPUT', async (_what, event) => {
    const e = await failure(event);
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toContain('must be an object');
  });
});

describe('createHandler: timer triggers', () => {
  const timed = createHandler('timed', {
    sweep: action(
      Type.Object({ limit: Type.Optional(Type.Number()) }, { additionalProperties: false }),
      async (input, { caller }) => ({ input, source: caller.source, trusted: caller.trusted }),
      { timer: true },
    ),
    plain: action(Type.Object({}, { additionalProperties: false }), async () => 'plain ran'),
    strict: action(Type.Object({ n: Type.Number() }, { additionalProperties: false }), async () => 'strict ran', { timer: true }),
  });
  const tick = (name: unknown, extra: Record<string, unknown> = {}) => ({ Type: 'Timer', TriggerName: name, Time: '2026-11-22T04:00:00Z', ...extra });
  const run = async (event: unknown) => timed(event, cloud) as Promise<{ ok: boolean; data?: any; error?: { code: string; message: string } }>;

  it('a timer event runs the timer action named by TriggerName, with an empty input', async () => {
    wx = { SOURCE: 'wx_trigger' };
    expect(await run(tick('sweep'))).toEqual({ ok: true, data: { input: {}, source: 'wx_trigger', trusted: true } });
  });

  it('the timer event fields and the SDK fields are not input', async () => {
    wx = { SOURCE: 'wx_trigger' };
    expect((await run(tick('sweep', { userInfo: { appId: 'wx1' } }))).data.input).toEqual({});
  });

  it('routing is not permission: a timer-shaped event from a client reaches the action as an untrusted caller', async () => {
    expect((await run(tick('sweep'))).data).toMatchObject({ source: 'wx_client', trusted: false });
  });

  it('a trigger naming an action that is not timer-callable, an unknown one, or an inherited name: UNKNOWN_ACTION', async () => {
    wx = { SOURCE: 'wx_trigger' };
    for (const name of ['plain', 'nope', 'toString', '__proto__', 1, undefined]) {
      const r = await run(tick(name));
      expect(r.error?.code).toBe('UNKNOWN_ACTION');
      expect(r.error?.message).toContain('no action; valid actions: plain, strict, sweep');
    }
  });

  it('only Type "Timer" routes by TriggerName', async () => {
    wx = { SOURCE: 'wx_trigger' };
    for (const event of [{ TriggerName: 'sweep' }, tick('sweep', { Type: 'timer' }), tick('sweep', { Type: 'Http' })]) {
      expect((await run(event)).error?.code).toBe('UNKNOWN_ACTION');
    }
  });

  it('an event with an action is routed by the action, never by TriggerName', async () => {
    wx = { SOURCE: 'wx_trigger' };
    expect(await run({ action: 'plain' })).toEqual({ ok: true, data: 'plain ran' });
    const r = await run(tick('sweep', { action: 'plain' }));
    expect(r.error).toEqual({ code: 'INVALID_INPUT', message: expect.stringContaining('timed.plain: Type is not a known field') });
  });

  it('a timer action that needs input: INVALID_INPUT naming the action', async () => {
    wx = { SOURCE: 'wx_trigger' };
    expect((await run(tick('strict'))).error).toEqual({ code: 'INVALID_INPUT', message: 'timed.strict: n is missing' });
  });
});

describe('createHandler: input', () => {
  it('a missing required field: INVALID_INPUT naming it', async () => {
    const e = await failure({ action: 'echo' });
    expect(e).toEqual({ code: 'INVALID_INPUT', message: 'demo.echo: n is missing' });
  });

  it('a wrong-typed field: INVALID_INPUT naming it', async () => {
    expect(await failure({ action: 'echo', n: '1' })).toEqual({ code: 'INVALID_INPUT', message: 'demo.echo: n must be number' });
    expect((await failure({ action: 'echo', n: 1, s: 5 })).message).toContain('demo.echo: s must be string');
    expect((await failure({ action: 'fail', kind: 'other' })).message).toContain('demo.fail: kind');
  });

  it('an unknown extra field: INVALID_INPUT "is not a known field"', async () => {
    expect(await failure({ action: 'echo', n: 1, openid: 'oSomeoneElse' })).toEqual({
      code: 'INVALID_INPUT',
      message: 'demo.echo: openid is not a known field',
    });
  });

  it('ignores the userInfo the mini-program SDK adds', async () => {
    const r = await handler({ action: 'echo', n: 2, userInfo: { appId: 'wxOther', openId: 'oForged' } }, cloud);
    expect(r.ok).toBe(true);
    const data = (r as { data: { input: unknown; caller: { openid?: string } } }).data;
    expect(data.input).toEqual({ n: 2 });
    expect(data.caller.openid).toBe('oUser');
  });
});

describe('createHandler: errors', () => {
  it('an AppError comes back with its code and message', async () => {
    expect(await failure({ action: 'fail', kind: 'app' })).toEqual({ code: 'NOT_FOUND', message: 'order X does not exist' });
  });

  it('PROVIDER_REJECTED carries the provider code', async () => {
    expect(await failure({ action: 'fail', kind: 'rejected' })).toEqual({
      code: 'PROVIDER_REJECTED',
      message: 'the order is already paid',
      provider_code: 'ORDERPAID',
    });
  });

  it('a plain Error: INTERNAL without its message in the result, in full in the log', async () => {
    const e = await failure({ action: 'fail', kind: 'plain' });
    expect(e.code).toBe('INTERNAL');
    expect(e.message).not.toContain('hunter2');
    expect(e.message).not.toContain('10.0.0.7');
    expect(log.lines).toHaveLength(1);
    const line = JSON.parse(log.lines[0]) as { level: string; error: string };
    expect(line.level).toBe('error');
    expect(line.error).toContain(SECRET_DETAIL);
  });

  it('an HttpUnavailableError: PROVIDER_UNAVAILABLE', async () => {
    const e = await failure({ action: 'fail', kind: 'http' });
    expect(e.code).toBe('PROVIDER_UNAVAILABLE');
    expect(e.message).toContain('timeout');
  });

  it('toAppError: non-Error throws become INTERNAL and are logged', () => {
    const l = memoryLogger();
    const e = toAppError('a string was thrown', 'fn', { log: l });
    expect(e.code).toBe('INTERNAL');
    expect(e.message).not.toContain('a string was thrown');
    expect(l.lines.join('\n')).toContain('a string was thrown');
    expect(toAppError(new HttpUnavailableError('network', 'https://x'), 'fn', { log: l }).code).toBe('PROVIDER_UNAVAILABLE');
    const app = new AppError('CONFLICT', 'c');
    expect(toAppError(app, 'fn', { log: l })).toBe(app);
  });
});

describe('callerFrom', () => {
  it('FROM_OPENID / FROM_APPID / FROM_UNIONID win over OPENID / APPID / UNIONID (cloud environment sharing)', () => {
    const c = callerFrom({ OPENID: 'oHost', APPID: 'wxHost', UNIONID: 'uHost', FROM_OPENID: 'oFrom', FROM_APPID: 'wxFrom', FROM_UNIONID: 'uFrom', SOURCE: 'wx_client' });
    expect(c).toMatchObject({ openid: 'oFrom', appid: 'wxFrom', unionid: 'uFrom' });
  });

  it('uses OPENID / APPID otherwise, and undefined for empty values', () => {
    expect(callerFrom({ OPENID: 'o1', APPID: 'wx1', FROM_OPENID: '', CLIENTIP: '1.2.3.4' })).toMatchObject({ openid: 'o1', appid: 'wx1', clientIp: '1.2.3.4' });
    expect(callerFrom({ OPENID: '', APPID: '' })).toMatchObject({ openid: undefined, appid: undefined, unionid: undefined, clientIp: undefined, source: '' });
  });

  it.each([
    ['wx_client,scf', true],
    ['wx_trigger', true],
    ['scf', true],
    ['wx_client', false],
    ['wx_http', false],
    ['wx_devtools', false],
    ['scf,wx_client', false],
    ['', false],
    [undefined, false],
  ])('SOURCE %p trusted: %p', (source, trusted) => {
    expect(callerFrom({ OPENID: 'o', SOURCE: source }).trusted).toBe(trusted);
  });

  it('the handler reads the context at each call', async () => {
    const first = await handler({ action: 'echo', n: 1 }, cloud);
    wx = { OPENID: 'oOther', SOURCE: 'wx_client,scf' };
    const second = await handler({ action: 'echo', n: 1 }, cloud);
    expect((first as { data: { caller: { openid: string; trusted: boolean } } }).data.caller).toMatchObject({ openid: 'oUser', trusted: false });
    expect((second as { data: { caller: { openid: string; trusted: boolean } } }).data.caller).toMatchObject({ openid: 'oOther', trusted: true });
  });
});

describe('logger', () => {
  // Secret names as they appear in configs, provider fields and headers, in every casing used.
  const secretNames = ['key', 'secret', 'apiv3_key', 'private_key', 'sign', 'paySign', 'req_info', 'token', 'access_token', 'passphrase', 'p12_passphrase', 'key_pem', 'cert_pem', 'password', 'signature', 'api_key', 'apikey', 'pfx', 'p12_base64', 'appSecret', 'AppSecret', 'sessionKey', 'apiV3Key', 'privateKey', 'authorization', 'Authorization', 'cookie'];

  it('redact replaces the secret-named fields', () => {
    const input = Object.fromEntries(secretNames.map((k) => [k, `value-of-${k}`]));
    expect(redact(input)).toEqual(Object.fromEntries(secretNames.map((k) => [k, REDACTED])));
  });

  it('redact keeps other fields, including ones that merely contain a secret word', () => {
    const keep = { mchid: '1900000109', out_trade_no: 'T1', sign_type: 'MD5', keyword: 'k', tls_ca: 'public CA', dedupe_key: 'v2:payment:T1', total_fee: 1, ok: true, none: null };
    expect(redact(keep)).toEqual(keep);
  });

  it('a field cannot overwrite the level or message of a log line', () => {
    const lines: string[] = [];
    jsonLogger((line) => lines.push(line)).error('real', { level: 'info', msg: 'masked' });
    expect(JSON.parse(lines[0])).toEqual({ level: 'error', msg: 'real' });
  });

  it('redact works in nested objects and arrays and does not modify its input', () => {
    const input = { order: { id: 'T1', v2: { mchid: '1', key: 'K' } }, list: [{ sign: 'S', n: 1 }, 'plain', [{ token: 't' }]] };
    const before = JSON.stringify(input);
    expect(redact(input)).toEqual({ order: { id: 'T1', v2: { mchid: '1', key: REDACTED } }, list: [{ sign: REDACTED, n: 1 }, 'plain', [{ token: REDACTED }]] });
    expect(JSON.stringify(input)).toBe(before);
  });

  it('redact stops at a depth limit, so a cycle cannot hang it', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(JSON.stringify(redact(a))).toContain('[depth]');
  });

  it('jsonLogger writes one JSON line per call with level, msg and redacted fields', () => {
    const lines: string[] = [];
    const l = jsonLogger((line) => lines.push(line));
    l.info('one', { out_trade_no: 'T1', key: 'SECRET1' });
    l.warn('two');
    l.error('three', { nested: { private_key: 'SECRET2' } });
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).not.toContain('\n');
    expect(lines.map((x) => JSON.parse(x))).toEqual([
      { level: 'info', msg: 'one', out_trade_no: 'T1', key: REDACTED },
      { level: 'warn', msg: 'two' },
      { level: 'error', msg: 'three', nested: { private_key: REDACTED } },
    ]);
    expect(lines.join('')).not.toMatch(/SECRET/);
  });

  it('memoryLogger keeps the lines', () => {
    const l = memoryLogger();
    l.warn('w', { sign: 'S' });
    expect(l.lines.map((x) => JSON.parse(x))).toEqual([{ level: 'warn', msg: 'w', sign: REDACTED }]);
  });
});
