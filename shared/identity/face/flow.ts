import { AppError, conflict, forbidden, invalidInput, notFound, providerRejected, providerUnavailable } from '../../core/errors';
import type { Caller } from '../../core/handler';
import { formatCstCompact } from '../../core/clock';
import { fieldAt } from '../../core/field-path';
import { constantTimeEqual } from '../../crypto/hash';
import { nonce } from '../../crypto/nonce';
import type { WechatApp } from '../../messaging/access-token';
import { remoteDeps } from '../../store/shared-cache';
import type { Cloud } from '../../runtime/port';
import { faceConfig, type FaceConfig } from '../../config/face';
import { apiErrorOf, verdictOf, type Verdict } from './codes';
import { certHash, idCardNumberMd5, nameUtf8Md5 } from './hashes';
import { idNumberProblem, maskIdNumber, parseIdentity, type Identity } from './identity';
import {
  getSession,
  hasUnexpiredV1,
  insertSession,
  latestValid,
  purgeable,
  recordVerdict,
  removeSession,
  sessionBy,
  startedSince,
  type FaceSession,
} from './sessions';
import { getInfo, getUserIdKey, getVerifyId, queryVerifyInfo, refused, type IdentifyInfo } from './wechat';

/**
 * The face-verification flows: `start` (identity checked, WeChat asked for a verify_id / user_id_key, the
 * session stored with hashes only), `check` (the verdict from what the session holds and what WeChat answers,
 * never from what the client echoes), `status`, and WeChat's pushed v1 `face_identify` event. A session's
 * verdict is recorded once, by compare-and-set; whoever comes second reads it.
 */

const loadConfig = (cloud: Cloud) => faceConfig.load(cloud.store, cloud.clock);
const appOf = (c: FaceConfig): WechatApp => ({ appid: c.appid, secret: c.secret, api_base: c.api_base });

function requireOpenid(caller: Caller): string {
  if (!caller.openid) throw forbidden('face verification is for the mini-program user: no OPENID in the WX context');
  return caller.openid;
}

/** What a client sees of a session: never a hash, never WeChat's references. */
function sessionView(s: FaceSession) {
  return {
    out_seq_no: s.out_seq_no,
    version: s.version,
    status: s.status,
    id_masked: s.id_masked,
    identity_ref: s.identity_ref ?? null,
    created_at: s.created_at,
    expires_at: s.expires_at,
    passed: s.status === 'PASSED',
    code: s.verdict ? `${s.verdict.source}:${s.verdict.code}` : null,
    reason: s.verdict?.reason ?? null,
    retryable: s.verdict?.retryable ?? null,
    verified_at: s.verified_at ?? null,
    valid_until: s.valid_until ?? null,
  };
}

/** The identity held by the business's document `ref`, which must belong to the caller (config/face.identity.owner_field). */
async function identityFromRef(cloud: Cloud, config: FaceConfig, openid: string, ref: string): Promise<Identity> {
  const src = config.identity;
  if (!src) throw invalidInput('identity_ref needs config/face.identity (collection and field names); pass name and id_number instead');
  // Documents keyed by the ID number itself: the ref would be stored in the session and echoed in errors.
  if (idNumberProblem(ref, 'identity_ref', cloud.clock.now()) === undefined) {
    throw invalidInput('identity_ref is an ID number, which is never stored: give the document another _id, or pass name and id_number');
  }
  const doc = await cloud.store.get<Record<string, unknown>>(src.collection, ref);
  // Another user's document is reported exactly like a missing one.
  if (!doc || (src.owner_field !== null && fieldAt(doc, src.owner_field) !== openid)) throw notFound(`no identity ${ref} of yours in ${src.collection}`);
  const label = (f: string) => `${src.collection}/${ref}.${f}`;
  return parseIdentity(fieldAt(doc, src.name_field), fieldAt(doc, src.id_number_field), cloud.clock.now(), { name: label(src.name_field), idNumber: label(src.id_number_field) });
}

export type StartInput = { name?: string; id_number?: string; identity_ref?: string };

/** `start`: a new verification of the caller for the identity given (or referenced). */
export async function start(cloud: Cloud, caller: Caller, input: StartInput) {
  const openid = requireOpenid(caller);
  const byRef = input.identity_ref !== undefined;
  if (byRef === (input.name !== undefined || input.id_number !== undefined)) {
    throw invalidInput('face-verify.start: pass either name and id_number, or identity_ref');
  }
  const config = await loadConfig(cloud);
  if (caller.appid && caller.appid !== config.appid) {
    // WeChat ties the openid to the mini-program whose token asks; another app's openid can never pass.
    throw forbidden(`face verification is set up for the mini-program in config/face.appid, not for ${caller.appid}`);
  }
  const identity = byRef ? await identityFromRef(cloud, config, openid, input.identity_ref!) : parseIdentity(input.name, input.id_number, cloud.clock.now());
  const now = cloud.clock.now();
  await withinStartLimit(cloud, config, openid, now);
  const outSeqNo = `F${formatCstCompact(now)}${nonce(12)}`;
  const base = {
    _id: outSeqNo,
    out_seq_no: outSeqNo,
    version: config.version,
    appid: config.appid,
    openid,
    id_masked: maskIdNumber(identity.idNumber),
    ...(byRef ? { identity_ref: input.identity_ref } : {}),
    status: 'PENDING' as const,
    created_at: now,
  };
  // Stored once WeChat has answered: a refused start leaves nothing behind (each start has a fresh out_seq_no).
  const ttl = (expiresInS?: number) => now + Math.min(config.session_ttl_s, expiresInS ?? Infinity) * 1000;
  if (config.version === 'v2') {
    const got = await getVerifyId(remoteDeps(cloud), appOf(config), { outSeqNo, identity, openid });
    const s: FaceSession = { ...base, cert_hash: certHash(identity), verify_id: got.verifyId, expires_at: ttl(got.expiresInS) };
    await insertSession(cloud.store, s);
    return { ...sessionView(s), verifyId: got.verifyId };
  }
  const got = await getUserIdKey(remoteDeps(cloud), appOf(config), { identity, outSeqNo: config.v1_out_seq_no ? outSeqNo : undefined });
  const s: FaceSession = {
    ...base,
    name_md5: nameUtf8Md5(identity.name),
    id_md5: idCardNumberMd5(identity.idNumber),
    user_id_key: got.userIdKey,
    expires_at: ttl(got.expiresInS),
  };
  await insertSession(cloud.store, s);
  return { ...sessionView(s), userIdKey: got.userIdKey };
}

const HOUR_MS = 3600_000;

/**
 * config/face.max_starts_per_hour, counted from the user's stored sessions (a start WeChat refused stored
 * none). Refused before WeChat is asked: each start may spend paid quota. Concurrent starts may pass together.
 */
async function withinStartLimit(cloud: Cloud, config: FaceConfig, openid: string, now: number) {
  const max = config.max_starts_per_hour;
  const recent = await startedSince(cloud.store, openid, now - HOUR_MS, max);
  if (recent.length < max) return;
  // One more may start once the max-th newest has left the hour.
  const retryAt = recent[max - 1].created_at + HOUR_MS;
  const minutes = Math.max(1, Math.ceil((retryAt - now) / 60_000));
  throw new AppError(
    'CONFLICT',
    `too many verifications started: at most ${max} an hour (config/face.max_starts_per_hour); try again after ${new Date(retryAt).toISOString()} (in ${minutes} minute${minutes === 1 ? '' : 's'})`,
    undefined,
    { retryable: true, retry_after: retryAt },
  );
}

const expiredError = () => conflict('this verification has expired: call start again');

/** A session is completed with the mini-program it was started for: WeChat ties its ids and openids to that app. */
function sameApp(config: FaceConfig, s: FaceSession) {
  if (config.appid !== s.appid) throw conflict('config/face.appid changed since this verification started: call start again');
}

/** Records `verdict` once; the answer is the session as recorded, by this caller or by whoever came first. */
async function settle(cloud: Cloud, config: FaceConfig, s: FaceSession, verdict: Verdict, by: 'check' | 'event') {
  const at = cloud.clock.now();
  if (await recordVerdict(cloud.store, s._id, { ...verdict, by, at }, config.valid_for_s * 1000)) {
    cloud.log.info('face verification recorded', { out_seq_no: s._id, version: s.version, passed: verdict.passed, code: verdict.code, by });
  }
  return sessionView((await getSession(cloud.store, s._id))!);
}

/** The errcodes that settle a v2 session (WeChat knows the verification and has said no); others change nothing. */
const V2_SETTLING = new Set([84001, 84002, 84004, 84005, 84006]);

/** v2 check: queryverifyinfo with the four values the session stored; passed only on errcode 0 and verify_ret 10000. */
async function checkV2(cloud: Cloud, caller: Caller, verifyId: string) {
  const openid = requireOpenid(caller);
  const s = await sessionBy(cloud.store, 'verify_id', verifyId);
  if (!s || s.openid !== openid || s.version !== 'v2') throw notFound('no verification of yours has this verify_id: use the verifyId start returned to you');
  if (s.status !== 'PENDING') return sessionView(s);
  if (cloud.clock.now() >= s.expires_at) throw expiredError();
  const config = await loadConfig(cloud);
  sameApp(config, s);
  const a = await queryVerifyInfo(remoteDeps(cloud), appOf(config), { verifyId: s.verify_id!, outSeqNo: s.out_seq_no, certHash: s.cert_hash!, openid: s.openid });
  if (a.errcode === 0) {
    if (a.verifyRet === undefined) throw providerUnavailable('WeChat queryverifyinfo answered errcode 0 without verify_ret; try again');
    return settle(cloud, config, s, verdictOf('v2', a.verifyRet), 'check');
  }
  if (a.errcode === 84003) return { ...sessionView(s), reason: apiErrorOf(84003).reason, retryable: true };
  if (V2_SETTLING.has(a.errcode)) return settle(cloud, config, s, apiErrorOf(a.errcode, a.errmsg), 'check');
  throw refused('queryverifyinfo', a.errcode, a.errmsg);
}

/**
 * Whether getinfo's answer belongs to session `s`: its user_id_key, its user, and the identity it was started
 * for (both MD5s). A mismatch is a result from another user or for another identity: it changes nothing.
 */
function v1Mismatch(s: FaceSession, info: IdentifyInfo): string | undefined {
  if (info.userIdKey !== s.user_id_key) return 'this verify_result belongs to another verification';
  if (info.openid !== s.openid) return 'this verify_result was produced by another WeChat user';
  if (!info.nameMd5 || !info.idMd5 || !constantTimeEqual(info.nameMd5, s.name_md5!) || !constantTimeEqual(info.idMd5, s.id_md5!)) {
    return 'this verify_result is for another identity than the one the verification was started for';
  }
  return undefined;
}

/** getinfo for a v1 verify_result; an errcode ends here (no session can be named from it). */
async function identifyInfo(cloud: Cloud, config: FaceConfig, verifyResult: string): Promise<IdentifyInfo> {
  const info = await getInfo(remoteDeps(cloud), appOf(config), verifyResult);
  if (info.errcode === -1) throw providerUnavailable('WeChat getinfo is busy (-1); try again');
  if (info.errcode !== 0) throw providerRejected(String(info.errcode), `WeChat getinfo refused the verify_result: ${apiErrorOf(info.errcode, info.errmsg).reason}`);
  return info;
}

/** Records getinfo's verdict (identify_ret) for v1 session `s`, once getinfo's answer is known to be about it (v1Mismatch). */
function settleV1(cloud: Cloud, config: FaceConfig, s: FaceSession, info: IdentifyInfo, by: 'check' | 'event') {
  if (info.identifyRet === undefined) throw providerUnavailable('WeChat getinfo answered errcode 0 without identify_ret; try again');
  return settle(cloud, config, s, verdictOf('v1', info.identifyRet), by);
}

/** v1 check: getinfo names the session (its user_id_key); passed only on identify_ret 0 for this user and identity. */
async function checkV1(cloud: Cloud, caller: Caller, verifyResult: string) {
  const openid = requireOpenid(caller);
  // Before getinfo: a caller with nothing to check cannot make us spend WeChat calls on arbitrary strings.
  // A settled session still admits the check, whose answer (the recorded verdict) needs getinfo's match below.
  if (!(await hasUnexpiredV1(cloud.store, openid, cloud.clock.now()))) {
    throw notFound('you have no v1 verification to check (none started, or each has expired): call start and verify with its userIdKey');
  }
  const config = await loadConfig(cloud);
  const info = await identifyInfo(cloud, config, verifyResult);
  const s = info.userIdKey ? await sessionBy(cloud.store, 'user_id_key', info.userIdKey) : null;
  if (!s || s.openid !== openid || s.version !== 'v1') throw notFound('this verify_result is not from a verification you started: call start and verify with its userIdKey');
  const wrong = v1Mismatch(s, info);
  if (wrong) throw forbidden(`${wrong}; nothing was recorded`);
  if (s.status !== 'PENDING') return sessionView(s);
  if (cloud.clock.now() >= s.expires_at) throw expiredError();
  sameApp(config, s);
  return settleV1(cloud, config, s, info, 'check');
}

/** `check`: the verdict of the caller's verification, given v2's verify_id or v1's verify_result. */
export async function check(cloud: Cloud, caller: Caller, input: { verify_id?: string; verify_result?: string }) {
  if ((input.verify_id === undefined) === (input.verify_result === undefined)) {
    throw invalidInput('face-verify.check: pass verify_id (v2: the verifyId start returned) or verify_result (v1: what wx.startFacialRecognitionVerify returned)');
  }
  return input.verify_id !== undefined ? checkV2(cloud, caller, input.verify_id) : checkV1(cloud, caller, input.verify_result!);
}

/** `status`: the latest passed verification that still counts; other cloud functions may ask about any user. */
export async function status(cloud: Cloud, caller: Caller, input: { openid?: string }) {
  if (input.openid !== undefined && !caller.trusted) throw forbidden('only another cloud function may ask about another user: leave openid out');
  const openid = input.openid ?? requireOpenid(caller);
  const s = await latestValid(cloud.store, openid, cloud.clock.now());
  return s ? { verified: true, verification: sessionView(s) } : { verified: false, verification: null };
}

const PURGE_PAGE = 100;
const PURGE_MAX = 1000;

/**
 * `purge` (its hourly timer trigger, or another cloud function): deletes sessions expired more than
 * config/face.keep_expired_s ago that never passed, or passed and stopped counting for status that long ago.
 * At most PURGE_MAX a run, well within the function's timeout; `more` says the next run has some left.
 */
export async function purge(cloud: Cloud, caller: Caller) {
  if (!caller.trusted) throw forbidden('purge is run by its timer trigger or another cloud function only');
  const config = await loadConfig(cloud);
  const cutoff = cloud.clock.now() - config.keep_expired_s * 1000;
  let deleted = 0;
  while (deleted < PURGE_MAX) {
    const page = await purgeable(cloud.store, cutoff, Math.min(PURGE_PAGE, PURGE_MAX - deleted));
    let removed = 0;
    for (const s of page) if (await removeSession(cloud.store, s._id)) removed++;
    deleted += removed;
    // A page that removed nothing (another run took it) would come back the same: stop.
    if (page.length < PURGE_PAGE || removed === 0) break;
  }
  const more = deleted >= PURGE_MAX && (await purgeable(cloud.store, cutoff, 1)).length > 0;
  if (deleted) cloud.log.info('face sessions purged', { deleted, more });
  return { deleted, more };
}

/**
 * WeChat's pushed v1 event as cloud development delivers it to the function: the push's own JSON, with
 * `MsgType` and `Event` as in every message push. The face_identify push itself is undocumented (protocol
 * notes: UNVERIFIED), so each field is read in both spellings WeChat's pushes use: snake_case (`out_seq_no`,
 * `verify_result`, `openid`, as the issue describes it) and PascalCase (`OutSeqNo`, `VerifyResult`, `OpenId`).
 */
export interface FaceIdentifyEvent {
  MsgType: 'event';
  Event: 'face_identify';
  [field: string]: unknown;
}

export function isFaceIdentifyEvent(event: unknown): event is FaceIdentifyEvent {
  const e = event as Record<string, unknown> | null;
  return !!e && typeof e === 'object' && e.action === undefined && e.MsgType === 'event' && e.Event === 'face_identify';
}

/** The event's value of a field under any of its spellings; a non-string value is refused. */
function eventField(event: FaceIdentifyEvent, names: string[]): string | undefined {
  const given = names.filter((n) => event[n] !== undefined);
  if (given.some((n) => typeof event[n] !== 'string' || event[n] === '')) throw invalidInput(`face_identify event: ${given.join(', ')} must be a non-empty string`);
  return given.length ? (event[given[0]] as string) : undefined;
}

const OUT_SEQ_NO = /^[0-9A-Za-z_-]{5,32}$/;

/**
 * The pushed `face_identify` event: the session named by out_seq_no gets the verdict getinfo gives for the
 * event's verify_result, under the same rules as check. The event itself proves nothing (anyone can send
 * these fields): only getinfo's answer, matched against the session, is believed, and until it is, the event
 * learns nothing about the session either (not even a verdict already recorded).
 */
export async function faceIdentified(cloud: Cloud, event: FaceIdentifyEvent) {
  const outSeqNo = eventField(event, ['out_seq_no', 'OutSeqNo']);
  const verifyResult = eventField(event, ['verify_result', 'VerifyResult']);
  // Never echoed: the fields are whatever the sender put there.
  if (!outSeqNo || !OUT_SEQ_NO.test(outSeqNo) || !verifyResult) {
    throw invalidInput('face_identify event: out_seq_no (5-32 of 0-9 A-Z a-z _ -) and verify_result must be strings');
  }
  const s = await getSession(cloud.store, outSeqNo);
  // An expired one is refused like a missing one, before getinfo: nothing could be recorded for it anyway.
  if (!s || s.version !== 'v1' || cloud.clock.now() >= s.expires_at) throw notFound('face_identify event: no unexpired v1 verification has this out_seq_no');
  const users = ['FromUserName', 'openid', 'OpenId'].map((n) => eventField(event, [n])).filter((u) => u !== undefined);
  if (users.some((u) => u !== s.openid)) throw forbidden('face_identify event: the user is not the one who started this verification; nothing was recorded');
  const config = await loadConfig(cloud);
  sameApp(config, s);
  const info = await identifyInfo(cloud, config, verifyResult);
  const wrong = v1Mismatch(s, info);
  if (wrong) {
    cloud.log.warn('face_identify event refused', { out_seq_no: s._id, why: wrong });
    throw forbidden(`face_identify event: ${wrong}; nothing was recorded`);
  }
  if (s.status !== 'PENDING') return sessionView(s);
  return settleV1(cloud, config, s, info, 'event');
}
