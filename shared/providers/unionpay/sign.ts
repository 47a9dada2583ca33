import type { KeyObject } from 'crypto';
import { sortedQuery } from '../../crypto/query';
import { rsaSha256Sign, rsaSha256Verify } from '../../crypto/rsa';

/**
 * The string UnionPay's open platform signs: fields sorted by name (ASCII), `signature`, `symmetricKey` and
 * empty values left out, joined as `k=v&` with raw values.
 */
export const unionpaySignString = (fields: Record<string, unknown>) => sortedQuery(fields, ['signature', 'symmetricKey']);

/** SHA256withRSA (PKCS#1 v1.5) over the sorted string with the merchant's private key, base64. */
export const unionpaySign = (fields: Record<string, unknown>, privateKey: string | KeyObject) =>
  rsaSha256Sign(unionpaySignString(fields), privateKey);

/** Whether `fields.signature` is UnionPay's SHA256withRSA over the other fields; never throws. */
export function unionpayVerify(fields: Record<string, unknown>, publicKey: string | KeyObject): boolean {
  const signature = fields.signature;
  if (typeof signature !== 'string' || !signature) return false;
  return rsaSha256Verify(unionpaySignString(fields), signature, publicKey);
}
