import type { DocStore } from '../runtime/port';
import { nonce } from '../crypto/nonce';
import { redact } from '../core/logger';

export const EVENTS = 'pay_events';

/** What became of a notification (or a query that found a new state). */
export type EventOutcome =
  | 'applied'
  | 'duplicate'
  | 'rejected'
  | 'ignored'
  | 'failed';

export interface PayEvent {
  _id: string;
  provider: string;
  /** `contract`: a UnionPay termination notice (the contract function's). */
  kind: 'payment' | 'refund' | 'contract' | 'unknown';
  /** Same for every delivery of the same provider event: `<provider>:<kind>:<ids>:<state>`. */
  dedupe_key: string;
  out_trade_no?: string;
  out_refund_no?: string;
  outcome: EventOutcome;
  reason?: string;
  /** The parsed fields, secrets redacted; never the raw body (it can hold encrypted or signed data). */
  fields?: unknown;
  received_at: number;
}

/** Records one notification; every delivery gets its own record, duplicates included. */
export async function recordEvent(store: DocStore, event: Omit<PayEvent, '_id'>): Promise<void> {
  const id = `${event.received_at}-${nonce(10)}`;
  const fields = event.fields === undefined ? undefined : JSON.stringify(redact(event.fields));
  await store.insert(EVENTS, id, { ...event, fields });
}
