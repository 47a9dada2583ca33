import { NotificationRejected, type NotifyEvent, type NotifyHint, type NotifyReply, type NotifyRequest } from '../types';
import type { VrMerchant, VrRefund, VrTransaction, VrWebhook } from './wire';

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/** A space webhook's JSON body, or NotificationRejected. */
export function parseWebhook(req: NotifyRequest): VrWebhook {
  let v: unknown;
  try {
    v = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new NotificationRejected('the body is not JSON');
  }
  const w = v as Partial<VrWebhook> | null;
  if (!w || typeof w !== 'object' || Array.isArray(w)) throw new NotificationRejected('the body is not a JSON object');
  if (w.listenerEntityTechnicalName !== 'Transaction' && w.listenerEntityTechnicalName !== 'Refund') {
    throw new NotificationRejected(`listenerEntityTechnicalName ${JSON.stringify(w.listenerEntityTechnicalName)} is neither Transaction nor Refund`);
  }
  if (!isId(w.entityId) || !isId(w.spaceId)) throw new NotificationRejected('entityId and spaceId must be positive integers');
  if (typeof w.eventId !== 'number' && typeof w.eventId !== 'string') throw new NotificationRejected('eventId is missing');
  return w as VrWebhook;
}

/** Nothing in the body names a config document (only a space id): every config with a vr section may hold it. */
export function peek(req: NotifyRequest): NotifyHint {
  parseWebhook(req);
  return { appids: [], any_config: true };
}

export interface EntityReader {
  transaction(id: string): Promise<VrTransaction | null>;
  refund(id: string): Promise<VrRefund | null>;
}

/**
 * A webhook is unsigned and carries no amount: it is only a hint. It must name this config's space, and
 * the entity it names is read back from that space (so it exists there) to learn our order or refund
 * number; the composition then queries it and applies that answer. An unreachable API throws (the
 * notify function answers 500, VR Payment delivers again).
 */
export async function verify(m: VrMerchant, req: NotifyRequest, read: EntityReader): Promise<NotifyEvent> {
  const w = parseWebhook(req);
  if (w.spaceId !== m.space_id) throw new NotificationRejected(`spaceId ${w.spaceId} is not this config's space`);
  const dedupe_key = `vr:${w.listenerEntityTechnicalName}:${w.entityId}:${w.eventId}`;
  const fields = { ...w };
  if (w.listenerEntityTechnicalName === 'Refund') {
    const refund = await read.refund(String(w.entityId));
    if (!refund) throw new NotificationRejected(`no refund ${w.entityId} in space ${m.space_id}`);
    if (!refund.externalId) throw new NotificationRejected(`refund ${w.entityId} has no externalId: it was not made by this system`);
    return { kind: 'hint', dedupe_key, out_refund_no: refund.externalId, fields };
  }
  const tx = await read.transaction(String(w.entityId));
  if (!tx) throw new NotificationRejected(`no transaction ${w.entityId} in space ${m.space_id}`);
  if (!tx.merchantReference) throw new NotificationRejected(`transaction ${w.entityId} has no merchantReference: it was not made by this system`);
  return { kind: 'hint', dedupe_key, out_trade_no: tx.merchantReference, provider_trade_no: String(tx.id), fields };
}

/** Any 2xx acknowledges a webhook; anything else makes VR Payment deliver it again. */
export function reply(ok: boolean): NotifyReply {
  // Anyone can POST here: the reason stays in the event log, the caller learns nothing of spaces or orders.
  return { statusCode: ok ? 200 : 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: ok ? 'OK' : 'FAIL' };
}
