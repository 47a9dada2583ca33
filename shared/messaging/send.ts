import { AppError, configInvalid, conflict, forbidden, invalidInput, notFound } from '../core/errors';
import type { Caller } from '../core/handler';
import { toAppError } from '../core/handler';
import { errorBody } from '../core/envelope';
import { sha256Hex } from '../crypto/hash';
import type { Cloud } from '../runtime/port';
import { remoteDeps, sharedCache } from '../store/shared-cache';
import { claimSend, finishSend, MSG_SENDS, redact, redactable, type MsgSend } from '../store/msg-sends';
import { loadTemplates, type Template, type TemplateConfig } from '../config/template';
import { activeApp, contractConfig } from '../config/contract';
import { HttpUnavailableError } from '../http/client';
import { describeViolation, templateData } from './fields';
import { checkPage, sendOfficialAccount, sendSubscribe, sendUnionPay, type ChannelAnswer, type Outbound } from './channels';
import type { SendContext } from './outcomes';
import { TokenServiceBusy } from './access-token';
import { backedOff, quotaBackoffKey, recordBackoff } from './quota-backoff';

export interface SendInput {
  template: string;
  /** The recipient's openid on the template's channel; the caller itself when left out. */
  to?: string;
  values: Record<string, unknown>;
  page?: string;
  /** Names the message: a retry with the same key is the same message and is never delivered twice. */
  idempotency_key?: string;
}

export interface SendResult {
  template: string;
  to: string;
  client_msg_id: string;
  status: 'sent';
  /** This message had been sent already (by an earlier call with the same id): it was not sent again. */
  duplicate: boolean;
  msgid?: string;
}

export type Loaded = { config: TemplateConfig; templates: Record<string, Template> };

export const loadTemplateConfig = (cloud: Cloud): Promise<Loaded> => loadTemplates(cloud.store, cloud.clock);

/**
 * Who may send what to whom. Other cloud functions, timers and the payment hooks: any template, to anyone.
 * A mini-program user: only templates marked `clients`, and only to itself unless the template lists the
 * recipient (e.g. an approver).
 */
export function recipientFor(caller: Caller, t: Template, to: string | undefined): string {
  if (caller.trusted) {
    const who = to ?? caller.openid;
    if (!who) throw invalidInput('to is missing: a cloud function names the recipient');
    return who;
  }
  if (!caller.openid) throw forbidden('template-msg: no OPENID in the WX context; call it from the mini-program or another cloud function');
  if (!t.clients) throw forbidden(`template ${t.name} is sent by cloud functions only (config/template.templates.${t.name}.clients is false)`);
  const who = to ?? caller.openid;
  if (who !== caller.openid && !t.recipients.includes(who)) {
    throw forbidden(`template ${t.name}: the mini-program may send it only to its own user${t.recipients.length ? ' or the recipients config/template lists' : ''}`);
  }
  return who;
}

/**
 * The message's id, also sent as WeChat's `client_msg_id`: the same template, recipient and content (or the
 * same idempotency key) always give the same id, so a retried send is recognised and not delivered again.
 * A client's ids are its own (its openid takes part), so one user cannot pre-empt another's message.
 */
export function messageId(parts: { template: string; to: string; content: string; key?: string; client?: string; repeat?: number }): string {
  const what = parts.key !== undefined ? `key:${parts.key}` : `content:${parts.content}`;
  const fields = [parts.template, parts.to, parts.client ? `client:${parts.client}` : 'fn', what];
  if (parts.repeat) fields.push(`repeat:${parts.repeat}`);
  return sha256Hex(fields.join('\n')).slice(0, 32);
}

/** The content a message's id is made from: its data (in key order) and the page it opens. */
export const messageContent = (data: Record<string, string>, page?: string) => JSON.stringify([Object.entries(data).sort(([a], [b]) => (a < b ? -1 : 1)), page ?? null]);

/**
 * The last repeat of a chain whose first repeats exist: the chain is contiguous (repeat n+1 is created only once
 * n was sent), so galloping over which ids exist finds its end in a few reads however long it has grown.
 */
async function lastRepeat(store: Cloud['store'], idAt: (repeat: number) => string): Promise<number> {
  const exists = async (repeat: number) => (await store.get(MSG_SENDS, idAt(repeat))) !== null;
  let known = 0;
  let missing = 1;
  while (await exists(missing)) [known, missing] = [missing, missing * 2];
  while (missing - known > 1) {
    const mid = Math.floor((known + missing) / 2);
    if (await exists(mid)) known = mid;
    else missing = mid;
  }
  return known;
}

/** Sends one message (or recognises it as sent already) and records it; a refusal is thrown as an AppError. */
export async function sendMessage(cloud: Cloud, caller: Caller, loaded: Loaded, input: SendInput): Promise<SendResult> {
  // Own names only: "constructor" is a valid-looking name every object inherits.
  const t = Object.prototype.hasOwnProperty.call(loaded.templates, input.template) ? loaded.templates[input.template] : undefined;
  if (!t) throw notFound(`no template ${input.template} in config/template; templates: ${Object.keys(loaded.templates).sort().join(', ') || 'none yet'}`);
  const to = recipientFor(caller, t, input.to);
  const { data, violations } = templateData(t, input.values, loaded.config.currency);
  if (violations.length) throw invalidInput(`template ${t.name}: ${violations.map(describeViolation).join('; ')}`);
  if (input.page !== undefined && t.channel === 'unionpay') {
    throw invalidInput(`page: a UnionPay template message opens config/template.templates.${t.name}.dest_info; leave page out`);
  }
  const page = input.page ?? t.page;
  // Everything the caller controls is checked before the record is claimed: a bad input leaves no record.
  checkPage(loaded.config, t, page);
  const content = messageContent(data, page);
  const contentHash = sha256Hex(content).slice(0, 32);
  const now = cloud.clock.now();
  const record = {
    template: t.name,
    channel: t.channel,
    template_id: t.template_id,
    to,
    data,
    content_hash: contentHash,
    sent_by: { source: caller.source, ...(caller.trusted ? {} : { openid: caller.openid }) },
  };
  // Keyless content sent longer than repeat_after_s ago is a new message: the next id in its chain of repeats,
  // so a retry of that one is again recognised by its id.
  const repeatAfterMs = loaded.config.repeat_after_s * 1000;
  const idAt = (repeat: number) => messageId({ template: t.name, to, content, key: input.idempotency_key, client: caller.trusted ? undefined : caller.openid, repeat });
  let id: string;
  let claim: Awaited<ReturnType<typeof claimSend>>;
  for (let repeat = 0; ; ) {
    id = idAt(repeat);
    claim = await claimSend(cloud.store, { ...record, client_msg_id: id }, now);
    const e = claim.claimed ? undefined : claim.existing;
    const stale = e && input.idempotency_key === undefined && e.status === 'sent' && now - (e.sent_at ?? e.created_at) >= repeatAfterMs;
    if (!stale) break;
    repeat = repeat === 0 ? Math.max(1, await lastRepeat(cloud.store, idAt)) : repeat + 1;
  }
  const base = { template: t.name, to, client_msg_id: id };
  if (!claim.claimed) {
    const e = claim.existing;
    if (e.content_hash !== contentHash) throw conflict(`idempotency_key was used for another message of template ${t.name} to ${to}: use a new key`);
    if (e.status === 'sent') return { ...base, status: 'sent', duplicate: true, ...(e.msgid ? { msgid: e.msgid } : {}) };
    throw conflict(`this message (${id}) is being sent by another call right now; ask again in a few seconds`);
  }
  const ctx: SendContext = { channel: t.channel, template: t.name, template_id: t.template_id, to, appid: '', now };
  const message: Outbound = { template: t, to, data, client_msg_id: id, ...(page ? { page } : {}) };
  const cache = sharedCache(cloud.store, cloud.clock);
  const backoffKey = quotaBackoffKey(loaded.config, t);
  let answer: ChannelAnswer;
  let held = false;
  try {
    // A quota back-off still in force answers for WeChat, which would only refuse again.
    const backoff = await backedOff(cache, backoffKey, now);
    held = backoff !== undefined;
    answer = backoff ? { ok: false, refusal: backoff } : await dispatch(cloud, loaded.config, message, ctx);
  } catch (err) {
    // No answer at all (the message may have been delivered), or a config / token problem before sending.
    const unknown = err instanceof HttpUnavailableError;
    const error = toAppError(err, 'template-msg', cloud);
    // The token service's quota (45009 / 45011) and "busy" (-1) pass: sending again later can help.
    const retryable = unknown || error.code === 'PROVIDER_UNAVAILABLE' || err instanceof TokenServiceBusy;
    await finishSend(cloud.store, id, claim.attempt, {
      status: 'failed',
      updated_at: cloud.clock.now(),
      error: errorRecord(error),
      retryable,
      retry_after: null,
      outcome: unknown ? 'unknown' : null,
    });
    cloud.log.warn('template message not sent', { template: t.name, channel: t.channel, client_msg_id: id, code: error.providerCode ?? error.code, outcome: unknown ? 'unknown' : 'not sent' });
    throw new MessageRefused(error, retryable);
  }
  if (answer.ok) {
    await finishSend(cloud.store, id, claim.attempt, { status: 'sent', updated_at: cloud.clock.now(), sent_at: cloud.clock.now(), error: null, retryable: false, retry_after: null, outcome: null, ...(answer.msgid ? { msgid: answer.msgid } : {}) });
    cloud.log.info('template message sent', { template: t.name, channel: t.channel, client_msg_id: id, attempt: claim.attempt });
    return { ...base, status: 'sent', duplicate: false, ...(answer.msgid ? { msgid: answer.msgid } : {}) };
  }
  const r = answer.refusal;
  if (!held) await recordBackoff(cache, backoffKey, r);
  await finishSend(cloud.store, id, claim.attempt, {
    status: 'failed',
    updated_at: cloud.clock.now(),
    error: errorRecord(r.error),
    retryable: r.retryable,
    retry_after: r.retry_after ?? null,
    outcome: r.unknown ? 'unknown' : null,
  });
  cloud.log.warn('template message refused', { template: t.name, channel: t.channel, client_msg_id: id, code: r.error.providerCode ?? r.error.code, retryable: r.retryable, ...(held ? { backed_off: true } : {}) });
  throw new MessageRefused(r.error, r.retryable, r.retry_after);
}

/** A refusal with what the sender should do about it: the envelope shows `retryable` and `retry_after`. */
export class MessageRefused extends AppError {
  constructor(e: AppError, retryable: boolean, retryAfter?: number) {
    super(e.code, e.message, e.providerCode, { retryable, ...(retryAfter ? { retry_after: retryAfter } : {}) });
  }
}

const errorRecord = (e: AppError): NonNullable<MsgSend['error']> => ({ code: e.code, ...(e.providerCode ? { provider_code: e.providerCode } : {}), message: e.message });

async function dispatch(cloud: Cloud, config: TemplateConfig, m: Outbound, ctx: SendContext): Promise<ChannelAnswer> {
  const deps = remoteDeps(cloud);
  switch (m.template.channel) {
    case 'official_account':
      return sendOfficialAccount(deps, config, m, { ...ctx, appid: config.official_account!.appid });
    case 'subscribe':
      return sendSubscribe(cloud.openapi, m, { ...ctx, appid: 'the mini-program' });
    case 'unionpay': {
      const up = config.unionpay!;
      const contract = await contractConfig.load(cloud.store, cloud.clock);
      const app = up.parameter_set === 'active' ? activeApp(contract) : contract[up.parameter_set];
      if (!app) throw configInvalid(`config/template.unionpay.parameter_set is "${up.parameter_set}" but config/contract has no ${up.parameter_set} parameter set`);
      return sendUnionPay(deps, app, up.mp_id, m, { ...ctx, appid: app.app_id });
    }
  }
}

export interface BatchItemResult {
  ok: boolean;
  data?: SendResult;
  error?: { code: string; message: string; provider_code?: string; retryable: boolean; retry_after?: number };
}

/** How many messages of a batch are in flight at once. */
const BATCH_CONCURRENCY = 5;

/** Each item sent as `send` would; one item's refusal does not stop the others. Results in item order. */
export async function sendBatch(cloud: Cloud, caller: Caller, items: SendInput[]): Promise<{ results: BatchItemResult[]; sent: number; failed: number }> {
  const loaded = await loadTemplateConfig(cloud);
  const results: BatchItemResult[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { ok: true, data: await sendMessage(cloud, caller, loaded, items[i]) };
      } catch (err) {
        const e = toAppError(err, 'template-msg', cloud);
        results[i] = { ok: false, error: { retryable: e.code === 'PROVIDER_UNAVAILABLE', ...errorBody(e) } };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, items.length) }, worker));
  const sent = results.filter((r) => r.ok).length;
  return { results, sent, failed: results.length - sent };
}

const PURGE_PAGE = 100;
const PURGE_MAX = 2000;

/**
 * `purge` (its daily timer trigger, or another cloud function): clears the values of messages finished more
 * than config/template.keep_data_s ago. At most PURGE_MAX a run; `more` says the next run has some left.
 */
export async function purgeMessageData(cloud: Cloud, caller: Caller): Promise<{ redacted: number; more: boolean }> {
  if (!caller.trusted) throw forbidden('purge is run by its timer trigger or another cloud function only');
  const { config } = await loadTemplateConfig(cloud);
  const now = cloud.clock.now();
  const cutoff = now - config.keep_data_s * 1000;
  let redacted = 0;
  while (redacted < PURGE_MAX) {
    const page = await redactable(cloud.store, cutoff, Math.min(PURGE_PAGE, PURGE_MAX - redacted));
    let cleared = 0;
    for (const rec of page) if (await redact(cloud.store, rec, now)) cleared++;
    redacted += cleared;
    // A page that cleared nothing (another run, or a retry, took it) would come back the same: stop.
    if (page.length < PURGE_PAGE || cleared === 0) break;
  }
  const more = redacted >= PURGE_MAX && (await redactable(cloud.store, cutoff, 1)).length > 0;
  if (redacted) cloud.log.info('template message values cleared', { redacted, more });
  return { redacted, more };
}
