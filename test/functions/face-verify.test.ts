/**
 * `face-verify` end to end through the emulator against the wechat-api sandbox's face verification, both
 * versions: passes, each failure class (final and retryable), results replayed by or for another user or for
 * another identity, forged values, expiry on our side and at WeChat, invalid ID numbers, identity documents
 * the business holds, v1's pushed face_identify event settling a session the client never reported, checks and
 * starts refused before WeChat is asked (no v1 verification to check; max_starts_per_hour), the purge timer, and a scan
 * of every stored byte (and every log line) proving no raw name or ID number was kept.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { manualClock } from '../../shared/core/clock';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let dataDir: string;
let baseConfig: Record<string, unknown>;
const clock = manualClock(Date.now());
const MIN = 60_000;

beforeAll(async () => {
  // Our own data folder: the privacy test reads every file the store wrote.
  dataDir = mkdtempSync(join(tmpdir(), 'face-verify-'));
  emu = await testEmulator({ clock, dataDir });
  const { _id, ...doc } = (await emu.db('config', 'face'))!;
  void _id;
  baseConfig = doc;
});
afterAll(async () => {
  await emu.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const useVersion = (version: 'v1' | 'v2', extra: Record<string, unknown> = {}) => emu.put('config', 'face', { ...baseConfig, version, ...extra });
const face = (event: Record<string, unknown>, openid?: string) => emu.fn('face-verify', event, openid ? { openid } : {});
const sandbox = () => emu.sandboxes['wechat-api'].face;
const session = (outSeqNo: string) => emu.db('face_sessions', outSeqNo);
const control = async (path: string, body: unknown) => {
  const r = await emu.post(`/sandbox/wechat-api/face/${path}`, body);
  expect(r.status).toBe(200);
  return r.body;
};

/** Every name and ID number used, for the privacy scan. */
const used: { name: string; id: string }[] = [];
const SURNAMES = '赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许';
const GIVEN = '建国雪梅志强秀英海燕丽娟红军桂兰明辉晓东';
let people = 0;
/** A fresh person: a distinct name and a valid ID number (check digit computed here, independently of the code). */
function person() {
  const n = people++;
  const name = `${SURNAMES[n % SURNAMES.length]}${GIVEN[(n * 7) % GIVEN.length]}${GIVEN[(n * 3 + 1) % GIVEN.length]}`;
  const first17 = `330106${1970 + (n % 40)}0${1 + (n % 9)}1${n % 10}${String(100 + n).slice(-3)}`;
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((a, d, i) => a + Number(d) * w[i], 0);
  const id = first17 + '10X98765432'[sum % 11];
  used.push({ name, id });
  return { name, id_number: id };
}

let users = 0;
const user = () => `o-face-user-${++users}`;

async function startV2(openid: string, who = person()) {
  const r = await face({ action: 'start', ...who }, openid);
  expect(r).toMatchObject({ ok: true, data: { version: 'v2', status: 'PENDING', verifyId: expect.stringMatching(/^vid_/) } });
  return r.data as { verifyId: string; out_seq_no: string; id_masked: string };
}

async function startV1(openid: string, who = person()) {
  const r = await face({ action: 'start', ...who }, openid);
  expect(r).toMatchObject({ ok: true, data: { version: 'v1', status: 'PENDING', userIdKey: expect.stringMatching(/^uik_/) } });
  return r.data as { userIdKey: string; out_seq_no: string };
}

describe('v2 (getverifyid / queryverifyinfo)', () => {
  beforeAll(() => useVersion('v2'));

  it('passes, is recorded once, and counts for status until valid_for_s runs out', async () => {
    const openid = user();
    const who = person();
    expect(await face({ action: 'status' }, openid)).toEqual({ ok: true, data: { verified: false, verification: null } });
    const s = await startV2(openid, who);
    expect(s.id_masked).toBe(`${who.id_number.slice(0, 4)}**********${who.id_number.slice(-4)}`);
    // Not finished yet: WeChat has no result (84003); nothing is recorded.
    const early = await face({ action: 'check', verify_id: s.verifyId }, openid);
    expect(early).toMatchObject({ ok: true, data: { status: 'PENDING', passed: false, retryable: true } });

    await control('v2/finish', { verify_id: s.verifyId, verify_ret: 10000 });
    const r = await face({ action: 'check', verify_id: s.verifyId }, openid);
    expect(r).toMatchObject({ ok: true, data: { status: 'PASSED', passed: true, code: 'verify_ret:10000', out_seq_no: s.out_seq_no } });
    expect(JSON.stringify(r)).not.toContain('cert_hash');

    // Asked again: the recorded verdict, without asking WeChat.
    const queries = sandbox().calls.queryverifyinfo;
    const again = await face({ action: 'check', verify_id: s.verifyId }, openid);
    expect(again.data).toEqual(r.data);
    expect(sandbox().calls.queryverifyinfo).toBe(queries);

    const st = await face({ action: 'status' }, openid);
    expect(st).toMatchObject({ ok: true, data: { verified: true, verification: { out_seq_no: s.out_seq_no, id_masked: s.id_masked } } });
    // Another cloud function may ask about the user; the mini-program may not ask about someone else.
    expect(await emu.fn('face-verify', { action: 'status', openid }, { source: 'wx_client,scf' })).toMatchObject({ ok: true, data: { verified: true } });
    expect(await face({ action: 'status', openid }, user())).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });

    clock.advance(31 * MIN);
    expect(await face({ action: 'status' }, openid)).toMatchObject({ ok: true, data: { verified: false } });
  });

  it.each([
    [10003, false, 'ID number does not match'],
    [10004, false, 'face does not match'],
    [90002, true, 'cancelled'],
    [90017, true, 'timed out'],
    [10042, true, 'too many attempts'],
  ])('verify_ret %s fails (retryable %s) with its reason', async (ret, retryable, reason) => {
    const openid = user();
    const s = await startV2(openid);
    await control('v2/finish', { verify_id: s.verifyId, verify_ret: ret });
    const r = await face({ action: 'check', verify_id: s.verifyId }, openid);
    expect(r).toMatchObject({ ok: true, data: { status: 'FAILED', passed: false, code: `verify_ret:${ret}`, retryable, reason: expect.stringContaining(reason) } });
    expect(await face({ action: 'status' }, openid)).toMatchObject({ data: { verified: false } });
  });

  it("another user's verify_id, or a made-up one, is not found and changes nothing", async () => {
    const owner = user();
    const s = await startV2(owner);
    await control('v2/finish', { verify_id: s.verifyId });
    expect(await face({ action: 'check', verify_id: s.verifyId }, user())).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await face({ action: 'check', verify_id: `${s.verifyId}x` }, owner)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await session(s.out_seq_no)).toMatchObject({ status: 'PENDING' });
    // The owner still gets the real verdict.
    expect(await face({ action: 'check', verify_id: s.verifyId }, owner)).toMatchObject({ data: { status: 'PASSED' } });
  });

  it('an expired session fails: on our side (session_ttl_s), and at WeChat (84002)', async () => {
    const openid = user();
    const late = await startV2(openid);
    await control('v2/finish', { verify_id: late.verifyId });
    clock.advance(31 * MIN);
    expect(await face({ action: 'check', verify_id: late.verifyId }, openid)).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('expired') } });
    expect(await face({ action: 'status' }, openid)).toMatchObject({ data: { verified: false } });

    const gone = await startV2(openid);
    await control('v2/finish', { verify_id: gone.verifyId });
    await control('expire', { verify_id: gone.verifyId });
    expect(await face({ action: 'check', verify_id: gone.verifyId }, openid)).toMatchObject({
      ok: true,
      data: { status: 'FAILED', code: 'errcode:84002', retryable: true, reason: expect.stringContaining('expired') },
    });
  });

  it('invalid identities are refused before WeChat is called, naming the field', async () => {
    const calls = sandbox().calls.getverifyid;
    const good = person();
    const badCheck = good.id_number.slice(0, 17) + (good.id_number[17] === '0' ? '1' : '0');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: good.name, id_number: badCheck }, /id_number has a wrong check digit/],
      [{ name: good.name, id_number: '33010619991301001X' }, /id_number holds no valid birth date/],
      [{ name: good.name, id_number: '1234' }, /id_number must be the 18-character/],
      [{ name: '王', id_number: good.id_number }, /name must be the name on the ID card, 2 to 30/],
      [{ name: good.name }, /pass either name and id_number, or identity_ref|id_number is missing/],
      [{ name: good.name, id_number: good.id_number, identity_ref: 'p1' }, /pass either name and id_number, or identity_ref/],
    ];
    for (const [input, message] of cases) {
      const r = await face({ action: 'start', ...input }, user());
      expect(r).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringMatching(message) } });
      expect(r.error.message).not.toContain(good.id_number.slice(6));
    }
    expect(sandbox().calls.getverifyid).toBe(calls);
    expect(await face({ action: 'start', ...good })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  });

  it('malformed calls name what to fix: wrong action, non-string fields, both or neither of verify_id / verify_result', async () => {
    const openid = user();
    const good = person();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ action: 'verify' }, 'UNKNOWN_ACTION', /valid actions: check, purge, start, status/],
      [{ action: 'start', name: 5, id_number: good.id_number }, 'INVALID_INPUT', /name must be the name on the ID card/],
      [{ action: 'start', name: good.name, id_number: 330106 }, 'INVALID_INPUT', /id_number must be the 18-character/],
      [{ action: 'check', verify_id: 7 }, 'INVALID_INPUT', /verify_id must be the verifyId start returned/],
      [{ action: 'check' }, 'INVALID_INPUT', /pass verify_id .* or verify_result/],
      [{ action: 'check', verify_id: 'vid_x', verify_result: 'vr_x' }, 'INVALID_INPUT', /pass verify_id .* or verify_result/],
    ];
    for (const [input, code, message] of cases) {
      expect(await face(input, openid)).toMatchObject({ ok: false, error: { code, message: expect.stringMatching(message) } });
    }
  });

  it('is tied to the mini-program of config/face.appid', async () => {
    const openid = user();
    const other = await emu.fn('face-verify', { action: 'start', ...person() }, { openid, appid: 'wx9999999999999999' });
    expect(other).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('config/face.appid') } });
    const s = await startV2(openid);
    await control('v2/finish', { verify_id: s.verifyId });
    await useVersion('v2', { appid: 'wx00000000000000ff' });
    expect(await face({ action: 'check', verify_id: s.verifyId }, openid)).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('appid changed') } });
    await useVersion('v2');
    expect(await face({ action: 'check', verify_id: s.verifyId }, openid)).toMatchObject({ data: { status: 'PASSED' } });
  });

  it('start is limited per user and hour (config/face.max_starts_per_hour), refused before WeChat is asked, naming when to retry', async () => {
    await useVersion('v2', { max_starts_per_hour: 2 });
    const openid = user();
    const first = await face({ action: 'start', ...person() }, openid);
    expect(first).toMatchObject({ ok: true });
    clock.advance(10 * MIN);
    await startV2(openid);
    const calls = sandbox().calls.getverifyid;
    const refused = await face({ action: 'start', ...person() }, openid);
    expect(refused).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('at most 2 an hour (config/face.max_starts_per_hour)') } });
    // The first start leaves the hour 50 minutes from now.
    expect(refused.error.message).toContain(`try again after ${new Date(first.data.created_at + 60 * MIN).toISOString()} (in 50 minutes)`);
    expect(refused.error).toMatchObject({ retryable: true, retry_after: first.data.created_at + 60 * MIN });
    expect(sandbox().calls.getverifyid).toBe(calls);
    // Another user is not held back; the same user may start again once the first start has left the hour.
    await startV2(user());
    clock.advance(50 * MIN);
    await startV2(openid);
    // Two in the hour again: the next one once the second start (10 minutes after the first) leaves it.
    expect(await face({ action: 'start', ...person() }, openid)).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('(in 10 minutes)') } });
    await useVersion('v2');
  });

  it("identity_ref: the business's own document, only its owner's", async () => {
    const who = person();
    const owner = user();
    await emu.put('patients', 'p-1', { _openid: owner, profile: { name: who.name }, id_number: who.id_number });
    await useVersion('v2', { identity: { collection: 'patients', name_field: 'profile.name' } });
    const s = await face({ action: 'start', identity_ref: 'p-1' }, owner);
    expect(s).toMatchObject({ ok: true, data: { identity_ref: 'p-1', verifyId: expect.any(String) } });
    expect(await face({ action: 'start', identity_ref: 'p-1' }, user())).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    await emu.put('patients', 'p-2', { _openid: owner, profile: { name: who.name }, id_number: '330106199001011234' });
    expect(await face({ action: 'start', identity_ref: 'p-2' }, owner)).toMatchObject({
      ok: false,
      error: { code: 'INVALID_INPUT', message: expect.stringContaining('patients/p-2.id_number has a wrong check digit') },
    });
    await control('v2/finish', { verify_id: s.data.verifyId });
    expect(await face({ action: 'check', verify_id: s.data.verifyId }, owner)).toMatchObject({ data: { status: 'PASSED', identity_ref: 'p-1' } });
    // A document keyed by the ID number itself: the ref would be a raw ID number in the session and in errors.
    const keyed = person();
    await emu.put('patients', keyed.id_number, { _openid: owner, profile: { name: keyed.name }, id_number: keyed.id_number });
    const byId = await face({ action: 'start', identity_ref: keyed.id_number }, owner);
    expect(byId).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('identity_ref is an ID number') } });
    expect(byId.error.message).not.toContain(keyed.id_number);
    await useVersion('v2');
  });
});

describe('v1 (getuseridkey / getinfo, and the pushed face_identify event)', () => {
  beforeAll(() => useVersion('v1'));

  it('passes when the client reports the verify_result', async () => {
    const openid = user();
    const s = await startV1(openid);
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, push: false });
    const r = await face({ action: 'check', verify_result }, openid);
    expect(r).toMatchObject({ ok: true, data: { status: 'PASSED', passed: true, code: 'identify_ret:0', version: 'v1' } });
    expect((await session(s.out_seq_no)).verdict).toMatchObject({ by: 'check' });
    expect(await face({ action: 'status' }, openid)).toMatchObject({ data: { verified: true, verification: { out_seq_no: s.out_seq_no } } });
  });

  it('the pushed event records the verdict when the client never reports; a later check answers the same, recorded once', async () => {
    const openid = user();
    const s = await startV1(openid);
    const fin = await control('v1/finish', { user_id_key: s.userIdKey, openid, identify_ret: 10004 });
    expect(fin.pushed).toMatchObject({ ok: true, data: { status: 'FAILED', code: 'identify_ret:10004', retryable: false } });
    const recorded = await session(s.out_seq_no);
    expect(recorded.verdict).toMatchObject({ by: 'event', code: 10004 });

    const r = await face({ action: 'check', verify_result: fin.verify_result }, openid);
    expect(r).toMatchObject({ ok: true, data: { status: 'FAILED', code: 'identify_ret:10004' } });
    expect(await session(s.out_seq_no)).toEqual(recorded);
    // The same event delivered again changes nothing.
    const replay = await emu.invoke('face-verify', { MsgType: 'event', Event: 'face_identify', FromUserName: openid, out_seq_no: s.out_seq_no, verify_result: fin.verify_result }, { OPENID: openid });
    expect(replay).toMatchObject({ ok: true, data: { status: 'FAILED' } });
    expect(await session(s.out_seq_no)).toEqual(recorded);

    const passing = await startV1(openid);
    const ok = await control('v1/finish', { user_id_key: passing.userIdKey, openid });
    expect(ok.pushed).toMatchObject({ ok: true, data: { status: 'PASSED' } });
    expect(await face({ action: 'status' }, openid)).toMatchObject({ data: { verified: true, verification: { out_seq_no: passing.out_seq_no } } });
  });

  it('the pushed event and the check racing: one records, both answer the same verdict', async () => {
    const openid = user();
    const s = await startV1(openid);
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, push: false });
    const event = { MsgType: 'event', Event: 'face_identify', FromUserName: openid, out_seq_no: s.out_seq_no, verify_result };
    const answers = await Promise.all([
      emu.invoke('face-verify', event, { OPENID: openid }),
      face({ action: 'check', verify_result }, openid),
      emu.invoke('face-verify', event, { OPENID: openid }),
      face({ action: 'check', verify_result }, openid),
    ]);
    const recorded = await session(s.out_seq_no);
    for (const a of answers) expect(a).toMatchObject({ ok: true, data: { status: 'PASSED', verified_at: recorded.verified_at } });
    expect(['check', 'event']).toContain(recorded.verdict.by);
    // One writer won the compare-and-set: the verdict was recorded (and logged) once.
    expect((emu.log.lines ?? []).filter((l) => l.includes('face verification recorded') && l.includes(s.out_seq_no))).toHaveLength(1);
  });

  it.each([
    [10003, false],
    [10004, false],
    [90100, true],
    [10020, true],
    [10042, true],
  ])('identify_ret %s fails (retryable %s)', async (ret, retryable) => {
    const openid = user();
    const s = await startV1(openid);
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, identify_ret: ret, push: false });
    expect(await face({ action: 'check', verify_result }, openid)).toMatchObject({ ok: true, data: { status: 'FAILED', code: `identify_ret:${ret}`, retryable } });
  });

  it('a check from a user with no unexpired v1 verification is refused before WeChat is asked', async () => {
    const getinfo = () => sandbox().calls.getinfo;
    const calls = getinfo();
    expect(await face({ action: 'check', verify_result: 'vr_anything' }, user())).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('call start') } });
    // Only a v2 verification, or only an expired v1 one: nothing to check either.
    const openid = user();
    await useVersion('v2');
    await startV2(openid);
    await useVersion('v1');
    expect(await face({ action: 'check', verify_result: 'vr_anything' }, openid)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const s = await startV1(openid);
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, push: false });
    clock.advance(31 * MIN);
    expect(await face({ action: 'check', verify_result }, openid)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('expired') } });
    expect(getinfo()).toBe(calls);

    // A settled verification admits the check, but its recorded verdict is given only for its own verify_result.
    const t = await startV1(openid);
    const fin = await control('v1/finish', { user_id_key: t.userIdKey, openid });
    expect(fin.pushed).toMatchObject({ ok: true, data: { status: 'PASSED' } });
    const before = getinfo();
    const forged = await face({ action: 'check', verify_result: 'vr_forged' }, openid);
    expect(forged).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: '84001' } });
    expect(JSON.stringify(forged)).not.toContain('**********');
    expect(await face({ action: 'check', verify_result: fin.verify_result }, openid)).toMatchObject({ ok: true, data: { status: 'PASSED', out_seq_no: t.out_seq_no } });
    expect(getinfo()).toBe(before + 2);
  });

  it("a verify_result replayed by another user, or produced by another user's face, fails and records nothing", async () => {
    const owner = user();
    const other = user();
    const s = await startV1(owner);
    const mine = await control('v1/finish', { user_id_key: s.userIdKey, openid: owner, push: false });
    const calls = sandbox().calls.getinfo;
    expect(await face({ action: 'check', verify_result: mine.verify_result }, other)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(sandbox().calls.getinfo).toBe(calls);

    // Someone else ran the owner's userIdKey: WeChat reports their openid.
    const theirs = await control('v1/finish', { user_id_key: s.userIdKey, openid: other, push: false });
    expect(await face({ action: 'check', verify_result: theirs.verify_result }, owner)).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN', message: expect.stringContaining('another WeChat user') },
    });
    expect(await session(s.out_seq_no)).toMatchObject({ status: 'PENDING' });
    expect(await face({ action: 'check', verify_result: mine.verify_result }, owner)).toMatchObject({ data: { status: 'PASSED' } });
  });

  it('errcode 0 and identify_ret 0 for another identity (hash mismatch) fails', async () => {
    const openid = user();
    const s = await startV1(openid);
    const stranger = person();
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, push: false, as: { name: stranger.name, id_card_number: stranger.id_number } });
    expect(await face({ action: 'check', verify_result }, openid)).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN', message: expect.stringContaining('another identity') },
    });
    expect(await session(s.out_seq_no)).toMatchObject({ status: 'PENDING' });
    expect(await face({ action: 'status' }, openid)).toMatchObject({ data: { verified: false } });
  });

  it('a forged verify_result is refused by WeChat (84001); a forged event settles nothing', async () => {
    const openid = user();
    const victim = user();
    const s = await startV1(victim);
    // The attacker's own verification, pushed at the victim's session by a client posing as WeChat.
    const own = await startV1(openid);
    expect(await face({ action: 'check', verify_result: 'vr_forged' }, openid)).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: '84001' } });
    const fin = await control('v1/finish', { user_id_key: own.userIdKey, openid, push: false });
    const forged = { MsgType: 'event', Event: 'face_identify', out_seq_no: s.out_seq_no, verify_result: fin.verify_result };
    expect(await face(forged, openid)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await face({ ...forged, FromUserName: victim }, openid)).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('another verification') } });
    expect(await session(s.out_seq_no)).toMatchObject({ status: 'PENDING' });
  });

  it("an event naming another user's settled session learns nothing from it without that session's verify_result", async () => {
    const victim = user();
    const s = await startV1(victim);
    const fin = await control('v1/finish', { user_id_key: s.userIdKey, openid: victim });
    expect(fin.pushed).toMatchObject({ ok: true, data: { status: 'PASSED' } });
    // No FromUserName and a guessed verify_result: getinfo refuses it before the session is read out.
    const probe = await face({ MsgType: 'event', Event: 'face_identify', out_seq_no: s.out_seq_no, verify_result: 'vr_guess' }, user());
    expect(probe).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: '84001' } });
    expect(JSON.stringify(probe)).not.toContain('**********');
  });

  it('the pushed event is read in PascalCase too (OutSeqNo, VerifyResult, OpenId), every user field must be the owner', async () => {
    const openid = user();
    const s = await startV1(openid);
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, identify_ret: 90100, push: false });
    const event = { ToUserName: 'gh_0123456789ab', FromUserName: openid, CreateTime: 1764806400, MsgType: 'event', Event: 'face_identify', OpenId: openid, OutSeqNo: s.out_seq_no, VerifyResult: verify_result };
    expect(await emu.invoke('face-verify', { ...event, OpenId: user() }, { OPENID: openid })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await session(s.out_seq_no)).toMatchObject({ status: 'PENDING' });
    expect(await emu.invoke('face-verify', event, { OPENID: openid })).toMatchObject({ ok: true, data: { status: 'FAILED', code: 'identify_ret:90100', retryable: true } });
    expect((await session(s.out_seq_no)).verdict).toMatchObject({ by: 'event' });
  });

  it('a malformed event is refused with a clear error that never echoes its fields', async () => {
    const base = { MsgType: 'event', Event: 'face_identify', verify_result: 'vr_x' };
    const idLike = person().id_number;
    expect(await face({ ...base, out_seq_no: 42 })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('out_seq_no') } });
    expect(await face({ ...base, out_seq_no: 'F2026120400000012345678', verify_result: undefined })).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT' } });
    for (const bad of [idLike, `${idLike} ${'x'.repeat(40)}`]) {
      const r = await face({ ...base, out_seq_no: bad });
      expect(r).toMatchObject({ ok: false, error: { code: expect.stringMatching(/^(NOT_FOUND|INVALID_INPUT)$/) } });
      expect(r.error.message).not.toContain(idLike);
    }
  });

  it('an expired v1 session fails, and WeChat expiry is reported', async () => {
    const openid = user();
    const s = await startV1(openid);
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, push: false });
    clock.advance(31 * MIN);
    const calls = sandbox().calls.getinfo;
    // Every v1 verification of the user has expired: refused before getinfo (see above), and so is a late event.
    expect(await face({ action: 'check', verify_result }, openid)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('expired') } });
    const late = { MsgType: 'event', Event: 'face_identify', FromUserName: openid, out_seq_no: s.out_seq_no, verify_result };
    expect(await emu.invoke('face-verify', late, { OPENID: openid })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND', message: expect.stringContaining('unexpired') } });
    expect(sandbox().calls.getinfo).toBe(calls);
    expect(await session(s.out_seq_no)).toMatchObject({ status: 'PENDING' });

    const t = await startV1(openid);
    const fin = await control('v1/finish', { user_id_key: t.userIdKey, openid, push: false });
    await control('expire', { user_id_key: t.userIdKey });
    expect(await face({ action: 'check', verify_result: fin.verify_result }, openid)).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: '84002' } });
  });

  it('a session keeps its version when the config switches', async () => {
    const openid = user();
    const s = await startV1(openid);
    await useVersion('v2');
    const { verify_result } = await control('v1/finish', { user_id_key: s.userIdKey, openid, push: false });
    expect(await face({ action: 'check', verify_result }, openid)).toMatchObject({ data: { status: 'PASSED', version: 'v1' } });
    await useVersion('v1');
  });
});

describe('purge (timer)', () => {
  const timer = () => emu.invoke('face-verify', { Type: 'Timer', TriggerName: 'purge', Time: '2026-12-04T06:00:00Z' }, { SOURCE: 'wx_trigger' });
  const HOUR = 60 * MIN;
  beforeAll(() => useVersion('v2', { keep_expired_s: 3600, valid_for_s: 3 * 3600 }));
  afterAll(() => useVersion('v2'));

  it('only its timer and other cloud functions may run it', async () => {
    expect(await face({ action: 'purge' }, user())).toMatchObject({ ok: false, error: { code: 'FORBIDDEN', message: expect.stringContaining('timer trigger') } });
    expect(await face({ Type: 'Timer', TriggerName: 'purge' }, user())).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await emu.fn('face-verify', { action: 'purge' }, { source: 'wx_client,scf' })).toMatchObject({ ok: true, data: { more: false } });
  });

  it('deletes sessions expired longer than keep_expired_s ago that never passed, or passed and stopped counting; keeps what status needs', async () => {
    // What the earlier tests left has all expired two days on.
    clock.advance(48 * HOUR);
    expect(await timer()).toMatchObject({ ok: true, data: { more: false } });
    expect(await emu.store.find('face_sessions', {}, { limit: 10 })).toEqual([]);

    const openid = user();
    const pending = await startV2(openid);
    const failed = await startV2(openid);
    await control('v2/finish', { verify_id: failed.verifyId, verify_ret: 10004 });
    await face({ action: 'check', verify_id: failed.verifyId }, openid);
    const passed = await startV2(openid);
    await control('v2/finish', { verify_id: passed.verifyId });
    expect(await face({ action: 'check', verify_id: passed.verifyId }, openid)).toMatchObject({ data: { status: 'PASSED' } });

    // 2 h on: all three expired 1.5 h ago (session_ttl_s 30 min), past keep_expired_s (1 h); the pass counts 1 h more.
    clock.advance(2 * HOUR);
    const fresh = await startV2(openid);
    expect(await timer()).toEqual({ ok: true, data: { deleted: 2, more: false } });
    expect(await session(pending.out_seq_no)).toBeNull();
    expect(await session(failed.out_seq_no)).toBeNull();
    expect(await session(fresh.out_seq_no)).toMatchObject({ status: 'PENDING' });
    expect(await face({ action: 'status' }, openid)).toMatchObject({ data: { verified: true, verification: { out_seq_no: passed.out_seq_no } } });

    // 3 h on: the pass stopped counting 2 h ago; the fresh session expired 2.5 h ago.
    clock.advance(3 * HOUR);
    expect(await timer()).toEqual({ ok: true, data: { deleted: 2, more: false } });
    expect(await session(passed.out_seq_no)).toBeNull();
    expect(await session(fresh.out_seq_no)).toBeNull();
  });
});

it('no raw name or ID number was stored in any document of any collection, or logged', async () => {
  expect(used.length).toBeGreaterThan(20);
  // `patients` holds the business's own identity documents (the identity_ref test): everything else is ours.
  const files = readdirSync(dataDir).filter((f) => f !== 'patients.db');
  const collections = files.filter((f) => f.endsWith('.db')).map((f) => f.slice(0, -3));
  expect(collections).toEqual(expect.arrayContaining(['face_sessions', 'config', 'pay_cache']));
  // Every document, as the store returns it, and every byte written (NeDB appends each version of a document).
  const docs: string[] = [];
  for (const c of collections) docs.push(JSON.stringify(await emu.store.find(c, {}, { limit: 100 })));
  const stored = [...docs, ...files.map((f) => readFileSync(join(dataDir, f), 'utf8'))].join('\n');
  const logged = (emu.log.lines ?? []).join('\n');
  expect(stored).toContain('**********');
  // The values that leaked (the whole ID, its masked middle, the name), listed compactly on failure.
  const leaked = (text: string) => used.flatMap(({ name, id }) => [name, id, id.slice(4, 14)].filter((v) => text.includes(v)));
  expect(leaked(stored)).toEqual([]);
  expect(leaked(logged)).toEqual([]);
});
