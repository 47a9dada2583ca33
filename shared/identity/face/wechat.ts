import { providerRejected, providerUnavailable } from '../../core/errors';
import { callWechatApi, type TokenDeps, type WechatAnswer, type WechatApp } from '../../messaging/access-token';
import { apiErrorOf } from './codes';
import { CERT_TYPE } from './hashes';
import type { Identity } from './identity';

/**
 * WeChat's face-verification server APIs (protocols/wechat-messaging-and-face.md §2), each through the shared
 * access-token cache (callWechatApi). The bodies carry the name and ID number to WeChat and nowhere else:
 * the HTTP client never logs bodies, and nothing here logs or stores them.
 */

const PATH = '/cityservice/face/identify';

const errcodeOf = (a: WechatAnswer) => Number(a.errcode ?? 0);

/** A call WeChat refused: -1 is its "system busy"; the 8400x codes have their reasons. */
export function refused(api: string, errcode: number, errmsg: string): Error {
  if (errcode === -1) return providerUnavailable(`WeChat ${api} is busy (-1); try again`);
  return providerRejected(String(errcode), `WeChat ${api} refused: ${apiErrorOf(errcode, errmsg).reason}`);
}

const startRefused = (api: string, a: WechatAnswer) => refused(api, errcodeOf(a), String(a.errmsg ?? ''));

/** v2 step 1: a verify_id for this user and identity, under our out_seq_no. */
export async function getVerifyId(deps: TokenDeps, app: WechatApp, req: { outSeqNo: string; identity: Identity; openid: string }) {
  const a = await callWechatApi(deps, app, `${PATH}/getverifyid`, {
    out_seq_no: req.outSeqNo,
    cert_info: { cert_type: CERT_TYPE, cert_name: req.identity.name, cert_no: req.identity.idNumber },
    openid: req.openid,
  });
  if (errcodeOf(a) !== 0) throw startRefused('getverifyid', a);
  if (typeof a.verify_id !== 'string' || !a.verify_id) throw providerUnavailable('WeChat getverifyid answered without a verify_id; try again');
  return { verifyId: a.verify_id, expiresInS: typeof a.expires_in === 'number' ? a.expires_in : undefined };
}

/** v2 step 3: the result, asked with exactly what step 1 was given (all four must match at WeChat). */
export async function queryVerifyInfo(deps: TokenDeps, app: WechatApp, req: { verifyId: string; outSeqNo: string; certHash: string; openid: string }) {
  const a = await callWechatApi(deps, app, `${PATH}/queryverifyinfo`, {
    verify_id: req.verifyId,
    out_seq_no: req.outSeqNo,
    cert_hash: req.certHash,
    openid: req.openid,
  });
  return { errcode: errcodeOf(a), errmsg: String(a.errmsg ?? ''), verifyRet: typeof a.verify_ret === 'number' ? a.verify_ret : undefined };
}

/** v1: a user_id_key for this identity; `outSeqNo` (an assumption, see config/face.v1_out_seq_no) ties WeChat's pushed event to the session. */
export async function getUserIdKey(deps: TokenDeps, app: WechatApp, req: { identity: Identity; outSeqNo?: string }) {
  const a = await callWechatApi(deps, app, `${PATH}/getuseridkey`, {
    name: req.identity.name,
    id_card_number: req.identity.idNumber,
    ...(req.outSeqNo ? { out_seq_no: req.outSeqNo } : {}),
  });
  if (errcodeOf(a) !== 0) throw startRefused('getuseridkey', a);
  if (typeof a.user_id_key !== 'string' || !a.user_id_key) throw providerUnavailable('WeChat getuseridkey answered without a user_id_key; try again');
  return { userIdKey: a.user_id_key, expiresInS: typeof a.expires_in === 'number' ? a.expires_in : undefined };
}

/** v1 getinfo's answer: errcode 0 only means the call worked; identify_ret is the verdict. */
export interface IdentifyInfo {
  errcode: number;
  errmsg: string;
  identifyRet?: number;
  openid?: string;
  userIdKey?: string;
  nameMd5?: string;
  idMd5?: string;
}

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/** v1: what WeChat recorded for a verify_result (sent as a JSON body: a form body gets 84001). */
export async function getInfo(deps: TokenDeps, app: WechatApp, verifyResult: string): Promise<IdentifyInfo> {
  const a = await callWechatApi(deps, app, `${PATH}/getinfo`, { verify_result: verifyResult });
  return {
    errcode: errcodeOf(a),
    errmsg: String(a.errmsg ?? ''),
    identifyRet: typeof a.identify_ret === 'number' ? a.identify_ret : undefined,
    openid: str(a.openid),
    userIdKey: str(a.user_id_key),
    nameMd5: str(a.name_utf8_md5)?.toLowerCase(),
    idMd5: str(a.id_card_number_md5)?.toLowerCase(),
  };
}
