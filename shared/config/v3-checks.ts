import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'crypto';
import type { V3Config } from './payment';

/** Reads a PEM private key, naming the usual mistake when it cannot. */
function readPrivateKey(pem: string): { key?: KeyObject; problem?: string } {
  try {
    return { key: createPrivateKey(pem) };
  } catch {
    // A header edited by hand: PKCS#1 content under the PKCS#8 header. (OpenSSL reads the reverse anyway.)
    try {
      createPrivateKey(pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, '-----$1 RSA PRIVATE KEY-----'));
      return { problem: 'is PKCS#1 content under a PKCS#8 header: use -----BEGIN RSA PRIVATE KEY----- or convert with openssl pkcs8 -topk8 -nocrypt' };
    } catch {
      return { problem: 'cannot be read as a private key: paste apiclient_key.pem whole, line breaks included' };
    }
  }
}

const sameSerial = (a: string, b: string) => a.replace(/^0+/, '').toUpperCase() === b.replace(/^0+/, '').toUpperCase();

/**
 * What a schema cannot see in a v3 section: keys that do not parse or do not belong together, a serial that
 * is not the certificate's, an APIv3 key that is really the v2 key. Each problem names its field.
 */
export function v3SectionProblems(s: V3Config, at: string, otherKeys: string[]): string[] {
  const out: string[] = [];
  const { key, problem } = readPrivateKey(s.private_key);
  if (problem) out.push(`${at}.private_key ${problem}`);
  if (key && (key.asymmetricKeyType !== 'rsa' || key.asymmetricKeyDetails?.modulusLength !== 2048)) {
    out.push(`${at}.private_key must be the RSA 2048 merchant API key (apiclient_key.pem)`);
  }
  if (otherKeys.includes(s.apiv3_key)) {
    out.push(`${at}.apiv3_key is the v2 API key (API密钥); the APIv3 key is a separate secret (商户平台 → API安全 → 设置APIv3密钥)`);
  }
  if ((s.public_key === undefined) !== (s.public_key_id === undefined)) {
    out.push(`${at}.public_key and ${at}.public_key_id go together (the WeChat Pay public key and its PUB_KEY_ID_…)`);
  }
  if (s.public_key) {
    try {
      createPublicKey(s.public_key);
    } catch {
      out.push(`${at}.public_key cannot be read as a public key: paste pub_key.pem whole`);
    }
  }
  if (s.cert_pem) {
    try {
      const cert = new X509Certificate(s.cert_pem);
      if (!sameSerial(cert.serialNumber, s.serial_no)) {
        out.push(`${at}.serial_no does not match cert_pem, whose serial is ${cert.serialNumber}`);
      }
      if (key && !cert.checkPrivateKey(key)) out.push(`${at}.private_key does not belong to cert_pem: they are from different API certificates`);
    } catch {
      out.push(`${at}.cert_pem cannot be read as a certificate: paste apiclient_cert.pem whole`);
    }
  }
  return out;
}
