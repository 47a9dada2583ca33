import { createCipheriv, createDecipheriv } from 'crypto';

const TAG_BYTES = 16;

/** AEAD_AES_256_GCM as WeChat Pay v3 uses it: base64 of ciphertext followed by the 16-byte tag. */
export function aes256GcmEncrypt(plaintext: string, key: string, nonce: string, aad: string): string {
  const c = createCipheriv('aes-256-gcm', Buffer.from(key, 'utf8'), Buffer.from(nonce, 'utf8'));
  c.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return Buffer.concat([body, c.getAuthTag()]).toString('base64');
}

/** Throws when the key, nonce, associated data or ciphertext is not the one it was sealed with. */
export function aes256GcmDecrypt(ciphertextBase64: string, key: string, nonce: string, aad: string): string {
  const raw = Buffer.from(ciphertextBase64, 'base64');
  if (raw.length < TAG_BYTES) throw new Error('ciphertext shorter than its tag');
  const d = createDecipheriv('aes-256-gcm', Buffer.from(key, 'utf8'), Buffer.from(nonce, 'utf8'));
  d.setAAD(Buffer.from(aad, 'utf8'));
  d.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  return Buffer.concat([d.update(raw.subarray(0, raw.length - TAG_BYTES)), d.final()]).toString('utf8');
}
