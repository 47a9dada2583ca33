/**
 * The access-token service of the WeChat API sandbox, written from protocols/wechat-messaging-and-face.md
 * §3.4: `GET /cgi-bin/token` issues a new token on every call and leaves the previous one valid for a short
 * overlap; `POST /cgi-bin/stable_token` returns the current stable token (a new one only within 5 minutes of
 * its expiry, or on `force_refresh`, at most once per 30 s), isolated from /cgi-bin/token. It counts fetches
 * per appid so tests can prove how many a burst of sends caused.
 */
import { randomBytes } from 'crypto';
import { json, type SandboxRequest, type SandboxResponse } from '../types';

interface Issued {
  appid: string;
  expires_at: number;
}

export interface TokenServiceOptions {
  /** Lifetime of an issued token (WeChat: 7200 s). */
  ttlMs?: number;
  /** How long a /cgi-bin/token token survives the next fetch (WeChat: up to 5 minutes). */
  overlapMs?: number;
  now?: () => number;
}

export const wxError = (errcode: number, errmsg: string): SandboxResponse => json(200, { errcode, errmsg });

export function tokenService(opts: TokenServiceOptions = {}) {
  const ttlMs = opts.ttlMs ?? 7200_000;
  const overlapMs = opts.overlapMs ?? 300_000;
  const now = opts.now ?? Date.now;
  const secrets = new Map<string, string>();
  const issued = new Map<string, Issued>();
  const latestPlain = new Map<string, string>();
  const stable = new Map<string, { token: string; forced_at?: number }>();
  const fetches = new Map<string, number>();

  const issue = (appid: string) => {
    const token = `SB_${appid}_${randomBytes(48).toString('base64url')}`;
    issued.set(token, { appid, expires_at: now() + ttlMs });
    return token;
  };
  const answer = (token: string) => json(200, { access_token: token, expires_in: Math.max(0, Math.round((issued.get(token)!.expires_at - now()) / 1000)) });
  /** Checks the credentials and counts the fetch. */
  const credentialsError = (appid: unknown, secret: unknown): SandboxResponse | undefined => {
    if (typeof appid !== 'string' || !secrets.has(appid)) return wxError(40013, 'invalid appid');
    if (secret !== secrets.get(appid)) return wxError(40125, 'invalid appsecret');
    fetches.set(appid, (fetches.get(appid) ?? 0) + 1);
    return undefined;
  };

  return {
    addApp(appid: string, secret: string) {
      secrets.set(appid, secret);
    },
    /** Token fetches (either endpoint, with valid credentials) for this appid so far. */
    fetchCount: (appid: string) => fetches.get(appid) ?? 0,
    /** Makes every token of this appid expire now: the next API call answers 42001. */
    expireAll(appid: string) {
      for (const t of issued.values()) if (t.appid === appid) t.expires_at = now() - 1;
    },
    /** The appid a token belongs to, or the errcode WeChat answers for it (40001 unknown, 42001 expired). */
    check(token: string | null): { appid: string } | { errcode: number; errmsg: string } {
      const t = token ? issued.get(token) : undefined;
      if (!t) return { errcode: 40001, errmsg: 'invalid credential, access_token is invalid or not latest' };
      if (now() >= t.expires_at) return { errcode: 42001, errmsg: 'access_token expired' };
      return { appid: t.appid };
    },
    routes: {
      'GET /cgi-bin/token': async (req: SandboxRequest) => {
        const q = new URL(req.path, 'http://sandbox').searchParams;
        if (q.get('grant_type') !== 'client_credential') return wxError(40002, 'invalid grant_type');
        const bad = credentialsError(q.get('appid'), q.get('secret'));
        if (bad) return bad;
        const appid = q.get('appid')!;
        const previous = latestPlain.get(appid);
        const p = previous && issued.get(previous);
        if (p) p.expires_at = Math.min(p.expires_at, now() + overlapMs);
        const token = issue(appid);
        latestPlain.set(appid, token);
        return answer(token);
      },
      'POST /cgi-bin/stable_token': async (req: SandboxRequest) => {
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(req.body.toString('utf8'));
        } catch {
          return wxError(47001, 'data format error');
        }
        if (body.grant_type !== 'client_credential') return wxError(40002, 'invalid grant_type');
        const bad = credentialsError(body.appid, body.secret);
        if (bad) return bad;
        const appid = body.appid as string;
        const cur = stable.get(appid);
        const curIssued = cur && issued.get(cur.token);
        if (body.force_refresh === true) {
          if (cur?.forced_at && now() - cur.forced_at < 30_000) return wxError(45011, 'api minute-quota reach limit, force_refresh at most once per 30 seconds');
          if (curIssued) curIssued.expires_at = now() - 1;
          const token = issue(appid);
          stable.set(appid, { token, forced_at: now() });
          return answer(token);
        }
        if (cur && curIssued && curIssued.expires_at - now() > 300_000) return answer(cur.token);
        const token = issue(appid);
        stable.set(appid, { token, forced_at: cur?.forced_at });
        return answer(token);
      },
    },
  };
}

export type TokenService = ReturnType<typeof tokenService>;
