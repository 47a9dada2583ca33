import { Type, type TSchema, type Static, type SchemaOptions, type TUnsafe } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * Schemas are TypeBox: one definition gives the TypeScript type (Static), the runtime check, and the JSON
 * Schema (the object itself). A schema may carry `errorMessage`, shown instead of TypeBox's generic text.
 */
export { Type, type Static, type TSchema };

/** The most characters of one key of the input that a message repeats. */
const ECHO_MAX = 40;

/**
 * A key of the input as a message repeats it: at most ECHO_MAX characters (whole code points), then `…`, so a
 * huge unexpected key cannot flood the error and the logs.
 */
export function clipKey(key: string): string {
  if (key.length <= ECHO_MAX) return key;
  const head = Array.from(key.slice(0, 2 * ECHO_MAX)).slice(0, ECHO_MAX).join('');
  return head === key ? key : `${head}…`;
}

/** `a.b[0].c` from TypeBox's JSON-pointer path `/a/b/0/c`, each key clipped (clipKey). */
function dotted(path: string): string {
  return path
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map(clipKey)
    .reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

/**
 * The problems of `value` against `schema`, one line each, naming the field: `v2.key must be 32 characters`.
 * `label` prefixes each field (e.g. `config/payment.`). At most `max` lines, the deepest first.
 */
export function describeErrors(schema: TSchema, value: unknown, label = '', max = 5): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of Value.Errors(schema, value)) {
    // A union reports its own failure after its members'; one line per field (by its whole path) is enough.
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    const field = dotted(e.path);
    const custom = (e.schema as { errorMessage?: string }).errorMessage;
    const what =
      e.message === 'Expected required property'
        ? `is missing${custom ? `: it ${custom}` : ''}`
        : custom ?? (e.message === 'Unexpected property' ? 'is not a known field' : e.message.replace(/^Expected/, 'must be'));
    const where = field ? `${label}${field}` : label.replace(/\.$/, '') || 'input';
    out.push(`${where} ${what}`);
    if (out.length >= max) break;
  }
  return out;
}

/** Fills defaults into a copy of `value` and checks it; returns it typed, or the list of problems. */
export function check<T extends TSchema>(
  schema: T,
  value: unknown,
  label = '',
): { ok: true; value: Static<T> } | { ok: false; problems: string[] } {
  const withDefaults = Value.Default(schema, Value.Clone(value));
  if (Value.Check(schema, withDefaults)) return { ok: true, value: withDefaults };
  return { ok: false, problems: describeErrors(schema, withDefaults, label) };
}

/** A string field with a pattern and the message to show when it does not match. */
export const Pattern = (pattern: RegExp, errorMessage: string, opts: SchemaOptions = {}) =>
  Type.String({ pattern: pattern.source, errorMessage, ...opts });

/** One of several string values; the message lists them. */
export const OneOf = <const V extends readonly string[]>(values: V, opts: SchemaOptions = {}) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { errorMessage: `must be one of ${values.map((v) => `"${v}"`).join(', ')}`, ...opts },
  ) as unknown as TUnsafe<V[number]>;
