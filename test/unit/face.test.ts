/**
 * Face verification's pure parts: the mainland ID check (ISO 7064 MOD 11-2, birth date, province), names,
 * the mask, the hashes WeChat compares (pinned by the official v2 example and fixed MD5 vectors), the verdict
 * code table, and config/face validation (also through check-config).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { idNumberProblem, maskIdNumber, nameProblem, parseIdentity } from '../../shared/identity/face/identity';
import { certHash, certHashInput, idCardNumberMd5, nameUtf8Md5 } from '../../shared/identity/face/hashes';
import { apiErrorOf, KNOWN_CODES, verdictOf } from '../../shared/identity/face/codes';
import { faceConfig } from '../../shared/config/face';
import { checkConfigFile } from '../../scripts/check-config';

const NOW = Date.UTC(2026, 11, 4);

describe('mainland ID numbers', () => {
  // GB 11643-1999's own examples: one ending in a digit, one in X.
  it.each(['11010519491231002X', '440524188001010014', '11010519491231002x'])('%s is valid', (id) => {
    expect(idNumberProblem(id, 'id_number', NOW)).toBeUndefined();
  });

  it('a lower-case x is upper-cased; the name is trimmed', () => {
    expect(parseIdentity(' 张三 ', '11010519491231002x', NOW)).toEqual({ name: '张三', idNumber: '11010519491231002X' });
  });

  it.each([
    ['11010519491231002', 'must be the 18-character'],
    ['1101051949123100201', 'must be the 18-character'],
    ['11010519491231002Y', 'must be the 18-character'],
    ['A1010519491231002X', 'must be the 18-character'],
    ['110105194912310021', 'wrong check digit'],
    ['440524188001010015', 'wrong check digit'],
    // the official v2 example's number: its check digit should be 2
    ['310101199801011234', 'wrong check digit'],
    ['99010519491231002X', 'province code'],
    ['110105194902300020', 'birth date'],
    ['110105179912310020', 'birth date'],
    ['110105203001010020', 'birth date'],
  ])('%s is refused (%s), naming the field and not echoing the number', (id, why) => {
    const p = idNumberProblem(id, 'id_number', NOW)!;
    expect(p).toContain(why);
    expect(p.startsWith('id_number ')).toBe(true);
    expect(p).not.toContain(id);
  });

  it('the mask keeps the first and last four', () => {
    expect(maskIdNumber('310101199001011234')).toBe('3101**********1234');
    expect(maskIdNumber('11010519491231002X')).toBe('1101**********002X');
  });
});

describe('names', () => {
  it.each(['张三', '欧阳娜娜', '阿卜杜热西提·买买提', 'Anna Smith'])('%s is plausible', (n) => expect(nameProblem(n, 'name')).toBeUndefined());
  it.each([['张', '2 to 30'], ['张'.repeat(31), '2 to 30'], ['张3', 'letters only'], ['<b>x</b>', 'letters only'], ['张\n三', 'letters only'], ['··', 'at least 2 letters'], ['. -', 'at least 2 letters'], ['张·', 'at least 2 letters']])(
    '%s is refused (%s)',
    (n, why) => expect(nameProblem(n, 'name')).toContain(why),
  );
  it('every problem at once, each naming its field', () => {
    expect(() => parseIdentity('张', '110105194912310021', NOW)).toThrow(/name must .*; id_number has a wrong check digit/);
    expect(() => parseIdentity(undefined, undefined, NOW)).toThrow(/name is missing.*; id_number is missing/);
  });
});

describe('hashes', () => {
  it('v2 cert_hash: the official example string, and its SHA-256', () => {
    const identity = { name: '张三', idNumber: '310101199801011234' };
    expect(certHashInput(identity)).toBe('cert_type=SURFTlRJVFlfQ0FSRA==&cert_name=5byg5LiJ&cert_no=MzEwMTAxMTk5ODAxMDExMjM0');
    // SHA-256 of that string (computed with node:crypto, independent of crypto-js)
    expect(certHash(identity)).toBe('3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b');
  });

  it('v1 MD5s: lower-case hex of the UTF-8 name; the ID with its x upper-cased', () => {
    expect(nameUtf8Md5('张三')).toBe('615db57aa314529aaa0fbe95b3e95bd3');
    // A real getinfo answer published on WeChat's developer forum (thread 000688925e43586110d0bb2766bc00):
    // name 曾浩 → name_utf8_md5 ee075aef91ddd81394b6f68d7ff998cb.
    expect(nameUtf8Md5('曾浩')).toBe('ee075aef91ddd81394b6f68d7ff998cb');
    expect(idCardNumberMd5('11010519491231002x')).toBe(idCardNumberMd5('11010519491231002X'));
    // fixed vectors (node:crypto MD5, independent of crypto-js)
    expect(idCardNumberMd5('11010519491231002x')).toBe('ae05564031c21338aa8a2e7266e7855c');
    expect(idCardNumberMd5('440524188001010014')).toBe('3b304df4cad637fc4a3e0dbc69b2eaec');
  });
});

describe('verdict codes', () => {
  it('passed only on the success code of each version', () => {
    expect(verdictOf('v2', 10000)).toMatchObject({ passed: true, source: 'verify_ret' });
    expect(verdictOf('v1', 0)).toMatchObject({ passed: true, source: 'identify_ret' });
    expect(verdictOf('v1', 10000).passed).toBe(false);
    expect(verdictOf('v2', 0).passed).toBe(false);
  });

  it('final failures: ID mismatch, face mismatch, no permission', () => {
    for (const v of ['v1', 'v2'] as const) {
      expect(verdictOf(v, 10003)).toMatchObject({ passed: false, retryable: false, reason: expect.stringContaining('ID number does not match') });
      expect(verdictOf(v, 10004)).toMatchObject({ passed: false, retryable: false, reason: expect.stringContaining('face does not match') });
      expect(verdictOf(v, 10006).retryable).toBe(false);
    }
  });

  it('retryable failures: cancelled, timeout, too frequent', () => {
    expect(verdictOf('v1', 90100)).toMatchObject({ retryable: true, reason: expect.stringContaining('cancelled') });
    expect(verdictOf('v2', 90002)).toMatchObject({ retryable: true, reason: expect.stringContaining('cancelled') });
    expect(verdictOf('v1', 10020)).toMatchObject({ retryable: true, reason: expect.stringContaining('timed out') });
    expect(verdictOf('v2', 90017)).toMatchObject({ retryable: true, reason: expect.stringContaining('timed out') });
    expect(verdictOf('v2', 10042)).toMatchObject({ retryable: true, reason: expect.stringContaining('too many') });
  });

  it("v2's 90104/90105/90110 are WeChat failing to load something (official enum), retryable; 90108 is not in it", () => {
    expect(verdictOf('v2', 90104)).toMatchObject({ retryable: true, reason: expect.stringContaining('settings could not be loaded') });
    expect(verdictOf('v2', 90105)).toMatchObject({ retryable: true, reason: expect.stringContaining('confirmation data could not be loaded') });
    expect(verdictOf('v2', 90110)).toMatchObject({ retryable: true, reason: expect.stringContaining('agreement could not be loaded') });
    expect(verdictOf('v2', 90108).reason).toContain('not in its published tables');
  });

  it('every listed code has its own reason, not the unknown-code text', () => {
    const all = [
      ...KNOWN_CODES.shared.flatMap((c) => [verdictOf('v1', c), verdictOf('v2', c)]),
      ...KNOWN_CODES.v1Client.map((c) => verdictOf('v1', c)),
      ...KNOWN_CODES.v2Client.map((c) => verdictOf('v2', c)),
      ...KNOWN_CODES.api.map((c) => apiErrorOf(c)),
    ];
    expect(all.length).toBeGreaterThan(80);
    for (const v of all) {
      expect(v.passed).toBe(false);
      expect(v.reason).not.toContain('not in its published tables');
      expect(v.reason).not.toMatch(/^WeChat answered errcode/);
    }
    expect(verdictOf('v2', 12345)).toMatchObject({ passed: false, retryable: true, reason: expect.stringContaining('12345') });
  });

  it('the API errcodes 84001/84002/84003/84006', () => {
    expect(apiErrorOf(84001)).toMatchObject({ retryable: false, reason: expect.stringContaining('does not know this verification') });
    expect(apiErrorOf(84002)).toMatchObject({ retryable: true, reason: expect.stringContaining('expired') });
    expect(apiErrorOf(84003)).toMatchObject({ retryable: true, reason: expect.stringContaining('no result') });
    expect(apiErrorOf(84006)).toMatchObject({ retryable: false, reason: expect.stringContaining('empty') });
  });
});

describe('config/face', () => {
  const good = { appid: 'wx0123456789abcdef', secret: 'a'.repeat(32) };

  it('defaults: v2, the official host, 30-minute validity and session', () => {
    const r = faceConfig.validate(good);
    expect(r).toEqual({ ok: true, config: expect.objectContaining({ version: 'v2', api_base: 'https://api.weixin.qq.com', valid_for_s: 1800, session_ttl_s: 1800, v1_out_seq_no: true, max_starts_per_hour: 10, keep_expired_s: 7 * 86400 }) });
  });

  it('errors name the field to fix', () => {
    const r = faceConfig.validate({ version: 'v3', appid: 'wx1', secret: 'short', session_ttl_s: 7200, max_starts_per_hour: 0, identity: { collection: 'patients', owner_field: 5 } });
    expect(r.ok).toBe(false);
    const text = (r as { problems: string[] }).problems.join('\n');
    expect(text).toContain('config/face.version must be one of "v2", "v1"');
    expect(text).toContain('config/face.appid must be the mini-program AppID');
    expect(text).toContain('config/face.secret must be');
    expect(text).toContain('config/face.session_ttl_s must be a whole number of seconds from 60 to 3600');
    expect(text).toContain('config/face.max_starts_per_hour must be a whole number from 1 to 1000');
    expect(text).not.toContain('short');
    expect(faceConfig.validate({ ...good, keep_expired_s: 60 })).toEqual({
      ok: false,
      problems: [expect.stringContaining('config/face.keep_expired_s must be a whole number of seconds from 3600')],
    });
  });

  it('identity: the collection is required, field names default', () => {
    const r = faceConfig.validate({ ...good, identity: { collection: 'patients' } });
    expect(r).toMatchObject({ ok: true, config: { identity: { collection: 'patients', name_field: 'name', id_number_field: 'id_number', owner_field: '_openid' } } });
    expect(faceConfig.validate({ ...good, identity: { collection: 'patients', owner_field: null } })).toMatchObject({ ok: true });
  });

  it('check-config knows face.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'face-config-'));
    try {
      const f = join(dir, 'face.json');
      writeFileSync(f, JSON.stringify({ ...good, version: 'v1' }));
      expect(checkConfigFile(f)).toEqual({ ok: true, lines: [`${f}: config/face is valid (version v1)`] });
      writeFileSync(f, JSON.stringify({ ...good, valid_for_s: 5 }));
      expect(checkConfigFile(f)).toEqual({ ok: false, lines: [expect.stringContaining('config/face.valid_for_s must be')] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
