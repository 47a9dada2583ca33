/** config/payment v3, v3sp and cloudpay sections: the mix-ups operators make, each named with its field. */
import { createPrivateKey, generateKeyPairSync } from 'crypto';
import forge from 'node-forge';
import { validatePaymentDoc } from '../../shared/config/payment-load';
import { v3MerchantKeys } from '../../scripts/emulator/seed';

const V2KEY = 'Abcdefghijklmnopqrstuvwxyz012345';
const keys = v3MerchantKeys();
const v3 = { appid: 'wx0123456789abcdef', mchid: '1900000109', ...keys };
const doc = (section: Record<string, unknown>, sp: 'v3' | 'v3sp' = 'v3', extra: Record<string, unknown> = {}) => ({
  pay_sp: sp,
  notify_url: 'https://x.example/notify',
  order_collection: 'orders',
  [sp]: section,
  ...extra,
});
function problems(d: Record<string, unknown>): string {
  const r = validatePaymentDoc(d);
  if (r.ok) throw new Error('expected problems');
  return r.problems.join('\n');
}

/** A self-signed certificate for `privateKeyPem`, with this serial (hex). */
function certificate(privateKeyPem: string, serialHex: string): string {
  const priv = forge.pki.privateKeyFromPem(createPrivateKey(privateKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString()) as forge.pki.rsa.PrivateKey;
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(priv.n, priv.e);
  cert.serialNumber = `00${serialHex}`; // a leading zero keeps DER from reading a high first digit as negative
  cert.validity.notBefore = new Date();
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  cert.setSubject([{ name: 'commonName', value: '1900000109' }]);
  cert.setIssuer([{ name: 'commonName', value: '1900000109' }]);
  cert.sign(priv, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

it('a complete v3 section is valid', () => {
  expect(validatePaymentDoc(doc(v3)).ok).toBe(true);
});

it('the APIv3 key must be 32 characters and is not the v2 API key', () => {
  expect(problems(doc({ ...v3, apiv3_key: 'short' }))).toContain('config/payment.v3.apiv3_key must be the 32-character APIv3 key');
  const p = problems(doc({ ...v3, apiv3_key: V2KEY }, 'v3', { v2: { appid: 'wx0123456789abcdef', mchid: '1900000109', key: V2KEY } }));
  expect(p).toContain('config/payment.v3.apiv3_key is the v2 API key');
});

it('a certificate or public key pasted as private_key, and PKCS#1/PKCS#8 headers swapped by hand', () => {
  expect(problems(doc({ ...v3, private_key: certificate(keys.private_key, '01') }))).toContain('v3.private_key must be the PEM of apiclient_key.pem');
  const pkcs1Body = createPrivateKey(keys.private_key).export({ type: 'pkcs1', format: 'pem' }).toString();
  const underPkcs8Header = pkcs1Body.replace(/RSA PRIVATE KEY/g, 'PRIVATE KEY');
  expect(problems(doc({ ...v3, private_key: underPkcs8Header }))).toContain('v3.private_key is PKCS#1 content under a PKCS#8 header');
  // OpenSSL 3 reads PKCS#8 content under a PKCS#1 header anyway: no problem to report there.
  const underPkcs1Header = keys.private_key.replace(/PRIVATE KEY/g, 'RSA PRIVATE KEY');
  expect(validatePaymentDoc(doc({ ...v3, private_key: underPkcs1Header })).ok).toBe(true);
  // A genuine PKCS#1 key is fine: Node reads both.
  expect(validatePaymentDoc(doc({ ...v3, private_key: pkcs1Body })).ok).toBe(true);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  expect(problems(doc({ ...v3, private_key: ec }))).toContain('v3.private_key must be the RSA 2048 merchant API key');
});

it('with cert_pem: a serial that is not the certificate’s, and a key from another certificate', () => {
  const cert = certificate(keys.private_key, keys.serial_no);
  expect(validatePaymentDoc(doc({ ...v3, cert_pem: cert })).ok).toBe(true);
  expect(problems(doc({ ...v3, cert_pem: cert, serial_no: 'AB'.repeat(20) }))).toContain(`v3.serial_no does not match cert_pem, whose serial is ${keys.serial_no}`);
  const other = v3MerchantKeys();
  expect(problems(doc({ ...v3, cert_pem: cert, private_key: other.private_key }))).toContain('v3.private_key does not belong to cert_pem');
});

it('public_key and public_key_id go together, and must be what they say', () => {
  expect(problems(doc({ ...v3, public_key_id: 'PUB_KEY_ID_0114232134912410000000000000' }))).toContain('v3.public_key and config/payment.v3.public_key_id go together');
  expect(problems(doc({ ...v3, public_key_id: 'SERIAL123', public_key: '-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----' }))).toMatch(/v3\.public_key_id must be the WeChat Pay public key id[\s\S]*|v3\.public_key cannot be read/);
});

it('v3sp takes sp_appid / sp_mchid as the API names them, and needs its sub-merchant', () => {
  const { appid, mchid, ...rest } = v3;
  const sp = { ...rest, sp_appid: appid, sp_mchid: mchid, sub_mchid: '1900000200', sub_appid: 'wxaaaabbbbccccdddd' };
  const r = validatePaymentDoc(doc(sp, 'v3sp'));
  expect(r.ok && r.config.v3sp).toMatchObject({ appid, mchid, sub_mchid: '1900000200' });
  expect(problems(doc({ ...sp, sp_mchid: '1900000999', mchid }, 'v3sp'))).toContain('sp_appid / sp_mchid differ from appid / mchid');
  const { sub_mchid, ...noSub } = sp;
  void sub_mchid;
  expect(problems(doc(noSub, 'v3sp'))).toContain('config/payment.v3sp.sub_mchid is missing');
});

it('cloudpay needs its sub-merchant and environment; the callback function defaults to notify', () => {
  const r = validatePaymentDoc({ pay_sp: 'cloudpay', notify_url: 'https://x.example/n', order_collection: 'orders', cloudpay: { sub_mchid: '1900000109', env_id: 'prod-1a2b3c' } });
  expect(r.ok && r.config.cloudpay).toEqual({ sub_mchid: '1900000109', env_id: 'prod-1a2b3c', function_name: 'notify', payer_field: 'none' });
  expect(problems({ pay_sp: 'cloudpay', notify_url: 'https://x.example/n', order_collection: 'orders', cloudpay: { sub_mchid: '1900000109' } })).toContain('config/payment.cloudpay.env_id is missing');
});
