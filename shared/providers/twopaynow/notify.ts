import { constantTimeEqual } from '../../crypto/hash';
import { NotificationRejected, type NotifyEvent, type NotifyHint, type NotifyReply, type NotifyRequest } from '../types';
import { namedOrder, signOf } from './transform';
import type { TwoPayNowFields, TwoPayNowMerchant } from './wire';

/** The notification's fields: its query string (2paynow sends one), or a form body when the query carries no sign. */
function fieldsOf(req: NotifyRequest): TwoPayNowFields {
  if (req.query.sign) return req.query;
  if (req.body.length === 0) throw new NotificationRejected('unsigned: no sign in the query string and no body');
  return Object.fromEntries(new URLSearchParams(req.body.toString('utf8')));
}

function signedFields(req: NotifyRequest): TwoPayNowFields {
  const f = fieldsOf(req);
  for (const name of ['function', 'mid', 'timestamp', 'sign'] as const) {
    if (!f[name]) throw new NotificationRejected(`unsigned: ${name} is missing`);
  }
  return f;
}

/** Nothing in clear names the config but the order; every config with a 2paynow section is a candidate. */
export function peek(req: NotifyRequest): NotifyHint {
  return { appids: [], out_trade_no: namedOrder(signedFields(req)) };
}

/**
 * Checks `sign` with this merchant's key. The sign covers neither amount nor state, so the notification
 * is only a hint naming the trade: the composition queries 2paynow and applies that answer. For the same
 * reason a replayed notification can do no harm, and its timestamp is not held to a tolerance.
 */
export function verify(m: TwoPayNowMerchant, req: NotifyRequest): NotifyEvent {
  const f = signedFields(req);
  if (f.mid !== m.mid) throw new NotificationRejected('mid is not this merchant');
  if (!constantTimeEqual(signOf(f.function, f.mid, f.timestamp, m.key), f.sign.toLowerCase())) throw new NotificationRejected('bad sign');
  const outTradeNo = namedOrder(f);
  if (!outTradeNo && !f.trade_no) throw new NotificationRejected('names no trade: trade_no, merchant_trade_no and passback_parameters are empty');
  return {
    kind: 'hint',
    dedupe_key: `2paynow:payment:${f.trade_no || outTradeNo}:${f.trade_status ?? ''}`,
    out_trade_no: outTradeNo,
    provider_trade_no: f.trade_no || undefined,
    fields: f,
  };
}

/**
 * Plain-text `success` stops 2paynow's deliveries. Its retry rule is unpublished, so a failure answers both
 * a non-2xx status and a body other than `success`: either reading asks for another delivery.
 */
export function reply(ok: boolean): NotifyReply {
  const headers = { 'content-type': 'text/plain; charset=utf-8' };
  return ok ? { statusCode: 200, headers, body: 'success' } : { statusCode: 500, headers, body: 'fail' };
}
