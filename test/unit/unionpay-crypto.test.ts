import { createSign, generateKeyPairSync } from 'crypto';
import { des3EcbDecrypt, des3EcbEncrypt } from '../../shared/crypto/des3';
import { unionpaySign, unionpaySignString, unionpayVerify } from '../../shared/providers/unionpay/sign';

// NIST SP 800-67 (TDEA) example: three distinct keys, "The qufck brown fox jump" (sic) in ECB.
const SP800_67_KEY = '0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123';
const SP800_67_PLAIN = 'The qufck brown fox jump';
const SP800_67_CIPHER = 'a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900';

test('3DES-ECB matches the SP 800-67 vector; PKCS#5 adds one full padding block to 24 bytes', () => {
  const out = Buffer.from(des3EcbEncrypt(SP800_67_PLAIN, SP800_67_KEY), 'base64');
  expect(out.length).toBe(32);
  expect(out.subarray(0, 24).toString('hex')).toBe(SP800_67_CIPHER);
  expect(des3EcbDecrypt(out.toString('base64'), SP800_67_KEY)).toBe(SP800_67_PLAIN);
});

test('3DES refuses a key that is not 48 hex characters and a ciphertext that does not decrypt', () => {
  expect(() => des3EcbEncrypt('x', 'abc')).toThrow(/48 hex/);
  expect(() => des3EcbDecrypt(Buffer.alloc(16, 7).toString('base64'), SP800_67_KEY)).toThrow();
  expect(des3EcbEncrypt('13800138000', SP800_67_KEY.toLowerCase())).toBe(des3EcbEncrypt('13800138000', SP800_67_KEY));
});

test('the signed string is sorted, skips signature, symmetricKey and empty values', () => {
  expect(unionpaySignString({ txnAmt: '100', appId: 'A', signature: 's', symmetricKey: 'k', empty: '', orderId: 'O1' })).toBe('appId=A&orderId=O1&txnAmt=100');
});

test('SHA256withRSA over the sorted string: what node signs independently verifies, a changed field does not', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const fields = { orderId: 'O1', txnAmt: '100', respCode: '00' };
  const independent = createSign('RSA-SHA256').update('orderId=O1&respCode=00&txnAmt=100').sign(privateKey, 'base64');
  expect(unionpaySign(fields, privateKey)).toBe(independent); // PKCS#1 v1.5 is deterministic
  expect(unionpayVerify({ ...fields, signature: independent }, publicKey)).toBe(true);
  expect(unionpayVerify({ ...fields, txnAmt: '1', signature: independent }, publicKey)).toBe(false);
  expect(unionpayVerify({ ...fields }, publicKey)).toBe(false);
  expect(unionpayVerify({ ...fields, signature: 'not base64 !!' }, publicKey)).toBe(false);
});
