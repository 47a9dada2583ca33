import { NotificationRejected, type NotifyEvent, type NotifyHint, type NotifyReply, type NotifyRequest } from '../types';
import { paymentReport, refundReport, verifySign } from './transform';
import type { SuPayFields, SuPayMerchant } from './wire';

const PAY_NOTIFY = 'trade_status_sync';
const REFUND_NOTIFY = 'refund_status_sync';

/** The form-urlencoded POST body; a field given twice is refused (the signed value would be ambiguous). */
function parseForm(req: NotifyRequest): SuPayFields {
  if (req.body.length === 0) throw new NotificationRejected('empty body');
  const f: SuPayFields = Object.create(null);
  for (const [k, v] of new URLSearchParams(req.body.toString('utf8'))) {
    if (Object.prototype.hasOwnProperty.call(f, k)) throw new NotificationRejected(`field ${k} appears twice`);
    f[k] = v;
  }
  if (!f.notify_type) throw new NotificationRejected('not a SuPay notification: no notify_type');
  return f;
}

export function peek(req: NotifyRequest): NotifyHint {
  const f = parseForm(req);
  const order = f.notify_type === REFUND_NOTIFY ? f.orig_outer_trade_no : f.outer_trade_no;
  return { appids: [], out_trade_no: order || undefined };
}

/**
 * Verifies a notification with the merchant's key. The sign covers amount and status, so a verified one is
 * the acquirer's report itself (the composition still checks it against the order).
 */
export function verify(m: SuPayMerchant, req: NotifyRequest): NotifyEvent {
  const f = parseForm(req);
  if (!f.sign) throw new NotificationRejected('unsigned: no sign');
  if (!verifySign(f, m.key)) throw new NotificationRejected('bad sign');
  if (f.mch_id && f.mch_id !== m.mch_id) throw new NotificationRejected('mch_id is not this merchant');
  if (!f.outer_trade_no) throw new NotificationRejected('outer_trade_no is missing');
  const fields = { ...f };

  if (f.notify_type === PAY_NOTIFY) {
    const report = paymentReport(f, m, f.outer_trade_no);
    if (report.state === 'PAID' && report.amount === undefined) {
      throw new NotificationRejected(`trade_amount ${JSON.stringify(f.trade_amount)} is not an amount in ${f.currency || m.currencies.join(' or ')}`);
    }
    return { kind: 'payment', dedupe_key: `supay:payment:${f.outer_trade_no}:${f.inner_trade_no ?? ''}:${f.trade_status}`, report, fields };
  }
  if (f.notify_type === REFUND_NOTIFY) {
    const report = refundReport(f, m, f.outer_trade_no);
    if (report.state === 'SUCCESS' && report.amount === undefined) {
      throw new NotificationRejected(`refund_amount ${JSON.stringify(f.refund_amount)} is not an amount in ${f.currency || m.currencies.join(' or ')}`);
    }
    return { kind: 'refund', dedupe_key: `supay:refund:${f.outer_trade_no}:${f.refund_status}`, report, fields };
  }
  throw new NotificationRejected(`notify_type ${JSON.stringify(f.notify_type)} is neither ${PAY_NOTIFY} nor ${REFUND_NOTIFY}`);
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

/** Plain-text `success` stops SuPay's retries; anything else (here HTTP 500 `fail`, no reason given away) asks for another delivery. */
export function reply(ok: boolean): NotifyReply {
  return ok ? { statusCode: 200, headers: TEXT, body: 'success' } : { statusCode: 500, headers: TEXT, body: 'fail' };
}
