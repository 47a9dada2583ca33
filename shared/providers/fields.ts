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
