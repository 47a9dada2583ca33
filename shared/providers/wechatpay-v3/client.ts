import { configInvalid, providerRejected, providerUnavailable } from '../../core/errors';
import { nonce } from '../../crypto/nonce';
import { publicKeyOf } from '../../crypto/rsa';
import { TlsCredentialError, type HttpResponse } from '../../http/client';
import type { ProviderCtx } from '../types';
import { configuredKey, decryptCertificates, platformKey, type PlatformCerts } from './keys';
import type { KeyObject } from 'crypto';
import { authorization, headerProblem, signatureVerifies, signedHeaders } from './sign';
import { V3_DEFAULT_BASE, type V3CertificateList, type V3Error, type V3Merchant } from './wire';

type Ctx = ProviderCtx<V3Merchant>;

const USER_AGENT = 'wx-cloud-pay (WeChat cloud functions)';

/** Sends one signed request (the Authorization header over method, path, time, nonce and the exact body). */
async function send(ctx: Ctx, method: 'GET' | 'POST', pathWithQuery: string, body?: unknown): Promise<HttpResponse> {
  const m = ctx.config;
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = {
    Authorization: authorization(m, method, pathWithQuery, text, String(Math.floor(ctx.clock.now() / 1000)), nonce(32)),
    Accept: 'application/json',
    'User-Agent': USER_AGENT,
  };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  // In public-key mode WeChat signs its answers with the key this header names.
  if (m.public_key_id) headers['Wechatpay-Serial'] = m.public_key_id;
  return ctx.http
    .request({ method, url: `${m.api_base ?? V3_DEFAULT_BASE}${pathWithQuery}`, headers, body: body === undefined ? undefined : text, tls: m.tls_ca ? { ca: m.tls_ca } : undefined })
    .catch((err: unknown) => {
      if (err instanceof TlsCredentialError) throw configInvalid(`${err.message}: check tls_ca`);
      throw err;
    });
}

function parse<T>(text: string): T | undefined {
  try {
    return text ? (JSON.parse(text) as T) : undefined;
  } catch {
    return undefined;
  }
}

/** `/v3/certificates`, decrypted, and its answer verified with the certificates it brings (or the public key). */
export async function downloadCertificates(ctx: Ctx): Promise<PlatformCerts> {
  const res = await send(ctx, 'GET', '/v3/certificates');
  const err = parse<V3Error>(res.body);
  if (res.status === 404 && err?.code === 'RESOURCE_NOT_EXISTS') return { certs: {}, none: true };
  if (res.status !== 200) throw providerUnavailable(`WeChat Pay /v3/certificates answered HTTP ${res.status}`);
  const list = parse<V3CertificateList>(res.body);
  if (!list) throw providerUnavailable('WeChat Pay /v3/certificates answered unreadable JSON');
  let certs: PlatformCerts;
  try {
    certs = decryptCertificates(list, ctx.config.apiv3_key);
  } catch {
    throw configInvalid('the platform certificates do not decrypt with apiv3_key: check the APIv3 key');
  }
  // The list is verified with the certificate it names (or the configured public key): it vouches for itself.
  const problem = await verifySigned(ctx, res.headers, res.body, async (serial) => {
    const pem = certs.certs[serial.toUpperCase()];
    return pem ? publicKeyOf(pem) : configuredKey(ctx.config, serial);
  });
  if (problem) throw providerUnavailable(`WeChat Pay /v3/certificates answer not believed: ${problem}`);
  return certs;
}

/**
 * Why a signed answer or notification is not to be believed, or undefined when it verifies: the headers
 * are checked before any key is looked up; the key comes from the WeChat Pay public key or the platform
 * certificates, by `Wechatpay-Serial`.
 */
export async function verifySigned(
  ctx: Ctx,
  headers: Record<string, string>,
  rawBody: string,
  lookup: (serial: string) => Promise<KeyObject | undefined> = (serial) => platformKey(ctx, serial, () => downloadCertificates(ctx)),
): Promise<string | undefined> {
  const h = signedHeaders(headers);
  const early = headerProblem(h, ctx.clock.now());
  if (early) return early;
  const key = await lookup(h.serial!);
  if (!key) return `no platform key for serial ${h.serial}`;
  return signatureVerifies(h, rawBody, key) ? undefined : 'the signature does not verify';
}

export type V3Answer<T> = { status: number; data?: T; error?: V3Error };

/**
 * One API call. A 2xx answer is believed only with a valid platform signature (a 2xx without one is
 * treated as forged); 5xx means try again; 4xx comes back as `error` for the caller to map.
 */
export async function call<T>(ctx: Ctx, api: string, method: 'GET' | 'POST', pathWithQuery: string, body?: unknown): Promise<V3Answer<T>> {
  const res = await send(ctx, method, pathWithQuery, body);
  if (res.status >= 500) throw providerUnavailable(`WeChat Pay ${api} answered HTTP ${res.status}; try again with the same parameters`);
  if (res.status >= 200 && res.status < 300) {
    const problem = await verifySigned(ctx, res.headers, res.body);
    if (problem) throw providerUnavailable(`WeChat Pay ${api} answer not believed (${problem}); nothing was changed`);
    if (res.status === 204 || !res.body) return { status: res.status };
    const data = parse<T>(res.body);
    if (data === undefined) throw providerUnavailable(`WeChat Pay ${api} answered unreadable JSON; try again`);
    return { status: res.status, data };
  }
  return { status: res.status, error: parse<V3Error>(res.body) ?? { code: `HTTP_${res.status}` } };
}

/** The error of an answer the caller does not handle, as PROVIDER_REJECTED with WeChat's own code. */
export function rejected(api: string, a: V3Answer<unknown>): Error {
  const code = a.error?.code ?? `HTTP_${a.status}`;
  if (code === 'SIGN_ERROR') {
    return providerRejected(code, `WeChat Pay ${api} refused our signature: check serial_no and private_key (${a.error?.message ?? ''})`);
  }
  if (code === 'FREQUENCY_LIMITED' || code === 'SYSTEM_ERROR') return providerUnavailable(`WeChat Pay ${api}: ${code}; try again later`);
  return providerRejected(code, `WeChat Pay ${api}: ${a.error?.message ?? code}`);
}
