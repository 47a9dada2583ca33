import CryptoJS from 'crypto-js';
import { timingSafeEqual } from 'crypto';

/** Hashes over UTF-8 text (crypto-js, the stack's hashing library); lower-case hex. */
export const md5Hex = (text: string): string => CryptoJS.MD5(CryptoJS.enc.Utf8.parse(text)).toString(CryptoJS.enc.Hex);
export const sha256Hex = (text: string): string =>
  CryptoJS.SHA256(CryptoJS.enc.Utf8.parse(text)).toString(CryptoJS.enc.Hex);
export const hmacSha256Hex = (key: string, text: string): string =>
  CryptoJS.HmacSHA256(CryptoJS.enc.Utf8.parse(text), CryptoJS.enc.Utf8.parse(key)).toString(CryptoJS.enc.Hex);

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
