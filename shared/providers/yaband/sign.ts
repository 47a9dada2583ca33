import { constantTimeEqual, hmacSha256Hex } from '../../crypto/hash';
import { sortedQuery } from '../../crypto/query';
import type { YabandData, YabandFields } from './wire';

/**
 * The request sign: `user`, `method` and `time` merged with the data fields, sorted by name, `k=v` joined by
 * `&` without URL-encoding, HMAC-SHA256 under the secret, lower-case hex. Data is sent without empty values,
 * so the official library's rule (keeps them) and TIG's (drops them) give the same string.
 */
export function signRequest(secret: string, head: { user: string; method: string; time: number }, data: YabandData): string {
  return hmacSha256Hex(secret, sortedQuery({ ...data, ...head }));
}

/** A scalar as PHP writes it into the sign string (true is "1"; false and null are empty). */
function phpString(v: unknown): string {
  if (v === true) return '1';
  if (v === false || v === null || v === undefined) return '';
  return String(v);
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The strings a notification's `data` may be signed over: the official library keeps empty values
 * (`demo=`), TIG drops them; both are tried. Undefined when a value is not a scalar.
 */
export function notifySignTexts(data: YabandFields): string[] | undefined {
  const keys = Object.keys(data).sort(byName);
  if (keys.some((k) => data[k] !== null && typeof data[k] === 'object')) return undefined;
  const all = keys.map((k) => `${k}=${phpString(data[k])}`).join('&');
  const filled = keys.filter((k) => phpString(data[k]) !== '').map((k) => `${k}=${phpString(data[k])}`).join('&');
  return all === filled ? [all] : [all, filled];
}

/** Checks a notification's `sign` over its `data` only, in constant time. */
export function verifyNotifySign(data: YabandFields, sign: unknown, secret: string): boolean {
  if (typeof sign !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sign)) return false;
  const texts = notifySignTexts(data);
  return !!texts && texts.some((text) => constantTimeEqual(hmacSha256Hex(secret, text), sign.toLowerCase()));
}
