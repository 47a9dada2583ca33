import { providerUnavailable, type AppError } from '../core/errors';
import type { Logger } from '../core/logger';
import type { RequestPaymentFields } from './types';

/** A string or finite number field as text; anything else (absent, empty, an object) as undefined. */
export function text(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** An object, or the JSON text of one; undefined for anything else. */
export function jsonObject(v: unknown): Record<string, unknown> | undefined {
  let o = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
}

/**
 * The `wx.requestPayment` fields an acquirer answered (an object or its JSON text), passed on unchanged:
 * its paySign covers these exact values. Undefined when any of the five is missing.
 */
export function requestPaymentFields(src: unknown): RequestPaymentFields | undefined {
  const o = jsonObject(src);
  if (!o) return undefined;
  const [timeStamp, nonceStr, pkg, signType, paySign] = ['timeStamp', 'nonceStr', 'package', 'signType', 'paySign'].map((k) => text(o[k]));
  if (!timeStamp || !nonceStr || !pkg || !signType || !paySign) return undefined;
  const appId = text(o.appId);
  return { ...(appId ? { appId } : {}), timeStamp, nonceStr, package: pkg, signType, paySign };
}

/**
 * Refuses a query answer that is about another id than the one asked (`asked` and `answered` by name,
 * e.g. `{trade_id: 'T1'}`): an answer that names nothing is taken as about what was asked, one that names
 * another id proves nothing about this order. The refusal is logged, since the caller only sees an error.
 */
export function answeredAboutAnother(
  log: Logger,
  what: string,
  asked: Record<string, string | undefined>,
  answered: Record<string, string | undefined>,
): AppError | undefined {
  const other = Object.keys(asked).find((k) => asked[k] !== undefined && answered[k] !== undefined && answered[k] !== asked[k]);
  if (!other) return undefined;
  log.error('a provider answered a query about another id; nothing was applied', { what, field: other, asked: asked[other], answered: answered[other] });
  return providerUnavailable(`${what} asked about ${other} ${asked[other]} but answered about ${answered[other]}; nothing was changed`);
}
