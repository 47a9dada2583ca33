import { createCipheriv, createDecipheriv } from 'crypto';

/** The 24-byte DES-EDE3 key from UnionPay's 48-hex-character symmetricKey. */
function keyOf(keyHex: string): Buffer {
  if (!/^[0-9A-Fa-f]{48}$/.test(keyHex)) throw new Error('the 3DES key must be 48 hex characters');
  return Buffer.from(keyHex, 'hex');
}

/** 3DES (DES-EDE3) ECB with PKCS#5 padding over UTF-8 text, base64: UnionPay's sensitive-field encryption. */
export function des3EcbEncrypt(plaintext: string, keyHex: string): string {
  const c = createCipheriv('des-ede3-ecb', keyOf(keyHex), null);
  return Buffer.concat([c.update(plaintext, 'utf8'), c.final()]).toString('base64');
}

/** The inverse of des3EcbEncrypt; throws when the text is not base64 of whole blocks or the padding is wrong. */
export function des3EcbDecrypt(ciphertextBase64: string, keyHex: string): string {
  const d = createDecipheriv('des-ede3-ecb', keyOf(keyHex), null);
  return Buffer.concat([d.update(Buffer.from(ciphertextBase64, 'base64')), d.final()]).toString('utf8');
}
