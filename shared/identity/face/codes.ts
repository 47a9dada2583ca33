/**
 * What WeChat's face-verification codes mean (protocols/wechat-messaging-and-face.md §2): the verdict codes
 * (`identify_ret` of v1 getinfo, `verify_ret` of v2 queryverifyinfo, which share the 100xx and 901xx ranges)
 * and the API errcodes 8400x. Each maps to a reason a person can read and whether trying again can help:
 * retryable (cancelled, timeout, too frequent, bad light, a WeChat hiccup: start a new verification) or
 * final (ID mismatch, face mismatch, no permission: another attempt gives the same answer).
 */

export type CodeSource = 'identify_ret' | 'verify_ret' | 'errcode';

export interface Verdict {
  passed: boolean;
  source: CodeSource;
  code: number;
  reason: string;
  retryable: boolean;
}

type Entry = [reason: string, retryable: boolean];

/** The 100xx codes both versions share (v1 identify_ret, v2 verify_ret). */
const SHARED: Record<number, Entry> = {
  10001: ['the verification was started with invalid parameters', false],
  10002: ['no face could be detected clearly; try again facing the camera in even light', true],
  10003: ['the ID number does not match the name (ID card mismatch)', false],
  10004: ["the face does not match the ID card holder's photo", false],
  10005: ['the light was too bright or a verification was still in progress; try again', true],
  10006: ['this mini-program has no permission for face verification (apply for it in the WeChat console)', false],
  10007: ['the face image could not be fetched; try again', true],
  10008: ["WeChat's face comparison failed; try again", true],
  10009: ['no reference photo exists for this ID number', false],
  10010: ['the photo quality was too low; try again in better light', true],
  10011: ['this ID number is not enabled for face verification', false],
  10015: ["WeChat's face comparison service is unavailable; try again later", true],
  10016: ['WeChat could not store the verification; try again', true],
  10017: ['the verification id is not valid', false],
  10018: ['WeChat has no user information for this verification', false],
  10020: ['the verification timed out; try again', true],
  10021: ['a duplicate request: WeChat returned the earlier result; try again', true],
  10022: ['a duplicate request: WeChat returned the earlier result; try again', true],
  10026: ['the ID number is not in the national database', false],
  10027: ['the spoken digits could not be recognised; try again', true],
  10028: ['the lip movement could not be recognised; try again', true],
  10031: ['the mini-program has no name set, which face verification requires', false],
  10040: ['the name or ID number was not UTF-8', false],
  10041: ['the user_id_key is not valid', false],
  10042: ['too many attempts in a short time; wait a while and try again', true],
  10045: ["WeChat's verification system failed; try again", true],
  10052: ["the mini-program's face verification quota is used up", false],
  10057: ["the mini-program's face verification quota is used up", false],
  10066: ['a duplicate biometric id', false],
  10069: ['the liveness check is unavailable; try again later', true],
};

/** v1 identify_ret: the jsapi's 901xx client-side codes. */
const V1_CLIENT: Record<number, Entry> = {
  90100: ['the user cancelled the verification', true],
  90101: ['the user did not authorise the verification', true],
  90104: ['the verification page is misconfigured', false],
  90106: ['the camera could not be used; allow camera access and try again', true],
  90107: ['the verification timed out; try again', true],
  90109: ["this device does not support face verification", false],
  90199: ['an unknown error on the device; try again', true],
};

/** v2 verify_ret: its 900xx and 901xx client-side codes. */
const V2_CLIENT: Record<number, Entry> = {
  90001: ['this device does not support face verification', false],
  90002: ['the user cancelled the verification', true],
  90003: ['the user cancelled the verification', true],
  90004: ['the user cancelled the verification', true],
  90005: ['the user cancelled the verification', true],
  90006: ['the user cancelled the verification', true],
  90007: ['the network failed during the verification; try again', true],
  90008: ['camera or microphone permission was refused; allow it and try again', true],
  90009: ['camera or microphone permission was refused; allow it and try again', true],
  90010: ['camera or microphone permission was refused; allow it and try again', true],
  90011: ['the capture was not usable; try again', true],
  90012: ['the upload failed; try again on a better network', true],
  90013: ['the capture was not usable; try again', true],
  90014: ['the capture was not usable; try again', true],
  90017: ['the verification timed out; try again', true],
  90018: ['a system error on the device; try again', true],
  // 90104/90105/90110 are failures to fetch (获取…失败, the official queryverifyinfo enum); it has no 90108.
  90104: ['the face-verification settings could not be loaded; try again', true],
  90105: ['the confirmation data could not be loaded; try again', true],
  90106: ['the camera could not be used; allow camera access and try again', true],
  90107: ['the verification timed out; try again', true],
  90109: ['this device does not support face verification', false],
  90110: ['the verification agreement could not be loaded; try again', true],
  90199: ['a system error on the device; try again', true],
};

/** The API errcodes of getinfo / queryverifyinfo (and getuseridkey / getverifyid). */
const API: Record<number, Entry> = {
  84001: ['WeChat does not know this verification (invalid, expired, or made for another mini-program)', false],
  84002: ['the verification expired at WeChat; start a new one', true],
  84003: ['WeChat has no result for this verification (not finished yet, or unknown)', true],
  84004: ['the verification video could not be uploaded; try again', true],
  84005: ['the verification video could not be downloaded; try again', true],
  84006: ['the name or ID number was empty', false],
};

/** The success code of each version's verdict field. */
const PASS_CODE: Record<'v1' | 'v2', number> = { v1: 0, v2: 10000 };

/** The verdict for a version's verdict code (`identify_ret` for v1, `verify_ret` for v2). */
export function verdictOf(version: 'v1' | 'v2', code: number): Verdict {
  const source: CodeSource = version === 'v1' ? 'identify_ret' : 'verify_ret';
  if (code === PASS_CODE[version]) return { passed: true, source, code, reason: 'the face matched the ID card holder', retryable: false };
  const entry = SHARED[code] ?? (version === 'v1' ? V1_CLIENT : V2_CLIENT)[code];
  // A code missing from the published tables is a failure; trying again is the only thing the user can do.
  const [reason, retryable] = entry ?? [`WeChat reported ${source} ${code}, a code not in its published tables`, true];
  return { passed: false, source, code, reason, retryable };
}

/** The meaning of an API errcode (8400x), as a failed verdict. */
export function apiErrorOf(errcode: number, errmsg = ''): Verdict {
  const entry = API[errcode];
  const [reason, retryable] = entry ?? [`WeChat answered errcode ${errcode}${errmsg ? ` (${errmsg})` : ''}`, true];
  return { passed: false, source: 'errcode', code: errcode, reason, retryable };
}

/** Every code with a documented meaning, for the unit tests and the README table. */
export const KNOWN_CODES = {
  shared: Object.keys(SHARED).map(Number),
  v1Client: Object.keys(V1_CLIENT).map(Number),
  v2Client: Object.keys(V2_CLIENT).map(Number),
  api: Object.keys(API).map(Number),
};
