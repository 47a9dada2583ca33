import type { DocStore } from '../../runtime/port';
import type { Verdict } from './codes';

export const FACE_SESSIONS = 'face_sessions';

/** PENDING until a verdict is recorded (once, by compare-and-set), then PASSED or FAILED for good. */
export type SessionStatus = 'PENDING' | 'PASSED' | 'FAILED';

/**
 * One started verification. It holds no name and no ID number: only the hashes WeChat's answers are
 * compared with (v2 cert_hash, v1 MD5s), the masked ID, and WeChat's reference (verify_id or user_id_key).
 */
export interface FaceSession {
  /** Our out_seq_no: 5-32 of [0-9A-Za-z_-], unique per appid. */
  _id: string;
  out_seq_no: string;
  version: 'v1' | 'v2';
  /** The mini-program whose token started it (config/face.appid then). */
  appid: string;
  /** The user who started it (getWXContext), the only one who may complete it. */
  openid: string;
  id_masked: string;
  /** v2: what queryverifyinfo must be sent. */
  cert_hash?: string;
  verify_id?: string;
  /** v1: what getinfo's answer must carry. */
  name_md5?: string;
  id_md5?: string;
  user_id_key?: string;
  /** The business's identity document the verification was started from, if any. */
  identity_ref?: string;
  status: SessionStatus;
  created_at: number;
  expires_at: number;
  verdict?: Verdict & { by: 'check' | 'event'; at: number };
  /** PASSED only: when, and until when status counts it (config/face.valid_for_s). */
  verified_at?: number;
  valid_until?: number;
}

export const getSession = (store: DocStore, outSeqNo: string) => store.get<FaceSession>(FACE_SESSIONS, outSeqNo);
export const insertSession = (store: DocStore, s: FaceSession) => store.insert(FACE_SESSIONS, s._id, s);

export async function sessionBy(store: DocStore, field: 'verify_id' | 'user_id_key', value: string): Promise<FaceSession | null> {
  return (await store.find<FaceSession>(FACE_SESSIONS, { [field]: value }, { limit: 1 }))[0] ?? null;
}

/** Records the verdict if none is yet: true for exactly one caller (the check or the pushed event). */
export function recordVerdict(store: DocStore, outSeqNo: string, verdict: FaceSession['verdict'] & object, validForMs: number): Promise<boolean> {
  const patch: Record<string, unknown> = { status: verdict.passed ? 'PASSED' : 'FAILED', verdict };
  if (verdict.passed) Object.assign(patch, { verified_at: verdict.at, valid_until: verdict.at + validForMs });
  return store.update(FACE_SESSIONS, outSeqNo, { status: 'PENDING' }, patch);
}

/** The user's most recent passed verification that still counts at `now`. */
export async function latestValid(store: DocStore, openid: string, now: number): Promise<FaceSession | null> {
  return (await store.find<FaceSession>(FACE_SESSIONS, { openid, status: 'PASSED', valid_until: { $gt: now } }, { limit: 1, orderBy: ['verified_at', 'desc'] }))[0] ?? null;
}

/** Whether the user has a v1 verification not yet expired (waiting for its result, or settled): what a v1 check may be about. */
export async function hasUnexpiredV1(store: DocStore, openid: string, now: number): Promise<boolean> {
  return (await store.find<FaceSession>(FACE_SESSIONS, { openid, version: 'v1', expires_at: { $gt: now } }, { limit: 1 })).length > 0;
}

/** The user's sessions created after `since`, newest first, at most `limit`. */
export function startedSince(store: DocStore, openid: string, since: number, limit: number): Promise<FaceSession[]> {
  return store.find<FaceSession>(FACE_SESSIONS, { openid, created_at: { $gt: since } }, { limit, orderBy: ['created_at', 'desc'] });
}

/**
 * Up to `limit` sessions that expired before `cutoff` and either never passed or passed and stopped counting
 * before `cutoff`: nothing `status` or a check can still use.
 */
export async function purgeable(store: DocStore, cutoff: number, limit: number): Promise<FaceSession[]> {
  const unpassed = await store.find<FaceSession>(FACE_SESSIONS, { status: { $ne: 'PASSED' }, expires_at: { $lt: cutoff } }, { limit });
  if (unpassed.length >= limit) return unpassed;
  const passed = await store.find<FaceSession>(FACE_SESSIONS, { status: 'PASSED', expires_at: { $lt: cutoff }, valid_until: { $lt: cutoff } }, { limit: limit - unpassed.length });
  return [...unpassed, ...passed];
}

export const removeSession = (store: DocStore, outSeqNo: string) => store.remove(FACE_SESSIONS, outSeqNo);
