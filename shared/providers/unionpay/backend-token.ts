import { configInvalid, providerRejected, providerUnavailable } from '../../core/errors';
import type { Clock } from '../../core/clock';
import type { Logger } from '../../core/logger';
import type { HttpClient } from '../../http/client';
import { sha256Hex } from '../../crypto/hash';
import { nonce } from '../../crypto/nonce';
import { sortedQuery } from '../../crypto/query';
import { leasedToken } from '../leased-token';
import type { SharedCache } from '../types';

/** The credentials of one UnionPay open-platform application (one parameter set of config/contract). */
export interface UnionPayCredentials {
  app_id: string;
  secret: string;
  /** e.g. https://open.95516.com/open/access; API paths such as 1.0/backendToken are appended. */
  api_base: string;
}

export interface UnionPayDeps {
  cache: SharedCache;
  http: HttpClient;
  clock: Clock;
  log: Logger;
}

/** The backendToken lives 7200 s; a new one is asked for 10 minutes before that. */
export const BACKEND_REFRESH_AHEAD_MS = 10 * 60_000;

export const backendTokenCacheKey = (appId: string) => `unionpay-backend-token:${appId}`;
export const unionpayUrl = (app: UnionPayCredentials, path: string) => `${app.api_base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;

/**
 * The backendToken request's signature: SHA-256 (lower-case hex) over `appId, nonceStr, secret, timestamp`
 * sorted and joined as `k=v&`. The secret takes part in the signature but is never sent.
 */
export function backendTokenSignature(fields: { appId: string; nonceStr: string; secret: string; timestamp: string }): string {
  return sha256Hex(sortedQuery(fields));
}

/**
 * The application's backendToken, shared by every warm instance through the store (one refresh under a
 * lease, ahead of expiry). `rejected`: a token UnionPay just answered `a10` for; it is replaced once.
 */
export function backendToken(deps: UnionPayDeps, app: UnionPayCredentials, opts: { rejected?: string } = {}): Promise<string> {
  return leasedToken(
    deps,
    {
      key: backendTokenCacheKey(app.app_id),
      refreshAheadMs: BACKEND_REFRESH_AHEAD_MS,
      fetch: () => fetchBackendToken(deps, app),
      what: `the UnionPay backendToken of ${app.app_id}`,
    },
    opts,
  );
}

async function fetchBackendToken(deps: UnionPayDeps, app: UnionPayCredentials): Promise<{ token: string; expires_at: number }> {
  const fields = { appId: app.app_id, nonceStr: nonce(16), timestamp: String(Math.floor(deps.clock.now() / 1000)) };
  const signature = backendTokenSignature({ ...fields, secret: app.secret });
  const res = await deps.http.request({
    method: 'POST',
    url: unionpayUrl(app, '1.0/backendToken'),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...fields, signature }),
  });
  let answer: { resp?: unknown; msg?: unknown; params?: { backendToken?: unknown; expiresIn?: unknown } };
  try {
    answer = JSON.parse(res.body);
  } catch {
    throw providerUnavailable(`UnionPay's backendToken service answered HTTP ${res.status} without JSON; try again`);
  }
  const p = answer?.params;
  if (answer?.resp === '00' && p && typeof p.backendToken === 'string' && p.backendToken) {
    const expiresIn = Number(p.expiresIn);
    const lifeS = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 7200;
    deps.log.info('unionpay backendToken refreshed', { app_id: app.app_id, expires_in_s: lifeS });
    return { token: p.backendToken, expires_at: deps.clock.now() + lifeS * 1000 };
  }
  const resp = String(answer?.resp ?? 'unknown');
  const msg = String(answer?.msg ?? '').slice(0, 200);
  if (resp === 'BC0025' || resp === 'BC2126' || resp === 'N62126' || resp === 'BC2133') {
    throw configInvalid(`UnionPay refused the backendToken of ${app.app_id} (${resp} ${msg}): check app_id and secret in config/contract`.trim());
  }
  if (resp === 'BC0024') {
    throw providerRejected(resp, `UnionPay refused the backendToken request as illegal (BC0024): check the server clock`);
  }
  throw providerRejected(resp, `UnionPay refused the backendToken of ${app.app_id}: ${resp} ${msg}`.trim());
}
