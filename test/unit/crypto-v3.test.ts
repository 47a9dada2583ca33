/** WeChat Pay v3 primitives pinned by the published vectors of protocols/wechatpay.md §0 (V7, V8). */
import { readFileSync } from 'fs';
import { join } from 'path';
import { generateKeyPairSync } from 'crypto';
import { aes256GcmDecrypt, aes256GcmEncrypt } from '../../shared/crypto/aes-gcm';
import { publicKeyOf, rsaSha256Sign, rsaSha256Verify } from '../../shared/crypto/rsa';

// The official test key of the WeChat Pay docs (4012365336), published with V8.
const K = readFileSync(join(__dirname, '../fixtures/wechatpay-doc-test-key.pem'), 'utf8');
const V8_BODY =
  '{"appid":"wxd678efh567hg6787","mchid":"1900007291","description":"Image形象店-深圳腾大-QQ公仔","out_trade_no":"1217752501201407033233368018","notify_url":"https://www.weixin.qq.com/wxpay/pay.php","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}}';
const V8_SIG =
  'jnks4dlrPw3ZX+ozVvSK39oa0t7OMBsg83BHAwd8BRdUFiVaQNTLTvci+wURgP1OQBbKYhFGvt7iqYpDSTQkp7Uq1sltaQKyncCyrA1g88m5bsKERQfPyT0ahSwKTYJ1CAn9QiJuSJRq1QsQs07eehbU/k9BCS51jTyc1Jpsi2H77HF9f/BnjXAOP3/sPObg6V5Ee4EzwLox684hhuMuIwHo7D8KFk3LIHOKDcNI4It1aCXydFWNpNK+SG86VUDe5kwoDpw4Ulqfu9z8OFDGbDs9TCxEv8iqQzbpxOlEVoOe2kalSYM5kApQb3nZcxdUtoE0liJGW3RGUNE0t4v01A==';
const V8_MESSAGE = `POST\n/v3/pay/transactions/jsapi\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n${V8_BODY}\n`;

describe('SHA256withRSA', () => {
  it('V8: the official JSAPI request signature', () => {
    expect(rsaSha256Sign(V8_MESSAGE, K)).toBe(V8_SIG);
    expect(rsaSha256Verify(V8_MESSAGE, V8_SIG, publicKeyOf(K))).toBe(true);
  });

  it('rejects a changed message, another key, and malformed signatures without throwing', () => {
    expect(rsaSha256Verify(V8_MESSAGE.replace('100', '101'), V8_SIG, publicKeyOf(K))).toBe(false);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(rsaSha256Verify(V8_MESSAGE, V8_SIG, other)).toBe(false);
    expect(rsaSha256Verify(V8_MESSAGE, 'WECHATPAY/SIGNTEST/abc', publicKeyOf(K))).toBe(false);
    expect(rsaSha256Verify(V8_MESSAGE, '', publicKeyOf(K))).toBe(false);
  });
});

describe('AEAD_AES_256_GCM', () => {
  const key = '0123456789abcdef0123456789abcdef';
  it('V7: ciphertext with its tag appended', () => {
    expect(aes256GcmEncrypt('hello', key, '0123456789abcdef', 'world')).toBe('APoZlYpivU3HjbAiB4CvW1rAFr8J');
    expect(aes256GcmDecrypt('APoZlYpivU3HjbAiB4CvW1rAFr8J', key, '0123456789abcdef', 'world')).toBe('hello');
    expect(aes256GcmEncrypt('', key, '0123456789abcdef', '')).toBe('GvpmmdtYwexXIPhySs9Tlg==');
  });

  it('a wrong key, nonce, associated data or a flipped byte does not decrypt', () => {
    const ct = aes256GcmEncrypt('{"out_trade_no":"T1"}', key, 'abcdefghijkl', 'transaction');
    expect(() => aes256GcmDecrypt(ct, 'X'.repeat(32), 'abcdefghijkl', 'transaction')).toThrow();
    expect(() => aes256GcmDecrypt(ct, key, 'abcdefghijkX', 'transaction')).toThrow();
    expect(() => aes256GcmDecrypt(ct, key, 'abcdefghijkl', 'refund')).toThrow();
    const raw = Buffer.from(ct, 'base64');
    raw[0] ^= 1;
    expect(() => aes256GcmDecrypt(raw.toString('base64'), key, 'abcdefghijkl', 'transaction')).toThrow();
    expect(() => aes256GcmDecrypt('AAAA', key, 'abcdefghijkl', 'transaction')).toThrow();
  });
});
