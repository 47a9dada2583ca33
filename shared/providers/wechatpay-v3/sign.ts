import { rsaSha256Sign, rsaSha256Verify } from '../../crypto/rsa';
import type { KeyObject } from 'crypto';
import { MAX_CLOCK_OFFSET_S, SIGNATURE_SCHEME, SIGNTEST_PREFIX } from './wire';

/** The five-line request message: method, path with query, timestamp, nonce, body; each line ends in \n. */
export const requestMessage = (method: string, pathWithQuery: string, timestamp: string, nonce: string, body: string) =>
  `${method}\n${pathWithQuery}\n${timestamp}\n${nonce}\n${body}\n`;

/** The `Authorization` header value for one request. */
export function authorization(
  m: { mchid: string; serial_no: string; private_key: string | KeyObject },
  method: string,
  pathWithQuery: string,
  body: string,
  timestamp: string,
  nonce: string,
): string {
  const signature = rsaSha256Sign(requestMessage(method, pathWithQuery, timestamp, nonce, body), m.private_key);
  return `${SIGNATURE_SCHEME} mchid="${m.mchid}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${m.serial_no.toUpperCase()}"`;
}

export interface SignedHeaders {
  timestamp?: string;
  nonce?: string;
  signature?: string;
  serial?: string;
}

/** The Wechatpay-* headers of a response or notification (lower-case names). */
export const signedHeaders = (h: Record<string, string>): SignedHeaders => ({
  timestamp: h['wechatpay-timestamp'],
  nonce: h['wechatpay-nonce'],
  signature: h['wechatpay-signature'],
  serial: h['wechatpay-serial'],
});

/**
 * What is wrong with the signature headers before any key is looked up: missing headers, a probe
 * signature, a timestamp more than 300 s off. Checked first, so junk never makes us fetch certificates.
 */
export function headerProblem(h: SignedHeaders, nowMs: number): string | undefined {
  if (!h.timestamp || !h.nonce || !h.signature || !h.serial) return 'Wechatpay-* signature headers are missing';
  if (h.signature.startsWith(SIGNTEST_PREFIX)) return 'a WECHATPAY/SIGNTEST probe signature';
  if (!/^[0-9]{1,12}$/.test(h.timestamp) || Math.abs(nowMs / 1000 - Number(h.timestamp)) > MAX_CLOCK_OFFSET_S) {
    return 'Wechatpay-Timestamp is more than 300 s from now';
  }
  return undefined;
}

/** Whether the signature verifies over `timestamp\nnonce\nbody\n` with this key. */
export const signatureVerifies = (h: SignedHeaders, rawBody: string, key: KeyObject) =>
  rsaSha256Verify(`${h.timestamp}\n${h.nonce}\n${rawBody}\n`, h.signature ?? '', key);
