import { AppError, configInvalid, providerRejected, providerUnavailable } from '../core/errors';
import type { Clock } from '../core/clock';
import type { Logger } from '../core/logger';
import type { HttpClient } from '../http/client';
import type { SharedCache } from '../providers/types';
import { leasedToken } from '../providers/leased-token';

/** A mini-program or official account whose server APIs we call with its access token. */
export interface WechatApp {
  appid: string;
  secret: string;
  /** Defaults to https://api.weixin.qq.com; the emulator points it at its wechat-api sandbox. */
  api_base?: string;
}

export interface TokenDeps {
  cache: SharedCache;
  http: HttpClient;
  clock: Clock;
  log: Logger;
}

interface CachedToken {
  token: string;
  expires_at: number;
  /** When `force_refresh` was last used: WeChat allows it 20 times a day, 30 s apart. */
  forced_at?: number;
}

export const DEFAULT_WECHAT_API = 'https://api.weixin.qq.com';
/** stable_token rotates 5 minutes before expiry; we ask again a little before that. */
export const REFRESH_AHEAD_MS = 6 * 60_000;
const FORCE_SPACING_MS = 30_000;

/** The errcodes that mean "this access token is not (or no longer) valid". */
export const TOKEN_INVALID = new Set([40001, 42001, 40014]);

export const tokenCacheKey = (appid: string) => `wechat-access-token:${appid}`;
export const apiBase = (app: WechatApp) => (app.api_base ?? DEFAULT_WECHAT_API).replace(/\/+$/, '');

/**
 * The app's access token, shared by every warm instance of every function through the store (see
 * leasedToken: one refresh under a lease, ahead of expiry), fetched through `stable_token`, which does not
 * invalidate the token other holders use.
 *
 * `rejected`: a token WeChat just answered 40001/42001/40014 for. It is replaced once: if the cache still
 * holds it, the refresher asks again, and forces a new token only when WeChat hands back the same one.
 */
export function accessToken(deps: TokenDeps, app: WechatApp, opts: { rejected?: string } = {}): Promise<string> {
  return leasedToken<CachedToken>(
    deps,
    {
      key: tokenCacheKey(app.appid),
      refreshAheadMs: REFRESH_AHEAD_MS,
      fetch: (cached, rejected) => refresh(deps, app, cached, rejected),
      what: `the access token of ${app.appid}`,
    },
    opts,
  );
}

async function refresh(deps: TokenDeps, app: WechatApp, cached: CachedToken | undefined, rejected?: string): Promise<CachedToken> {
  let got = await stableToken(deps, app, false);
  let forced_at = cached?.forced_at;
  // WeChat handed back the token it just refused (it rotated on its side, or another service kicked it out).
  if (rejected && got.token === rejected && !(forced_at && deps.clock.now() - forced_at < FORCE_SPACING_MS)) {
    forced_at = deps.clock.now();
    got = await stableToken(deps, app, true);
  }
  deps.log.info('access token refreshed', { appid: app.appid, expires_in_s: Math.round((got.expires_at - deps.clock.now()) / 1000) });
  return { ...got, ...(forced_at ? { forced_at } : {}) };
}

async function stableToken(deps: TokenDeps, app: WechatApp, force: boolean): Promise<CachedToken> {
  const res = await deps.http.request({
    method: 'POST',
    url: `${apiBase(app)}/cgi-bin/stable_token`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credential', appid: app.appid, secret: app.secret, force_refresh: force }),
  });
  let answer: { access_token?: unknown; expires_in?: unknown; errcode?: unknown; errmsg?: unknown };
  try {
    answer = JSON.parse(res.body);
  } catch {
    throw providerUnavailable(`WeChat's token service answered HTTP ${res.status} without JSON; try again`);
  }
  if (typeof answer.access_token === 'string' && answer.access_token && typeof answer.expires_in === 'number') {
    return { token: answer.access_token, expires_at: deps.clock.now() + answer.expires_in * 1000 };
  }
  throw tokenError(app, Number(answer.errcode), String(answer.errmsg ?? ''));
}

/**
 * A refusal of the token service that passes by itself: its quota (45009 daily, 45011 per minute) or "system
 * busy" (-1). Reported as PROVIDER_REJECTED with WeChat's errcode like any refusal; a sender may try again later.
 */
export class TokenServiceBusy extends AppError {
  constructor(providerCode: string, message: string) {
    super('PROVIDER_REJECTED', message, providerCode);
  }
}

/** What the operator has to fix, for the token service's refusals. */
function tokenError(app: WechatApp, errcode: number, errmsg: string): AppError {
  switch (errcode) {
    case 40164:
      return providerRejected(
        '40164',
        `WeChat refused the access token of ${app.appid} because the calling IP is not on its IP whitelist (40164): add the cloud environment's fixed egress IP to the whitelist (mini-program: 开发管理 → 开发设置; official account: 基本配置 → IP白名单), or turn the whitelist off`,
      );
    case 40013:
      return configInvalid(`WeChat says the appid ${app.appid} is invalid (40013): check the appid in the config document`);
    case 40125:
    case 40001:
      return configInvalid(`WeChat refused the secret of ${app.appid} (${errcode}): set the app's current AppSecret in the config document`);
    case 45009:
    case 45011:
      return new TokenServiceBusy(String(errcode), `WeChat's token quota for ${app.appid} is used up (${errcode}); try again later`);
    case -1:
      return new TokenServiceBusy('-1', `WeChat refused the access token of ${app.appid}: -1 ${errmsg}`.trim());
    default:
      return providerRejected(String(errcode || 'unknown'), `WeChat refused the access token of ${app.appid}: ${errcode || 'no errcode'} ${errmsg}`.trim());
  }
}

/** A WeChat server API's JSON answer; `errcode` 0 or absent means the call succeeded. */
export type WechatAnswer = Record<string, unknown> & { errcode?: number; errmsg?: string };

/**
 * POSTs `body` as JSON to `path` with the app's access token, and on an invalid-token answer replaces the
 * token once (guarded, see accessToken) and sends once more. The caller maps the answer's errcode.
 */
export async function callWechatApi(deps: TokenDeps, app: WechatApp, path: string, body: unknown): Promise<WechatAnswer> {
  let token = await accessToken(deps, app);
  for (let attempt = 0; ; attempt++) {
    const res = await deps.http.request({
      method: 'POST',
      url: `${apiBase(app)}${path}?access_token=${encodeURIComponent(token)}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    let answer: WechatAnswer;
    try {
      answer = JSON.parse(res.body);
    } catch {
      throw providerUnavailable(`WeChat ${path} answered HTTP ${res.status} without JSON; try again`);
    }
    if (!answer || typeof answer !== 'object') throw providerUnavailable(`WeChat ${path} answered an unexpected shape; try again`);
    const errcode = Number(answer.errcode ?? 0);
    if (!TOKEN_INVALID.has(errcode) || attempt > 0) return answer;
    deps.log.warn('access token refused; replacing it once', { appid: app.appid, errcode, path });
    token = await accessToken(deps, app, { rejected: token });
  }
}
