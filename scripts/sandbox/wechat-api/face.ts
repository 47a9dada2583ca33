/**
 * WeChat face verification (人脸核身) in the wechat-api sandbox, written from
 * protocols/wechat-messaging-and-face.md §2, both versions:
 *
 * - v2: `getverifyid` keeps the session (out_seq_no unique per appid, the openid, the cert_hash of cert_info,
 *   computed here independently of the functions' code) and issues a verify_id; `queryverifyinfo` answers
 *   verify_ret only when verify_id, out_seq_no, cert_hash and openid all match what was given, else an errcode.
 * - v1: `getuseridkey` keeps the identity's MD5s (and an out_seq_no when sent) and issues a user_id_key;
 *   `getinfo` answers for a verify_result with identify_ret, the openid of the user who verified and the MD5s.
 *
 * The user's side (wx.requestFacialVerify / wx.startFacialRecognitionVerify) is played by control routes that
 * choose each outcome: `POST /face/v2/finish`, `POST /face/v1/finish` (which also pushes the `face_identify`
 * event to the function, as cloud development delivers it), `POST /face/expire`.
 * Unverified details (the errcode of a query before the user finished, of a tampered query) are noted inline.
 */
import { createHash, randomBytes } from 'crypto';
import { json, jsonBody, jsonObject, type SandboxRequest, type SandboxResponse } from '../types';
import { wxError } from './tokens';

const SESSION_TTL_S = 3600;
const OUT_SEQ_NO = /^[0-9A-Za-z_-]{5,32}$/;

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const certHashOf = (type: string, name: string, no: string) =>
  createHash('sha256').update(`cert_type=${b64(type)}&cert_name=${b64(name)}&cert_no=${b64(no)}`, 'utf8').digest('hex');
const id = (prefix: string) => `${prefix}${randomBytes(24).toString('base64url')}`;

/** What the user's verification ended with: a verdict code, or an errcode the query answers instead. */
type Outcome = { ret: number } | { errcode: number };

interface V2Session {
  appid: string;
  out_seq_no: string;
  openid: string;
  cert_hash: string;
  expires_at: number;
  outcome?: Outcome;
}

interface V1Session {
  appid: string;
  name_md5: string;
  id_md5: string;
  out_seq_no?: string;
  expires_at: number;
}

interface V1Result {
  user_id_key: string;
  appid: string;
  openid: string;
  identify_ret: number;
  name_md5: string;
  id_md5: string;
  identify_time: number;
}

/** A pushed message event, delivered to the function with the user's WX context. */
export type PushEvent = (event: Record<string, unknown>, ctx: { OPENID: string; APPID: string }) => Promise<unknown>;

export interface FaceSandboxOptions {
  now?: () => number;
  /** Delivers v1's face_identify event (the emulator calls the face-verify function). */
  push?: PushEvent;
}

export function faceSandbox(opts: FaceSandboxOptions = {}) {
  const now = opts.now ?? Date.now;
  const v2 = new Map<string, V2Session>();
  const v2SeqNos = new Set<string>();
  const v1 = new Map<string, V1Session>();
  const v1Results = new Map<string, V1Result>();
  const calls = { getverifyid: 0, queryverifyinfo: 0, getuseridkey: 0, getinfo: 0 };

  const text = (v: unknown) => (typeof v === 'string' ? v : '');

  const api = {
    'POST /cityservice/face/identify/getverifyid': async (req: SandboxRequest, appid: string): Promise<SandboxResponse> => {
      calls.getverifyid++;
      const b = jsonObject(req);
      if (!b) return wxError(47001, 'data format error');
      const cert = (b.cert_info ?? {}) as Record<string, unknown>;
      const [seq, openid, type, name, no] = [text(b.out_seq_no), text(b.openid), text(cert.cert_type), text(cert.cert_name), text(cert.cert_no)];
      if (!OUT_SEQ_NO.test(seq)) return wxError(47003, 'argument invalid! out_seq_no must be 5-32 of [0-9A-Za-z_-]');
      if (!openid) return wxError(47003, 'argument invalid! openid');
      if (type !== 'IDENTITY_CARD') return wxError(47003, 'argument invalid! cert_info.cert_type');
      if (!name || !no) return wxError(84006, 'name or id_card_number empty');
      // unverified: the errcode for a reused out_seq_no
      if (v2SeqNos.has(`${appid}|${seq}`)) return wxError(47003, 'argument invalid! out_seq_no already used');
      v2SeqNos.add(`${appid}|${seq}`);
      const verifyId = id('vid_');
      v2.set(verifyId, { appid, out_seq_no: seq, openid, cert_hash: certHashOf(type, name, no), expires_at: now() + SESSION_TTL_S * 1000 });
      return json(200, { errcode: 0, errmsg: 'ok', verify_id: verifyId, expires_in: SESSION_TTL_S });
    },
    'POST /cityservice/face/identify/queryverifyinfo': async (req: SandboxRequest, appid: string): Promise<SandboxResponse> => {
      calls.queryverifyinfo++;
      const b = jsonObject(req);
      if (!b) return wxError(47001, 'data format error');
      const s = v2.get(text(b.verify_id));
      if (!s || s.appid !== appid) return wxError(84001, 'invalid identify id');
      // Tampered cert_hash, openid or out_seq_no: an errcode instead of verify_ret (which one is unverified).
      if (text(b.out_seq_no) !== s.out_seq_no || text(b.openid) !== s.openid || text(b.cert_hash) !== s.cert_hash) {
        return wxError(84001, 'invalid identify id: out_seq_no, cert_hash or openid differ from getverifyid');
      }
      if (now() >= s.expires_at) return wxError(84002, 'user data expired');
      // unverified: what a query before the user finished answers
      if (!s.outcome) return wxError(84003, 'user data not exist');
      if ('errcode' in s.outcome) return wxError(s.outcome.errcode, 'chosen by the test');
      return json(200, { errcode: 0, errmsg: 'ok', verify_ret: s.outcome.ret });
    },
    'POST /cityservice/face/identify/getuseridkey': async (req: SandboxRequest, appid: string): Promise<SandboxResponse> => {
      calls.getuseridkey++;
      const b = jsonObject(req);
      if (!b) return wxError(47001, 'data format error');
      const [name, no, seq] = [text(b.name), text(b.id_card_number), text(b.out_seq_no)];
      if (!name || !no) return wxError(84006, 'name or id_card_number empty');
      if (seq && !OUT_SEQ_NO.test(seq)) return wxError(47003, 'argument invalid! out_seq_no');
      const key = id('uik_');
      v1.set(key, { appid, name_md5: md5(name), id_md5: md5(no.toUpperCase()), out_seq_no: seq || undefined, expires_at: now() + SESSION_TTL_S * 1000 });
      return json(200, { errcode: 0, errmsg: 'ok', user_id_key: key, expires_in: SESSION_TTL_S });
    },
    'POST /cityservice/face/identify/getinfo': async (req: SandboxRequest, appid: string): Promise<SandboxResponse> => {
      calls.getinfo++;
      // A verify_result not sent as a JSON body is 84001 at WeChat.
      const b = jsonObject(req);
      const r = b ? v1Results.get(text(b.verify_result)) : undefined;
      if (!r || r.appid !== appid) return wxError(84001, 'invalid identify id');
      const s = v1.get(r.user_id_key);
      if (!s || now() >= s.expires_at) return wxError(84002, 'user data expired');
      return json(200, {
        errcode: 0,
        errmsg: 'ok',
        identify_ret: r.identify_ret,
        identify_time: r.identify_time,
        validate_data: '',
        openid: r.openid,
        user_id_key: r.user_id_key,
        finish_time: r.identify_time,
        id_card_number_md5: r.id_md5,
        name_utf8_md5: r.name_md5,
        check_alive_type: 0,
      });
    },
  };

  const missing = (what: string) => json(400, { error: what });

  const control = {
    /** The user finished wx.requestFacialVerify: `verify_ret` (default 10000, passed) or an `errcode` the query answers. */
    'POST /face/v2/finish': async (req: SandboxRequest): Promise<SandboxResponse> => {
      const b = jsonBody(req);
      const s = v2.get(text(b.verify_id));
      if (!s) return missing('verify_id: no such v2 session');
      s.outcome = typeof b.errcode === 'number' ? { errcode: b.errcode } : { ret: typeof b.verify_ret === 'number' ? b.verify_ret : 10000 };
      return json(200, { ok: true });
    },
    /**
     * The user `openid` finished wx.startFacialRecognitionVerify with the user_id_key: `identify_ret` (default
     * 0, passed), optionally `as` another identity ({name, id_card_number}: what WeChat then hashes). Returns
     * the verify_result and, when the session has an out_seq_no and `push` is not false, the function's answer
     * to the face_identify event.
     */
    'POST /face/v1/finish': async (req: SandboxRequest): Promise<SandboxResponse> => {
      const b = jsonBody(req);
      const key = text(b.user_id_key);
      const s = v1.get(key);
      if (!s) return missing('user_id_key: no such v1 session');
      const openid = text(b.openid);
      if (!openid) return missing('openid: the user who verified');
      const as = b.as as { name?: unknown; id_card_number?: unknown } | undefined;
      const verifyResult = id('vr_');
      v1Results.set(verifyResult, {
        user_id_key: key,
        appid: s.appid,
        openid,
        identify_ret: typeof b.identify_ret === 'number' ? b.identify_ret : 0,
        name_md5: as ? md5(text(as.name)) : s.name_md5,
        id_md5: as ? md5(text(as.id_card_number).toUpperCase()) : s.id_md5,
        identify_time: Math.floor(now() / 1000),
      });
      let pushed: unknown;
      if (s.out_seq_no && opts.push && b.push !== false) {
        pushed = await opts.push(
          {
            ToUserName: `gh_${s.appid.slice(2, 14)}`,
            FromUserName: openid,
            CreateTime: Math.floor(now() / 1000),
            MsgType: 'event',
            Event: 'face_identify',
            openid,
            out_seq_no: s.out_seq_no,
            verify_result: verifyResult,
          },
          { OPENID: openid, APPID: s.appid },
        );
      }
      return json(200, { verify_result: verifyResult, ...(pushed !== undefined ? { pushed } : {}) });
    },
    /** The session (`verify_id` or `user_id_key`) expires at WeChat now: queries answer 84002. */
    'POST /face/expire': async (req: SandboxRequest): Promise<SandboxResponse> => {
      const b = jsonBody(req);
      const s = v2.get(text(b.verify_id)) ?? v1.get(text(b.user_id_key));
      if (!s) return missing('verify_id or user_id_key: no such session');
      s.expires_at = now() - 1;
      return json(200, { ok: true });
    },
  };

  return { api, control, calls };
}

export type FaceSandbox = ReturnType<typeof faceSandbox>;
