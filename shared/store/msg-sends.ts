import type { DocStore } from '../runtime/port';

/** One document per message (its `client_msg_id`), whatever the number of attempts. */
export const MSG_SENDS = 'msg_sends';

/**
 * `sending`: an attempt holds the send (until `lease_until`); `sent`: delivered, never sent again;
 * `failed`: refused or unanswered; `retryable` says whether sending again can help.
 */
export type SendStatus = 'sending' | 'sent' | 'failed';

export interface MsgSend {
  _id: string;
  client_msg_id: string;
  template: string;
  channel: string;
  template_id: string;
  to: string;
  /** What was sent: template key → value. */
  data: Record<string, string>;
  /** Identifies the content (and page): a caller's idempotency key may not be reused for other content. */
  content_hash: string;
  /** SOURCE of the first caller, and the client's openid when a mini-program sent it. */
  sent_by: { source: string; openid?: string };
  status: SendStatus;
  attempts: number;
  lease_until: number;
  created_at: number;
  updated_at: number;
  sent_at?: number;
  msgid?: string;
  error?: { code: string; provider_code?: string; message: string } | null;
  retryable?: boolean;
  /** When a retry may help (45009: the next China-time day). */
  retry_after?: number | null;
  /** `unknown`: no answer came, the message may have been delivered. */
  outcome?: 'unknown' | null;
  /** Whether `data` holds the values sent: until `purge` clears them (config/template.keep_data_s after the last attempt), at `redacted_at`. */
  data_held: boolean;
  redacted_at?: number;
}

export type NewSend = Omit<MsgSend, '_id' | 'data_held' | 'status' | 'attempts' | 'lease_until' | 'created_at' | 'updated_at'>;

/** How long one attempt holds a send; longer than the HTTP timeout and one token refresh. */
export const SEND_LEASE_MS = 30_000;

/**
 * Whether nothing of this record's attempts can have reached the user: it failed with a definite answer (a
 * refusal, or a problem before sending), not `outcome: "unknown"`.
 */
export const neverDelivered = (r: MsgSend) => r.status === 'failed' && r.outcome !== 'unknown';

/**
 * Claims the right to send this message: creates its record, or takes over a record that is not `sent` and
 * whose lease has run out, by compare-and-set on `attempts`. Under a reused id (an idempotency key) the
 * content may differ only from a record that was never delivered (neverDelivered): nothing reached the user,
 * so the new content replaces it. When another caller holds it, it was sent already, or it holds other
 * content that may have been delivered, returns that record instead.
 */
export async function claimSend(store: DocStore, rec: NewSend, now: number): Promise<{ claimed: true; attempt: number } | { claimed: false; existing: MsgSend }> {
  const fresh = { ...rec, data_held: true, status: 'sending' as const, attempts: 1, lease_until: now + SEND_LEASE_MS, created_at: now, updated_at: now };
  if ((await store.insert(MSG_SENDS, rec.client_msg_id, fresh)) === 'created') return { claimed: true, attempt: 1 };
  const existing = await store.get<MsgSend>(MSG_SENDS, rec.client_msg_id);
  if (!existing) return claimSend(store, rec, now); // removed meanwhile by an operator
  const otherContent = existing.content_hash !== rec.content_hash;
  // Sent already, in flight, or another message that may have reached the user: never sent under this id.
  if ((otherContent && !neverDelivered(existing)) || existing.status === 'sent' || (existing.status === 'sending' && existing.lease_until > now)) {
    return { claimed: false, existing };
  }
  const attempt = existing.attempts + 1;
  // Taking over other content: only while the record is still the failed one just read (a late delivery of a
  // stale attempt marks it sent without a new attempt).
  const guard = otherContent ? { status: 'failed' } : { status: { $ne: 'sent' } };
  const content = otherContent ? { content_hash: rec.content_hash, channel: rec.channel, template_id: rec.template_id } : {};
  const took = await store.update(
    MSG_SENDS,
    rec.client_msg_id,
    { attempts: existing.attempts, ...guard },
    { status: 'sending', attempts: attempt, lease_until: now + SEND_LEASE_MS, updated_at: now, data: rec.data, data_held: true, ...content },
  );
  if (took) return { claimed: true, attempt };
  return { claimed: false, existing: (await store.get<MsgSend>(MSG_SENDS, rec.client_msg_id)) ?? existing };
}

/**
 * Records an attempt's outcome, if this attempt still holds the send. A delivery is recorded even when a later
 * attempt took the send over meanwhile (this one outlived its lease): the message went out, and the later
 * attempt's outcome (a refusal, say 43101 because this one used the credit) must not hide that.
 */
export async function finishSend(
  store: DocStore,
  id: string,
  attempt: number,
  outcome: Pick<MsgSend, 'status' | 'updated_at'> & Partial<Pick<MsgSend, 'sent_at' | 'msgid' | 'error' | 'retryable' | 'retry_after' | 'outcome'>>,
): Promise<boolean> {
  const patch = { ...outcome, lease_until: 0 };
  if (await store.update(MSG_SENDS, id, { attempts: attempt, status: 'sending' }, patch)) return true;
  return outcome.status === 'sent' && store.update(MSG_SENDS, id, { status: { $ne: 'sent' } }, patch);
}

/** Up to `limit` finished records (sent, or failed) last changed before `cutoff` whose data is still held. */
export const redactable = (store: DocStore, cutoff: number, limit: number): Promise<MsgSend[]> =>
  store.find<MsgSend>(MSG_SENDS, { status: { $in: ['sent', 'failed'] }, updated_at: { $lt: cutoff }, data_held: true }, { limit });

/**
 * Clears a record's `data` (the personal values it carried), if nobody touched it meanwhile. The record stays:
 * its id and content hash still recognise a late retry, so nothing is sent twice.
 */
export const redact = (store: DocStore, rec: MsgSend, now: number): Promise<boolean> =>
  store.update(MSG_SENDS, rec._id, { status: rec.status, attempts: rec.attempts, updated_at: rec.updated_at }, { data: {}, data_held: false, redacted_at: now });
