import type RequestPromise from 'request-promise';
import type { Logger } from '../core/logger';

/** Client-certificate (mutual TLS) and trust settings for one request. */
export interface TlsOptions {
  cert?: string;
  key?: string;
  /** PKCS#12 bundle, as bytes. */
  pfx?: Buffer;
  passphrase?: string;
  /** Extra CA to trust (a private test endpoint); the system CAs are used otherwise. */
  ca?: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
  tls?: TlsOptions;
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: string;
}

export interface HttpClient {
  /** Resolves with any HTTP status (the provider decides what it means); rejects only when no answer came. */
  request(req: HttpRequest): Promise<HttpResponse>;
}

/** No answer came: the peer timed out or could not be reached. Nothing is known about the outcome. */
export class HttpUnavailableError extends Error {
  constructor(
    readonly reason: 'timeout' | 'network',
    readonly target: string,
  ) {
    super(`${target}: ${reason === 'timeout' ? 'no answer in time' : 'could not connect'}`);
    this.name = 'HttpUnavailableError';
  }
}

/**
 * The request never left: our own client certificate or key could not be loaded (a key that does not match
 * the certificate, a wrong p12 passphrase, a malformed PEM). A config problem, not the provider's.
 */
export class TlsCredentialError extends Error {
  constructor(readonly detail: string) {
    super(`the client certificate could not be used (${detail})`);
    this.name = 'TlsCredentialError';
  }
}

/** OpenSSL's words for a local credential it cannot load (its messages carry no key material). */
const LOCAL_TLS_FAILURE = /PKCS12|PFX|mac verify failure|bad decrypt|PEM routines|key values mismatch/i;

export const DEFAULT_TIMEOUT_MS = 8000;

/**
 * request-promise (with request and its dependencies, most of a bundle) is loaded at the first outbound
 * call, not at cold start: many invocations (bad input, duplicates, reads) never call a provider.
 */
let loaded: typeof RequestPromise | undefined;
const rp = (): typeof RequestPromise => (loaded ??= require('request-promise') as typeof RequestPromise);

/** Host and path only: query strings can carry ids and signatures, so they are never logged. */
function describe(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '[malformed url]';
  }
}

/**
 * The one outbound HTTP client (request-promise): a timeout on every call, redirects never followed
 * (a payment API that redirects is misconfigured or hijacked), bodies never logged.
 */
export function createHttpClient(log: Logger, defaults: { timeoutMs?: number } = {}): HttpClient {
  return {
    async request(req) {
      const target = describe(req.url);
      const started = Date.now();
      try {
        const options = {
          method: req.method,
          uri: req.url,
          headers: req.headers,
          body: req.body,
          timeout: req.timeoutMs ?? defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS,
          followRedirect: false,
          resolveWithFullResponse: true,
          simple: false,
          encoding: 'utf8',
          gzip: true,
          // request hands these to tls.connect (its typings omit pfx)
          cert: req.tls?.cert,
          key: req.tls?.key,
          pfx: req.tls?.pfx,
          passphrase: req.tls?.passphrase,
          ca: req.tls?.ca,
        };
        const res = await rp()(options as unknown as RequestPromise.OptionsWithUri);
        log.info('http', { method: req.method, target, status: res.statusCode, ms: Date.now() - started });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers as Record<string, string | string[] | undefined>)) {
          if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
        }
        return { status: res.statusCode as number, headers, body: typeof res.body === 'string' ? res.body : '' };
      } catch (err) {
        const e = err as { cause?: { code?: string; message?: string }; error?: { code?: string; message?: string } };
        const code = e.cause?.code ?? e.error?.code ?? '';
        const detail = String(e.cause?.message ?? e.error?.message ?? '').slice(0, 200);
        if (req.tls && (code.startsWith('ERR_OSSL') || LOCAL_TLS_FAILURE.test(detail))) {
          log.warn('http client certificate unusable', { method: req.method, target, code, detail });
          throw new TlsCredentialError(code || detail);
        }
        const reason = code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' ? 'timeout' : 'network';
        log.warn('http unavailable', { method: req.method, target, reason, code, detail, ms: Date.now() - started });
        throw new HttpUnavailableError(reason, target);
      }
    },
  };
}
