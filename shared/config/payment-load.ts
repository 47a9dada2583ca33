import { check } from '../core/schema';
import { configInvalid, configMissing } from '../core/errors';
import type { Clock } from '../core/clock';
import type { DocStore } from '../runtime/port';
import { LEGACY_FIELDS, PaymentConfigSchema, type PaymentConfig } from './payment';
import { v3SectionProblems } from './v3-checks';
import { registerConfigCache } from './caches';

export const CONFIG_COLLECTION = 'config';

/**
 * Moves the flat legacy fields (`mchid`, `key`, ... at the top level) into the active provider's section
 * when that section is absent, and drops the database's own fields (`_id`, `_openid`).
 */
export function normalisePaymentDoc(doc: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (!k.startsWith('_')) out[k] = v;
  const sp = out.pay_sp;
  const flat = LEGACY_FIELDS.filter((f) => f in out);
  if (flat.length > 0 && typeof sp === 'string' && out[sp] === undefined) {
    const section: Record<string, unknown> = {};
    for (const f of flat) {
      section[f] = out[f];
      delete out[f];
    }
    out[sp] = section;
  }
  // v3sp accepts the API's own names sp_appid / sp_mchid for appid / mchid.
  const partner = out.v3sp;
  if (partner && typeof partner === 'object' && !Array.isArray(partner)) {
    const section: Record<string, unknown> = { ...(partner as Record<string, unknown>) };
    for (const [alias, name] of [['sp_appid', 'appid'], ['sp_mchid', 'mchid']] as const) {
      if (section[alias] !== undefined && (section[name] === undefined || section[name] === section[alias])) {
        section[name] = section[alias];
        delete section[alias];
      }
    }
    out.v3sp = section;
  }
  return out;
}

/** Validates a `config/payment` document as the functions do; the list of problems names each field. */
export function validatePaymentDoc(
  doc: Record<string, unknown>,
  label = 'config/payment.',
): { ok: true; config: PaymentConfig } | { ok: false; problems: string[] } {
  const r = check(PaymentConfigSchema, normalisePaymentDoc(doc), label);
  if (!r.ok) return r;
  const c = r.value;
  const problems: string[] = [];
  // Flat fields left beside an existing section would be silently ignored: say so instead.
  for (const f of LEGACY_FIELDS) {
    if ((c as Record<string, unknown>)[f] !== undefined) problems.push(`${label}${f} is a legacy flat field and is ignored because the ${c.pay_sp} section exists: move it into ${c.pay_sp} or remove it`);
  }
  if (c[c.pay_sp] === undefined) {
    problems.push(`${label}${c.pay_sp} is missing: pay_sp is "${c.pay_sp}", so that section (or the flat legacy fields) must hold its merchant settings`);
  }
  if (c.amount_source === 'order' && !c.order_collection) {
    problems.push(`${label}order_collection is missing: amount_source "order" reads the amount and payer from that collection`);
  }
  for (const id of ['v2', 'v2sp'] as const) {
    const s = c[id];
    if (s && (s.cert_pem === undefined) !== (s.key_pem === undefined)) {
      problems.push(`${label}${id}.cert_pem and ${id}.key_pem go together (apiclient_cert.pem and apiclient_key.pem)`);
    }
  }
  const v2Keys = [c.v2?.key, c.v2sp?.key].filter((k): k is string => !!k);
  for (const id of ['v3', 'v3sp'] as const) {
    const s = c[id];
    if (s) problems.push(...v3SectionProblems(s, `${label}${id}`, v2Keys));
  }
  if (c.v3sp && ((c.v3sp as Record<string, unknown>).sp_appid !== undefined || (c.v3sp as Record<string, unknown>).sp_mchid !== undefined)) {
    problems.push(`${label}v3sp: sp_appid / sp_mchid differ from appid / mchid; give each once`);
  }
  return problems.length ? { ok: false, problems } : { ok: true, config: c };
}

export interface LoadedPaymentConfig {
  /** The document it came from: `payment_<appid>` or `payment`. */
  id: string;
  config: PaymentConfig;
}

/**
 * Loads the payment config for a calling appid: `config/payment_<appid>` (cloud environment sharing, one
 * document per mini-program) before the shared `config/payment`. Each document is cached per warm
 * instance for `ttlMs` and validated whenever it is read from the database.
 */
export function paymentConfigLoader(ttlMs = 5000, maxEntries = 100) {
  const cache = new Map<string, { at: number; doc: Record<string, unknown> | null }>();

  async function read(store: DocStore, clock: Clock, id: string) {
    const hit = cache.get(id);
    if (hit && clock.now() - hit.at < ttlMs) return hit.doc;
    const doc = await store.get<Record<string, unknown>>(CONFIG_COLLECTION, id);
    // Ids can come from unverified notifications: the cache stays bounded, oldest entry out first.
    cache.delete(id);
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(id, { at: clock.now(), doc });
    return doc;
  }

  /** Loads one document by id (an order's own config); throws CONFIG_MISSING / CONFIG_INVALID. */
  async function byId(store: DocStore, clock: Clock, id: string): Promise<LoadedPaymentConfig> {
    const doc = await read(store, clock, id);
    if (!doc) throw configMissing(`config/${id} does not exist: create it in the cloud database's config collection`);
    const r = validatePaymentDoc(doc, `config/${id}.`);
    if (!r.ok) throw configInvalid(r.problems.join('; '));
    return { id, config: r.config };
  }

  async function forApp(store: DocStore, clock: Clock, appid: string | undefined): Promise<LoadedPaymentConfig> {
    if (appid && /^[A-Za-z0-9_-]{1,64}$/.test(appid) && (await read(store, clock, `payment_${appid}`))) {
      return byId(store, clock, `payment_${appid}`);
    }
    return byId(store, clock, 'payment');
  }

  return { forApp, byId, clear: registerConfigCache(() => cache.clear()) };
}
