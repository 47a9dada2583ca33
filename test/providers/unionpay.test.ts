/**
 * The UnionPay backendToken cache and API caller against the sandbox over loopback HTTP: one token for many
 * instances asking at once, `a10` answered by one refresh and one retry, and a wrong secret reported as a
 * config error that does not show the secret.
 */
import { generateKeyPairSync, randomBytes } from 'crypto';
import { systemClock } from '../../shared/core/clock';
import { memoryLogger } from '../../shared/core/logger';
import { createHttpClient } from '../../shared/http/client';
import { backendToken, backendTokenCacheKey, type UnionPayDeps } from '../../shared/providers/unionpay/backend-token';
import { callUnionPay } from '../../shared/providers/unionpay/client';
import { sharedCache } from '../../shared/store/shared-cache';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
const log = memoryLogger();
const http = createHttpClient(log);
const secret = randomBytes(16).toString('hex');
let app: { app_id: string; secret: string; api_base: string };
const instance = (): UnionPayDeps => ({ cache: sharedCache(emu.store, systemClock), http, clock: systemClock, log });

beforeAll(async () => {
  emu = await testEmulator({ seed: false });
  app = { app_id: 'upprovidertest0001', secret, api_base: `${emu.url}/sandbox/unionpay` };
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  emu.sandboxes.unionpay.addApp({
    appId: app.app_id, secret, planId: 'plan1', symmetricKey: 'ab'.repeat(24), notifyUrl: `${emu.url}/http/notify`,
    merchantPublicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  });
});
afterAll(() => emu.stop());
beforeEach(() => emu.store.remove('pay_cache', backendTokenCacheKey(app.app_id)));

const fetches = () => emu.sandboxes.unionpay.tokenFetches(app.app_id);

test('100 concurrent asks from 10 instances fetch one backendToken', async () => {
  const before = fetches();
  const instances = Array.from({ length: 10 }, instance);
  const got = await Promise.all(Array.from({ length: 100 }, (_, i) => backendToken(instances[i % 10], app)));
  expect(new Set(got).size).toBe(1);
  expect(fetches() - before).toBe(1);
});

test('a10 on an API call: one refresh, one retry, and concurrent callers share the new token', async () => {
  await backendToken(instance(), app);
  await emu.post('/sandbox/unionpay/expire-tokens', { appId: app.app_id });
  const before = fetches();
  const answers = await Promise.all(Array.from({ length: 10 }, () => callUnionPay(instance(), app, '1.0/contract.info', { openId: 'up-x', planId: 'plan1' })));
  expect(answers.every((a) => a.resp === '00')).toBe(true);
  expect(fetches() - before).toBe(1);
});

test('a10 twice in a row is returned to the caller, not retried forever', async () => {
  // Every token the sandbox issues is expired at once: after one refresh and one retry the a10 comes back.
  await backendToken(instance(), app);
  await emu.post('/sandbox/unionpay/expire-tokens', { appId: app.app_id });
  let calls = 0;
  const deps = instance();
  const counting: UnionPayDeps = {
    ...deps,
    http: {
      async request(req) {
        calls++;
        const res = await deps.http.request(req);
        if (req.url.endsWith('/1.0/backendToken')) await emu.post('/sandbox/unionpay/expire-tokens', { appId: app.app_id });
        return res;
      },
    },
  };
  const a = await callUnionPay(counting, app, '1.0/contract.info', { openId: 'up-x', planId: 'plan1' });
  expect(a.resp).toBe('a10');
  expect(calls).toBe(3); // the call, the token refresh, the one retry
});

test('a wrong secret is a config error that names the app and never shows the secret', async () => {
  const wrong = { ...app, secret: 'f'.repeat(32) };
  const err = await backendToken(instance(), wrong).catch((e) => e);
  expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
  expect(err.message).toContain(app.app_id);
  expect(err.message).not.toContain(wrong.secret);
  expect(log.lines.join('\n')).not.toContain(secret);
});
