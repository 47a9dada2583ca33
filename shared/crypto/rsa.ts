import { createPrivateKey, createPublicKey, createSign, createVerify, type KeyObject } from 'crypto';

/** SHA256withRSA (PKCS#1 v1.5) over UTF-8 text, base64: WeChat Pay v3's request, response and paySign signature. */
export function rsaSha256Sign(message: string, privateKey: string | KeyObject): string {
  return createSign('RSA-SHA256').update(message, 'utf8').sign(privateKey, 'base64');
}

/** False for a wrong or malformed signature; never throws on bad input. */
export function rsaSha256Verify(message: string, signatureBase64: string, publicKey: string | KeyObject): boolean {
  try {
    return createVerify('RSA-SHA256').update(message, 'utf8').verify(publicKey, signatureBase64, 'base64');
  } catch {
    return false;
  }
}

/** The public key of a PEM certificate, public key, or private key. */
export const publicKeyOf = (pem: string): KeyObject => createPublicKey(pem);
export const privateKeyOf = (pem: string): KeyObject => createPrivateKey(pem);
