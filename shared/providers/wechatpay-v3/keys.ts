import type { KeyObject } from 'crypto';
import { AppError, configInvalid } from '../../core/errors';
import { aes256GcmDecrypt } from '../../crypto/aes-gcm';
import { publicKeyOf } from '../../crypto/rsa';
import type { ProviderCtx } from '../types';
import type { V3CertificateList, V3Merchant } from './wire';

/** Platform certificates last years; they are refreshed well inside the 12 hours WeChat asks for. */
export const REFRESH_AFTER_MS = 10 * 3600_000;
/** An unknown serial (a rotation) triggers one refetch, at most this often. */
export const REFETCH_UNKNOWN_AFTER_MS = 60_000;
const LEASE_MS = 30_000;

/** The platform certificates as cached for all instances: serial (upper case) → PEM. */
export interface PlatformCerts {
  certs: Record<string, string>;
  /** `/v3/certificates` answered 404 RESOURCE_NOT_EXISTS: a merchant with only the WeChat Pay public key. */
  none?: boolean;
}

const parsed = new Map<string, KeyObject>();
const keyOf = (pem: string) => {
  let k = parsed.get(pem);
  if (!k) parsed.set(pem, (k = publicKeyOf(pem)));
  return k;
};

export const cacheKey = (m: V3Merchant) => `wechatpay-v3:platform-certs:${m.mchid}`;

/** Decrypts the certificate list with the APIv3 key. Throws when a certificate does not decrypt. */
export function decryptCertificates(list: V3CertificateList, apiv3Key: string): PlatformCerts {
  const certs: Record<string, string> = {};
  for (const c of list.data ?? []) {
    const e = c.encrypt_certificate;
    certs[c.serial_no.toUpperCase()] = aes256GcmDecrypt(e.ciphertext, apiv3Key, e.nonce, e.associated_data ?? '');
  }
  return { certs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The key that verifies a signature made under `serial`: the configured WeChat Pay public key for its
 * PUB_KEY_ID, else a platform certificate from the shared cache. The cache is refreshed by one instance at
 * a time (a lease), on age or on an unknown serial; the others keep using what is cached meanwhile.
 */
export async function platformKey(
  ctx: ProviderCtx<V3Merchant>,
  serial: string,
  download: () => Promise<PlatformCerts>,
): Promise<KeyObject | undefined> {
  const m = ctx.config;
  const s = serial.toUpperCase();
  const configured = configuredKey(m, s);
  if (configured) return configured;
  if (s.startsWith('PUB_KEY_ID_')) throw missingPublicKey(m, s);

  const key = cacheKey(m);
  let cached = await ctx.cache.get<PlatformCerts>(key);
  const due = (c: typeof cached) => {
    const age = c ? ctx.clock.now() - c.updated_at : Infinity;
    return age > REFRESH_AFTER_MS || (!c?.value.certs[s] && age > REFETCH_UNKNOWN_AFTER_MS);
  };
  if (due(cached)) {
    if (await ctx.cache.claim(key, LEASE_MS)) {
      cached = await ctx.cache.get<PlatformCerts>(key); // another instance may have just refreshed them
      if (due(cached)) {
        try {
          const fresh = await download();
          await ctx.cache.put(key, fresh);
          cached = { value: fresh, updated_at: ctx.clock.now() };
        } catch (err) {
          // A config fault (an APIv3 key that does not decrypt them) must reach the operator, not hide here.
          if (err instanceof AppError && err.code === 'CONFIG_INVALID') throw err;
          ctx.log.warn('platform certificates could not be refreshed; using what is cached', { mchid: m.mchid, error: String((err as Error).message) });
        }
      }
    } else {
      // Another instance is refreshing them: with nothing cached yet, wait briefly for its result.
      for (let i = 0; i < 10 && !cached; i++) {
        await sleep(200);
        cached = await ctx.cache.get<PlatformCerts>(key);
      }
    }
  }
  const pem = cached?.value.certs[s];
  if (!pem && cached?.value.none) throw missingPublicKey(m, s);
  return pem ? keyOf(pem) : undefined;
}

/** The configured WeChat Pay public key, when `serial` is its PUB_KEY_ID (compared without case). */
export function configuredKey(m: V3Merchant, serial: string): KeyObject | undefined {
  return m.public_key && m.public_key_id && serial.toUpperCase() === m.public_key_id.toUpperCase() ? keyOf(m.public_key) : undefined;
}

/** A merchant in WeChat Pay public-key mode whose config lacks that key: say which fields to set. */
const missingPublicKey = (m: V3Merchant, serial: string) =>
  configInvalid(
    `WeChat Pay signs for merchant ${m.mchid} with ${serial.startsWith('PUB_KEY_ID_') ? `the public key ${serial}` : 'a WeChat Pay public key'} (it has no platform certificates): set public_key and public_key_id in its config section`,
  );
