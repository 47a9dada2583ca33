// Per-algorithm modules keep the bundles small (the crypto-js index pulls every cipher in).
import MD5 from 'crypto-js/md5';
import SHA256 from 'crypto-js/sha256';
import HmacSHA256 from 'crypto-js/hmac-sha256';
import Hex from 'crypto-js/enc-hex';
import Utf8 from 'crypto-js/enc-utf8';
import { timingSafeEqual } from 'crypto';

/** Hashes over UTF-8 text (crypto-js, the stack's hashing library); lower-case hex. */
export const md5Hex = (text: string): string => MD5(Utf8.parse(text)).toString(Hex);
export const sha256Hex = (text: string): string =>
  SHA256(Utf8.parse(text)).toString(Hex);
export const hmacSha256Hex = (key: string, text: string): string =>
  HmacSHA256(Utf8.parse(text), Utf8.parse(key)).toString(Hex);

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
