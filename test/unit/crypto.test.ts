/**
 * Crypto primitives and the WeChat Pay v2 signature, pinned by the published vectors of
 * shared/protocols/wechatpay.md §0 (V1, V2, V4, V5) and by RFC / FIPS test vectors.
 */
import { createHash, createHmac } from 'crypto';
import { aes256EcbDecrypt, aes256EcbEncrypt } from '../../shared/crypto/aes';
import { constantTimeEqual, hmacSha256Hex, md5Hex, sha256Hex } from '../../shared/crypto/hash';
import { nonce } from '../../shared/crypto/nonce';
import { sortedQuery } from '../../shared/crypto/query';
import { buildFlatXml, parseFlatXml, XmlError } from '../../shared/crypto/xml';
import { formatCstCompact, parseCstCompact } from '../../shared/core/clock';
import { signV2, verifyV2 } from '../../shared/providers/wechatpay-v2/sign';

/** The official 安全规范 example (V1, V2). */
const V_KEY = '192006250b4c09247ec02edce69f6a2d';
const V_FIELDS: Record<string, string> = {
  appid: 'wxd930ea5d5a258f4f',
  mch_id: '10000100',
  device_info: '1000',
  body: 'test',
  nonce_str: 'ibuaiVcKdpRxkhJA',
};
const V1_MD5 = '9A0A8659F005D6984697E2CA0A9CF3B7';
const V2_HMAC = '6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6';

describe('signV2 (wechatpay.md §0 V1, V2)', () => {
  it('V1: MD5 over the sorted fields and &key=', () => {
    expect(signV2(V_FIELDS, V_KEY, 'MD5')).toBe(V1_MD5);
  });

  it('V2: HMAC-SHA256 keyed by the API key over the same string', () => {
    expect(signV2(V_FIELDS, V_KEY, 'HMAC-SHA256')).toBe(V2_HMAC);
  });

  it('signs the string of the vector exactly (sorted, raw, &key= appended)', () => {
    const text = 'appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA';
    expect(sortedQuery(V_FIELDS)).toBe(text);
    expect(md5Hex(`${text}&key=${V_KEY}`).toUpperCase()).toBe(V1_MD5);
  });

  it('leaves out the sign field and empty values', () => {
    expect(signV2({ ...V_FIELDS, sign: 'WHATEVER' }, V_KEY, 'MD5')).toBe(V1_MD5);
    expect(signV2({ ...V_FIELDS, attach: '', detail: undefined }, V_KEY, 'MD5')).toBe(V1_MD5);
    expect(signV2({ ...V_FIELDS, attach: 'x' }, V_KEY, 'MD5')).not.toBe(V1_MD5);
  });

  it('depends on the key', () => {
    expect(signV2(V_FIELDS, V_KEY.replace(/^1/, '2'), 'MD5')).not.toBe(V1_MD5);
  });
});

describe('verifyV2', () => {
  it('accepts the MD5 vector by its 32-character sign and the HMAC vector by its 64-character sign', () => {
    expect(verifyV2({ ...V_FIELDS, sign: V1_MD5 }, V_KEY)).toBe(true);
    expect(verifyV2({ ...V_FIELDS, sign: V2_HMAC }, V_KEY)).toBe(true);
  });

  it('accepts a lower-case hex sign', () => {
    expect(verifyV2({ ...V_FIELDS, sign: V1_MD5.toLowerCase() }, V_KEY)).toBe(true);
    expect(verifyV2({ ...V_FIELDS, sign: V2_HMAC.toLowerCase() }, V_KEY)).toBe(true);
  });

  it('rejects a changed field, an added field and a wrong key', () => {
    expect(verifyV2({ ...V_FIELDS, body: 'test2', sign: V1_MD5 }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, total_fee: '1', sign: V1_MD5 }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, mch_id: '10000101', sign: V2_HMAC }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: V1_MD5 }, 'a'.repeat(32))).toBe(false);
  });

  it('does not accept the MD5 sign as HMAC or the reverse', () => {
    // A 64-character sign is checked as HMAC only: the MD5 hex twice is not it.
    expect(verifyV2({ ...V_FIELDS, sign: V1_MD5 + V1_MD5 }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: V2_HMAC.slice(0, 32) }, V_KEY)).toBe(false);
  });

  it('rejects a missing sign, a sign of the wrong length and a non-hex sign', () => {
    expect(verifyV2({ ...V_FIELDS }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: '' }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: V1_MD5.slice(0, 31) }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: `${V1_MD5}0` }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: `${V2_HMAC}00` }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: `${V1_MD5.slice(0, 31)}G` }, V_KEY)).toBe(false);
    expect(verifyV2({ ...V_FIELDS, sign: ` ${V1_MD5.slice(1)}` }, V_KEY)).toBe(false);
  });

  it('ignores an empty-valued field (empty values are not signed)', () => {
    expect(verifyV2({ ...V_FIELDS, attach: '', sign: V1_MD5 }, V_KEY)).toBe(true);
  });

  it('verifies what signV2 produced over arbitrary fields, including Chinese and URL-special characters', () => {
    const f = { ...V_FIELDS, attach: '支付测试 a&b=c', out_trade_no: 'A_b-1*2|3' };
    for (const type of ['MD5', 'HMAC-SHA256'] as const) {
      expect(verifyV2({ ...f, sign: signV2(f, V_KEY, type) }, V_KEY)).toBe(true);
    }
  });
});

describe('sortedQuery', () => {
  it('sorts names in ASCII order: upper case before "_" before lower case', () => {
    expect(sortedQuery({ b: '2', a: '1', B: '3', A: '4', _x: '5', a_b: '6', aB: '7' })).toBe('A=4&B=3&_x=5&a=1&aB=7&a_b=6&b=2');
  });

  it('drops empty, undefined and null values and keeps 0 and false', () => {
    expect(sortedQuery({ a: '', b: undefined, c: null, d: 0, e: false, f: 'x' })).toBe('d=0&e=false&f=x');
  });

  it('uses raw values: no URL encoding of &, =, spaces or Chinese', () => {
    expect(sortedQuery({ q: 'a&b=c d', body: '中文+%20' })).toBe('body=中文+%20&q=a&b=c d');
  });

  it('leaves out the excluded names', () => {
    expect(sortedQuery({ a: '1', sign: 'S', b: '2' }, ['sign'])).toBe('a=1&b=2');
  });
});

describe('hashes', () => {
  it('V4: md5Hex of the v2 key (the refund req_info AES key), lower-case hex', () => {
    expect(md5Hex(V_KEY)).toBe('d96eb16afdd491fa1e705096edbc2205');
  });

  it('md5Hex, sha256Hex: RFC 1321 / FIPS 180-2 "abc" vectors', () => {
    expect(md5Hex('abc')).toBe('900150983cd24fb0d6963f7d28e17f72');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hmacSha256Hex: RFC 4231 test case 2', () => {
    expect(hmacSha256Hex('Jefe', 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('agree with node:crypto over UTF-8 text (Chinese, emoji, empty)', () => {
    for (const text of ['', 'hello', '支付测试', 'a&b=c 😀', 'x'.repeat(1000)]) {
      expect(sha256Hex(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
      expect(md5Hex(text)).toBe(createHash('md5').update(text, 'utf8').digest('hex'));
      expect(hmacSha256Hex('密钥key', text)).toBe(createHmac('sha256', Buffer.from('密钥key', 'utf8')).update(text, 'utf8').digest('hex'));
    }
  });
});

describe('constantTimeEqual', () => {
  it('is true only for identical strings', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('中文', '中文')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'ABC')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('abcd', 'abc')).toBe(false);
    expect(constantTimeEqual('', 'a')).toBe(false);
  });
});

describe('nonce', () => {
  it('has the asked length (32 by default) and only letters and digits', () => {
    expect(nonce()).toMatch(/^[A-Za-z0-9]{32}$/);
    for (const n of [0, 1, 16, 31, 64, 100]) {
      const s = nonce(n);
      expect(s).toHaveLength(n);
      expect(s).toMatch(/^[A-Za-z0-9]*$/);
    }
  });

  it('is random: two nonces differ and a long one uses the whole alphabet', () => {
    expect(nonce()).not.toBe(nonce());
    // 62 * (61/62)^20000 is below 1e-140: every character appears.
    expect(new Set(nonce(20000)).size).toBe(62);
  });
});

describe('AES-256-ECB (wechatpay.md §0 V5)', () => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef', 'ascii');

  it('V5: encrypts "hello" to the published ciphertext and decrypts it back', () => {
    const ct = aes256EcbEncrypt(Buffer.from('hello', 'utf8'), key);
    expect(ct.toString('base64')).toBe('pZwJZBLuy3mDACEQT4YTBw==');
    expect(aes256EcbDecrypt(Buffer.from('pZwJZBLuy3mDACEQT4YTBw==', 'base64'), key).toString('utf8')).toBe('hello');
  });

  it('decrypting with a wrong key throws (bad padding)', () => {
    const wrong = Buffer.from('0123456789abcdef0123456789abcdeF', 'ascii');
    expect(() => aes256EcbDecrypt(Buffer.from('pZwJZBLuy3mDACEQT4YTBw==', 'base64'), wrong)).toThrow();
  });

  it('rejects a key that is not 32 bytes', () => {
    expect(() => aes256EcbEncrypt(Buffer.from('hello'), Buffer.from('0123456789abcdef'))).toThrow();
  });

  it('round-trips a refund req_info keyed by md5(key) (V4 + V5)', () => {
    const aesKey = Buffer.from(md5Hex(V_KEY), 'ascii');
    const plain = '<root><out_refund_no><![CDATA[R1]]></out_refund_no><refund_fee>100</refund_fee></root>';
    const reqInfo = aes256EcbEncrypt(Buffer.from(plain, 'utf8'), aesKey).toString('base64');
    const back = aes256EcbDecrypt(Buffer.from(reqInfo, 'base64'), aesKey).toString('utf8');
    expect(parseFlatXml(back, ['root'])).toEqual({ out_refund_no: 'R1', refund_fee: '100' });
  });
});

describe('parseFlatXml', () => {
  // The pay notification sample of the official v2 docs (支付结果通知), with an XML declaration.
  const NOTIFY = `<?xml version="1.0" encoding="UTF-8"?>
<xml>
  <appid><![CDATA[wx2421b1c4370ec43b]]></appid>
  <attach><![CDATA[支付测试]]></attach>
  <bank_type><![CDATA[CFT]]></bank_type>
  <fee_type><![CDATA[CNY]]></fee_type>
  <is_subscribe><![CDATA[Y]]></is_subscribe>
  <mch_id><![CDATA[10000100]]></mch_id>
  <nonce_str><![CDATA[5d2b6c2a8db53831f7eda20af46e531c]]></nonce_str>
  <openid><![CDATA[oUpF8uMEb4qRXf22hE3X68TekukE]]></openid>
  <out_trade_no><![CDATA[1409811653]]></out_trade_no>
  <result_code><![CDATA[SUCCESS]]></result_code>
  <return_code><![CDATA[SUCCESS]]></return_code>
  <sign><![CDATA[B552ED6B279343CB493C5DD0D78AB241]]></sign>
  <time_end><![CDATA[20140903131540]]></time_end>
  <total_fee>1</total_fee>
  <coupon_fee><![CDATA[10]]></coupon_fee>
  <coupon_count><![CDATA[1]]></coupon_count>
  <coupon_type><![CDATA[CASH]]></coupon_type>
  <coupon_id><![CDATA[10000]]></coupon_id>
  <coupon_fee_0><![CDATA[100]]></coupon_fee_0>
  <trade_type><![CDATA[JSAPI]]></trade_type>
  <transaction_id><![CDATA[1004400740201409030005092168]]></transaction_id>
</xml>`;

  it('reads a real notification: CDATA and plain values, declaration, whitespace between elements', () => {
    const f = parseFlatXml(NOTIFY);
    expect(Object.keys(f)).toHaveLength(21);
    expect(f).toMatchObject({
      appid: 'wx2421b1c4370ec43b',
      attach: '支付测试',
      total_fee: '1',
      coupon_fee_0: '100',
      sign: 'B552ED6B279343CB493C5DD0D78AB241',
      transaction_id: '1004400740201409030005092168',
      time_end: '20140903131540',
    });
  });

  it('accepts a byte-order mark and empty elements', () => {
    expect(parseFlatXml('\uFEFF<xml><a></a><b/><c>1</c></xml>')).toEqual({ a: '', b: '', c: '1' });
  });

  it('decodes the predefined entities and character references', () => {
    expect(parseFlatXml('<xml><a>x &amp; y &lt;z&gt; &quot;&apos; &#x4e2d;&#20013;</a></xml>')).toEqual({ a: 'x & y <z> "\' 中中' });
  });

  it('keeps CDATA content verbatim (no entity decoding, < allowed)', () => {
    expect(parseFlatXml('<xml><a><![CDATA[&amp; <b>]]></a></xml>')).toEqual({ a: '&amp; <b>' });
  });

  it('takes the root names it is given', () => {
    expect(parseFlatXml('<root><a>1</a></root>', ['root'])).toEqual({ a: '1' });
  });

  const reject: Array<[string, string]> = [
    ['a DOCTYPE with an external entity (XXE)', '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>'],
    ['a DOCTYPE without entities', '<!DOCTYPE xml><xml><a>1</a></xml>'],
    ['an undeclared entity', '<xml><a>&xxe;</a></xml>'],
    ['a numeric reference to NUL', '<xml><a>&#0;</a></xml>'],
    ['a nested element', '<xml><a><b>1</b></a></xml>'],
    ['a duplicate element', '<xml><a>1</a><a>2</a></xml>'],
    ['an unclosed child', '<xml><a>1</xml>'],
    ['an unclosed root', '<xml><a>1</a>'],
    ['mismatched tags', '<xml><a>1</b></xml>'],
    ['two roots', '<xml><a>1</a></xml><xml><b>2</b></xml>'],
    ['an unexpected root name', '<root><a>1</a></root>'],
    ['text outside elements', '<xml>hello<a>1</a></xml>'],
    ['text after the root', '<xml><a>1</a></xml>tail'],
    ['a bare &', '<xml><a>a & b</a></xml>'],
    ['an attribute', '<xml><a x="1">1</a></xml>'],
    ['a processing instruction inside', '<xml><?php x?><a>1</a></xml>'],
    ['a comment', '<xml><!-- c --><a>1</a></xml>'],
    ['an empty string', ''],
    ['not XML', '{"a":1}'],
  ];
  it.each(reject)('rejects %s with XmlError', (_what, xml) => {
    expect(() => parseFlatXml(xml)).toThrow(XmlError);
  });

  it('names the reason', () => {
    expect(() => parseFlatXml(reject[0][1])).toThrow(/DOCTYPE/);
    expect(() => parseFlatXml('<xml><a>1</a><a>2</a></xml>')).toThrow(/<a> appears twice/);
    expect(() => parseFlatXml('<root><a>1</a></root>')).toThrow(/unexpected root element <root>/);
    expect(() => parseFlatXml('<xml><a>&foo;</a></xml>')).toThrow(/undeclared entity &foo;/);
    expect(() => parseFlatXml('<xml><a>a & b</a></xml>')).toThrow(/bare "&"/);
  });
});

describe('buildFlatXml', () => {
  it('puts every value in CDATA and skips undefined and empty values', () => {
    expect(buildFlatXml({ a: 'x', b: 1, c: undefined, d: '' })).toBe('<xml><a><![CDATA[x]]></a><b><![CDATA[1]]></b></xml>');
    expect(buildFlatXml({ a: 'x' }, 'root')).toBe('<root><a><![CDATA[x]]></a></root>');
  });

  it('round-trips values with "]]>", markup, entities and Chinese through parseFlatXml', () => {
    const fields = { a: 'x]]>y', b: ']]>]]>', c: '<b>&amp;</b>', d: '中文 &', e: '0' };
    expect(parseFlatXml(buildFlatXml(fields))).toEqual(fields);
  });

  it('rejects invalid element names', () => {
    for (const name of ['1a', 'a b', 'a>', '<x', 'a/b', '-a']) {
      expect(() => buildFlatXml({ [name]: 'v' })).toThrow(XmlError);
    }
  });
});

describe('CST compact time (clock.ts)', () => {
  it('formats 2026-01-01T00:00:00Z as 20260101080000 (UTC+8) and parses it back', () => {
    const t = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(formatCstCompact(t)).toBe('20260101080000');
    expect(parseCstCompact('20260101080000')).toBe(t);
  });

  it('crosses the date line: 2025-12-31T16:00:00Z is midnight in Beijing', () => {
    expect(formatCstCompact(Date.UTC(2025, 11, 31, 16, 0, 0))).toBe('20260101000000');
    expect(formatCstCompact(Date.UTC(2025, 11, 31, 15, 59, 59))).toBe('20251231235959');
  });

  it('round-trips whole seconds', () => {
    for (const t of [0, Date.UTC(2014, 8, 3, 5, 15, 40), Date.UTC(2024, 1, 29, 23, 59, 59), Date.UTC(2099, 11, 31, 12, 0, 1)]) {
      expect(parseCstCompact(formatCstCompact(t))).toBe(t);
    }
    expect(parseCstCompact('20140903131540')).toBe(Date.UTC(2014, 8, 3, 5, 15, 40));
  });

  it('returns undefined for malformed input', () => {
    for (const s of [undefined, '', '2026010108000', '202601010800000', '2026-01-01 08:00:00', '2026010108000a', ' 20260101080000', '20261301000000', '20260230250000', '20260101086000']) {
      expect(parseCstCompact(s)).toBeUndefined();
    }
  });
});
