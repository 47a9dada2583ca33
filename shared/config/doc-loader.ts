import { check, type Static, type TSchema } from '../core/schema';
import { configInvalid, configMissing } from '../core/errors';
import type { Clock } from '../core/clock';
import type { DocStore } from '../runtime/port';
import { CONFIG_COLLECTION } from './payment-load';
import { registerConfigCache } from './caches';

/**
 * A loader for one kind of `config/<id>` document (contract, template, face): read with a short cache per
 * warm instance, validated against its schema (and `extra` checks across fields) on every read from the
 * database, so an operator's bad edit comes back as CONFIG_INVALID naming the field.
 */
export function configDocLoader<S extends TSchema>(
  id: string,
  schema: S,
  opts: { ttlMs?: number; extra?: (config: Static<S>, label: string) => string[] } = {},
) {
  const ttlMs = opts.ttlMs ?? 5000;
  let cached: { at: number; config: Static<S> } | undefined;
  const label = `config/${id}.`;

  /** The validated document from a raw one (the database's own `_` fields dropped). */
  function validate(doc: Record<string, unknown>): { ok: true; config: Static<S> } | { ok: false; problems: string[] } {
    const fields = Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith('_')));
    const r = check(schema, fields, label);
    if (!r.ok) return r;
    const problems = opts.extra?.(r.value, label) ?? [];
    return problems.length ? { ok: false, problems } : { ok: true, config: r.value };
  }

  async function load(store: DocStore, clock: Clock): Promise<Static<S>> {
    if (cached && clock.now() - cached.at < ttlMs) return cached.config;
    const doc = await store.get<Record<string, unknown>>(CONFIG_COLLECTION, id);
    if (!doc) throw configMissing(`config/${id} does not exist: create it in the cloud database's config collection`);
    const r = validate(doc);
    if (!r.ok) throw configInvalid(r.problems.join('; '));
    cached = { at: clock.now(), config: r.config };
    return r.config;
  }

  const clear = registerConfigCache(() => {
    cached = undefined;
  });
  return { id, schema, load, validate, clear };
}
