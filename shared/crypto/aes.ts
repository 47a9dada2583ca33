import { createCipheriv, createDecipheriv } from 'crypto';

/** AES-256-ECB with PKCS#7 padding; the key is 32 bytes. */
export function aes256EcbEncrypt(plaintext: Buffer, key: Buffer): Buffer {
  const c = createCipheriv('aes-256-ecb', key, null);
  return Buffer.concat([c.update(plaintext), c.final()]);
}

/** Throws when the padding is wrong (a wrong key, or bytes that were not encrypted with one). */
export function aes256EcbDecrypt(ciphertext: Buffer, key: Buffer): Buffer {
  const d = createDecipheriv('aes-256-ecb', key, null);
  return Buffer.concat([d.update(ciphertext), d.final()]);
}
