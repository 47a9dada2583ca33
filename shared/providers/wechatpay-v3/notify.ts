import { aes256GcmDecrypt } from '../../crypto/aes-gcm';
import { NotificationRejected, type NotifyEvent, type NotifyHint, type NotifyReply, type NotifyRequest, type ProviderCtx } from '../types';
import { verifySigned } from './client';
import { paymentReport, refundReport } from './transform';
import type { V3Merchant, V3Notification, V3Refund, V3Transaction } from './wire';

function envelope(req: NotifyRequest): V3Notification {
  if (req.body.length === 0) throw new NotificationRejected('empty body');
  let n: V3Notification;
  try {
    n = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new NotificationRejected('malformed JSON');
  }
  if (!n || typeof n !== 'object' || typeof n.event_type !== 'string' || !n.resource || typeof n.resource.ciphertext !== 'string' || typeof n.resource.nonce !== 'string') {
    throw new NotificationRejected('not a WeChat Pay v3 notification (event_type and resource expected)');
  }
  return n;
}

/** Nothing in a v3 notification names the merchant in clear: any config holding a v3 section may verify it. */
export function peek(req: NotifyRequest): NotifyHint {
  envelope(req);
  return { appids: [], any_config: true };
}

/**
 * Verifies a v3 notification: the platform signature over the exact body bytes (timestamp within 300 s,
 * probe signatures refused, the key chosen by Wechatpay-Serial), then decrypts the resource with the
 * APIv3 key; a resource that does not decrypt under this merchant's key is not this merchant's.
 */
export async function verify(ctx: ProviderCtx<V3Merchant>, req: NotifyRequest): Promise<NotifyEvent> {
  const n = envelope(req);
  const raw = req.body.toString('utf8');
  const problem = await verifySigned(ctx, req.headers, raw);
  if (problem) throw new NotificationRejected(problem);
  if (n.resource.algorithm !== 'AEAD_AES_256_GCM') throw new NotificationRejected(`unsupported algorithm ${n.resource.algorithm}`);

  let plain: string;
  try {
    plain = aes256GcmDecrypt(n.resource.ciphertext, ctx.config.apiv3_key, n.resource.nonce, n.resource.associated_data ?? '');
  } catch {
    throw new NotificationRejected('resource does not decrypt with this merchant’s APIv3 key');
  }
  let resource: unknown;
  try {
    resource = JSON.parse(plain);
  } catch {
    throw new NotificationRejected('decrypted resource is not JSON');
  }
  const fields = { id: n.id, event_type: n.event_type, create_time: n.create_time, resource };

  if (n.event_type === 'TRANSACTION.SUCCESS') {
    const report = paymentReport(resource as V3Transaction);
    if (!report.out_trade_no || report.state !== 'PAID' || report.amount === undefined) {
      throw new NotificationRejected('a TRANSACTION.SUCCESS resource without out_trade_no, SUCCESS state or amount');
    }
    return { kind: 'payment', dedupe_key: `v3:payment:${report.out_trade_no}:${report.transaction_id ?? ''}`, report, fields };
  }
  if (n.event_type.startsWith('REFUND.')) {
    const report = refundReport(resource as V3Refund);
    if (!report.out_refund_no) throw new NotificationRejected('a refund resource without out_refund_no');
    const dedupe_key = `v3:refund:${report.out_refund_no}:${report.provider_state}`;
    // Some partner refund notifications come without `amount`: then the refund is asked for instead.
    if (report.amount === undefined && report.state !== 'CLOSED') return { kind: 'hint', dedupe_key, out_refund_no: report.out_refund_no, fields };
    return { kind: 'refund', dedupe_key, report, fields };
  }
  throw new NotificationRejected(`unhandled event_type ${n.event_type}`);
}

/** 204 stops WeChat's retries; a failure is a 5xx with {"code":"FAIL","message":…}, so it delivers again. */
export function reply(ok: boolean, message = 'FAIL'): NotifyReply {
  if (ok) return { statusCode: 204, headers: {}, body: '' };
  return { statusCode: 500, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify({ code: 'FAIL', message }) };
}
