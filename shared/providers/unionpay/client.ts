import { providerUnavailable } from '../../core/errors';
import { backendToken, unionpayUrl, type UnionPayCredentials, type UnionPayDeps } from './backend-token';

/** UnionPay's answer envelope: success is `resp == "00"`, the payload is in `params`. */
export interface UnionPayAnswer {
  resp: string;
  msg: string;
  params: Record<string, unknown>;
}

/** `resp` for a backendToken UnionPay does not (or no longer) accept. */
export const BAD_BACKEND_TOKEN = 'a10';

/**
 * POSTs `params` as JSON to the API `path` (e.g. `1.0/contract.apply`) with `appId` and the shared
 * backendToken; on `a10` replaces the token once (guarded, see backendToken) and sends once more. Returns
 * the envelope whatever its `resp`: the caller says what a refusal means for its API. `sign`, for APIs that
 * take the merchant's RSA signature, computes `signature` over the whole body (token included, so a retry
 * is signed afresh).
 */
export async function callUnionPay(
  deps: UnionPayDeps,
  app: UnionPayCredentials,
  path: string,
  params: Record<string, unknown>,
  opts: { sign?: (body: Record<string, unknown>) => string } = {},
): Promise<UnionPayAnswer> {
  const signed = (body: Record<string, unknown>) => (opts.sign ? { ...body, signature: opts.sign(body) } : body);
  let token = await backendToken(deps, app);
  for (let attempt = 0; ; attempt++) {
    const res = await deps.http.request({
      method: 'POST',
      url: unionpayUrl(app, path),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(signed({ ...params, appId: app.app_id, backendToken: token })),
    });
    let answer: Partial<UnionPayAnswer>;
    try {
      answer = JSON.parse(res.body);
    } catch {
      throw providerUnavailable(`UnionPay ${path} answered HTTP ${res.status} without JSON; try again`);
    }
    if (!answer || typeof answer !== 'object' || typeof answer.resp !== 'string') {
      throw providerUnavailable(`UnionPay ${path} answered an unexpected shape (HTTP ${res.status}); try again`);
    }
    const out: UnionPayAnswer = {
      resp: answer.resp,
      msg: typeof answer.msg === 'string' ? answer.msg : '',
      params: answer.params && typeof answer.params === 'object' ? (answer.params as Record<string, unknown>) : {},
    };
    if (out.resp !== BAD_BACKEND_TOKEN || attempt > 0) return out;
    deps.log.warn('unionpay backendToken refused (a10); replacing it once', { app_id: app.app_id, path });
    token = await backendToken(deps, app, { rejected: token });
  }
}
