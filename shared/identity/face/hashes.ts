import { md5Hex, sha256Hex } from '../../crypto/hash';
import type { Identity } from './identity';

/** The only certificate type WeChat's face verification takes: the mainland resident ID card. */
export const CERT_TYPE = 'IDENTITY_CARD';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/**
 * v2 `cert_hash` (queryverifyinfo): lower-case hex SHA-256 of
 * `cert_type=<b64(cert_type)>&cert_name=<b64(UTF-8 name)>&cert_no=<b64(cert_no)>`, standard base64, in that
 * order (protocols/wechat-messaging-and-face.md §2.2, pinned by the official example in the unit tests).
 */
export function certHashInput(identity: Identity, certType = CERT_TYPE): string {
  return `cert_type=${b64(certType)}&cert_name=${b64(identity.name)}&cert_no=${b64(identity.idNumber)}`;
}
export const certHash = (identity: Identity, certType = CERT_TYPE): string => sha256Hex(certHashInput(identity, certType));

/**
 * v1 getinfo's hashes of the identity WeChat verified: MD5 of the name's UTF-8 bytes, and MD5 of the ID
 * number with its trailing x upper-cased; both lower-case hex (§2.1).
 */
export const nameUtf8Md5 = (name: string): string => md5Hex(name);
export const idCardNumberMd5 = (idNumber: string): string => md5Hex(idNumber.toUpperCase());
