/**
 * The v3 provider against the v3 sandbox over loopback HTTP: platform certificates downloaded once and
 * shared through the store, refetched once on a rotation, not needed in public-key mode.
 */
import { systemClock } from '../../shared/core/clock';
import { AppError } from '../../shared/core/errors';
import { memoryLogger } from '../../shared/core/logger';
import { createHttpClient, type HttpClient } from '../../shared/http/client';
import { wechatPayV3 } from '../../shared/providers/wechatpay-v3';
import { cacheKey } from '../../shared/providers/wechatpay-v3/keys';
import type { V3Merchant } from '../../shared/providers/wechatpay-v3/wire';
import type { ProviderCtx } from '../../shared/providers/types';
import type { DocStore } from '../../shared/runtime/port';
import { localStore } from '../../shared/runtime/local';
import { sharedCache } from '../../shared/store/shared-cache';
import { publicKeyOf } from '../../shared/crypto/rsa';
import { v3MerchantKeys } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';
import { paymentInput, providerCtx } from '../support/provider';

let emu: TestEmulator;
beforeAll(async () => {
  emu = await testEmulator({ seed: false });
});
afterAll(() => emu.stop());

const v3 = wechatPayV3('v3');
let seq = 0;
function merchant(mode: 'certificate' | 'public_key'): V3Merchant {
  const keys = v3MerchantKeys();
  const m: V3Merchant = { appid: 'wx1111222233334444', mchid: String(1900002000 + ++seq), ...keys, api_base: `${emu.url}/sandbox/wechatpay-v3` };
  emu.sandboxes['wechatpay-v3'].addMerchant({
    mchid: m.mchid,
    merchantPublicKeyPem: publicKeyOf(keys.private_key).export({ type: 'spki', format: 'pem' }).toString(),
    serialNo: keys.serial_no,
    apiv3Key: keys.apiv3_key,
    mode,
  });
  if (mode === 'public_key') Object.assign(m, { public_key: emu.v3Platform.publicKeyPem, public_key_id: emu.v3Platform.publicKeyId });
  return m;
}

/** Ordering gets a signed 200 answer, which must be verified (a 404 for an unknown order is not). */
const order = (ctx: ProviderCtx<V3Merchant>, no: string) =>
  v3.create(ctx, paymentInput({ out_trade_no: no, amount: 100, description: 'x', payer_openid: 'o', expires_at: Date.now() + 600_000 }));

/** A context whose HTTP client counts the certificate downloads. */
function context(m: V3Merchant, store: DocStore) {
  const inner = createHttpClient(memoryLogger(), { timeoutMs: 2000 });
  const counter = { downloads: 0 };
  const http: HttpClient = {
    request: (req) => {
      if (req.url.endsWith('/v3/certificates')) counter.downloads++;
      return inner.request(req);
    },
  };
  const ctx = providerCtx(m, `${emu.url}/http/notify/v3`, { http, cache: sharedCache(store, systemClock) });
  return { ctx, counter };
}

it('downloads the platform certificates once, shares them through the store, and verifies with them', async () => {
  const store = localStore();
  const m = merchant('certificate');
  const a = context(m, store);
  expect((await order(a.ctx, 'T-NONE-01')).kind).toBe('pay');
  expect(a.counter.downloads).toBe(1);
  const cached = await store.get<any>('pay_cache', cacheKey(m));
  expect(Object.keys(cached.value.certs)).toContain(emu.v3Platform.current().serial);
  // Another warm instance (its own context, the same database) uses them without downloading.
  const b = context(m, store);
  await order(b.ctx, 'T-NONE-02');
  expect(b.counter.downloads).toBe(0);
});

it('ten instances starting cold at once download once (a lease in the store)', async () => {
  const store = localStore();
  const m = merchant('certificate');
  const instances = Array.from({ length: 10 }, () => context(m, store));
  const results = await Promise.all(instances.map((i, n) => order(i.ctx, `T-COLD-${n}`)));
  expect(results.every((r) => r.kind === 'pay')).toBe(true);
  expect(instances.reduce((s, i) => s + i.counter.downloads, 0)).toBe(1);
});

it('an unknown serial after a rotation triggers one refetch, and is then verified', async () => {
  const store = localStore();
  const m = merchant('certificate');
  const { ctx, counter } = context(m, store);
  await order(ctx, 'T-ROT-01');
  // Pretend the cached copy is over a minute old, as it would be in production before a rotation.
  const doc = await store.get<any>('pay_cache', cacheKey(m));
  await store.update('pay_cache', cacheKey(m), {}, { updated_at: doc.updated_at - 120_000 });
  await emu.post('/sandbox/wechatpay-v3/rotate', {});
  expect((await order(ctx, 'T-ROT-02')).kind).toBe('pay');
  expect(counter.downloads).toBe(2);
  expect(Object.keys((await store.get<any>('pay_cache', cacheKey(m))).value.certs)).toContain(emu.v3Platform.current().serial);
});

it('public-key mode verifies with the configured key and never needs a certificate', async () => {
  const store = localStore();
  const m = merchant('public_key');
  const { ctx, counter } = context(m, store);
  expect((await order(ctx, 'T-PK-01')).kind).toBe('pay');
  expect(counter.downloads).toBe(0);
});

it('a wrong APIv3 key is reported as a config error when the certificates do not decrypt', async () => {
  const m = { ...merchant('certificate') };
  const { ctx } = context({ ...m, apiv3_key: 'W'.repeat(32) }, localStore());
  const err = await order(ctx, 'T-KEY-01').then(() => undefined, (e: AppError) => e);
  expect(err?.code).toBe('CONFIG_INVALID');
  expect(err?.message).toContain('APIv3 key');
});

it('our signature refused (a wrong serial) names serial_no and private_key', async () => {
  const m = merchant('certificate');
  const { ctx } = context({ ...m, serial_no: '0'.repeat(40) }, localStore());
  const err = await order(ctx, 'T-SIG-01').then(() => undefined, (e: AppError) => e);
  expect(err?.providerCode).toBe('SIGN_ERROR');
  expect(err?.message).toContain('serial_no and private_key');
});
