import { constantTimeEqual, hmacSha256Hex, md5Hex } from '../../crypto/hash';
import { sortedQuery } from '../../crypto/query';

export type V2SignType = 'MD5' | 'HMAC-SHA256';

/** The v2 signature: sorted non-empty fields but `sign`, `&key=<key>`, MD5 or HMAC-SHA256, upper-case hex. */
export function signV2(fields: Record<string, unknown>, key: string, type: V2SignType): string {
  const text = `${sortedQuery(fields, ['sign'])}&key=${key}`;
  return (type === 'HMAC-SHA256' ? hmacSha256Hex(key, text) : md5Hex(text)).toUpperCase();
}

/**
 * Checks `fields.sign` in constant time. The algorithm follows the signature's length (64 hex characters is
 * HMAC-SHA256, else MD5): notifications often omit `sign_type` even for HMAC merchants.
 */
export function verifyV2(fields: Record<string, string>, key: string): boolean {
  const sign = fields.sign;
  if (typeof sign !== 'string' || !/^[0-9A-Fa-f]{32}([0-9A-Fa-f]{32})?$/.test(sign)) return false;
  const expected = signV2(fields, key, sign.length === 64 ? 'HMAC-SHA256' : 'MD5');
  return constantTimeEqual(expected, sign.toUpperCase());
}
