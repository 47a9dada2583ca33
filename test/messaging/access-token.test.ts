import { randomBytes } from 'crypto';
import { systemClock } from '../../shared/core/clock';
import { memoryLogger } from '../../shared/core/logger';
import { createHttpClient } from '../../shared/http/client';
import { accessToken, tokenCacheKey, type TokenDeps, type WechatApp } from '../../shared/messaging/access-token';
import { sharedCache } from '../../shared/store/shared-cache';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let app: WechatApp;
const log = memoryLogger();
const http = createHttpClient(log);

/** A warm instance: its own objects over the one shared store. */
const instance = (): TokenDeps => ({ cache: sharedCache(emu.store, systemClock), http, clock: systemClock, log });

beforeAll(async () => {
  emu = await testEmulator({ seed: false });
  app = { appid: 'wx00000000000000aa', secret: randomBytes(16).toString('hex'), api_base: `${emu.url}/sandbox/wechat-api` };
  await emu.put('config', 'apps', { oa: { appid: app.appid, secret: app.secret } });
});
afterAll(() => emu.stop());
beforeEach(() => emu.store.remove('pay_cache', tokenCacheKey(app.appid)));

const fetches = () => emu.sandboxes['wechat-api'].tokens.fetchCount(app.appid);

test('a token is fetched once and then served from the shared cache', async () => {
  const before = fetches();
  const t1 = await accessToken(instance(), app);
  const t2 = await accessToken(instance(), app);
  expect(t2).toBe(t1);
  expect(fetches() - before).toBe(1);
  expect(emu.sandboxes['wechat-api'].tokens.check(t1)).toEqual({ appid: app.appid });
});

test('200 concurrent asks from 10 instances fetch exactly one token', async () => {
  const before = fetches();
  const instances = Array.from({ length: 10 }, () => instance());
  const got = await Promise.all(Array.from({ length: 200 }, (_, i) => accessToken(instances[i % 10], app)));
  expect(new Set(got).size).toBe(1);
  expect(fetches() - before).toBe(1);
});

test('a rejected token is replaced once, however many callers report it', async () => {
  const t1 = await accessToken(instance(), app);
  const before = fetches();
  // stable_token hands back the same token while it is fresh: the refresher must force a new one.
  const replaced = await Promise.all(Array.from({ length: 20 }, () => accessToken(instance(), app, { rejected: t1 })));
  expect(new Set(replaced).size).toBe(1);
  expect(replaced[0]).not.toBe(t1);
  // One refresh: a plain ask (which returns the refused token) and one forced fetch.
  expect(fetches() - before).toBe(2);
  // A late report of the old token does not replace the new one again.
  expect(await accessToken(instance(), app, { rejected: t1 })).toBe(replaced[0]);
  expect(fetches() - before).toBe(2);
  expect(emu.sandboxes['wechat-api'].tokens.check(t1)).toMatchObject({ errcode: 42001 });
});

test('a wrong secret is a config error that names the app, and the secret never appears', async () => {
  const wrong = { ...app, secret: 'f'.repeat(32) };
  const err = await accessToken(instance(), wrong).catch((e) => e);
  expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
  expect(err.message).toContain(app.appid);
  expect(err.message).not.toContain(wrong.secret);
  expect(log.lines.join('\n')).not.toContain(app.secret);
});
