/**
 * Field names whose values are secrets: replaced before anything is written. Names are compared without
 * case, `_` or `-`, by how they end (`key`, `apiv3_key`, `privateKey`, `cert_pem`, `p12_base64`, `paySign`...).
 */
const SECRET_ENDINGS = /(key|secret|password|passphrase|pem|p12|p12base64|pfx|sign|signature|token|reqinfo|authorization|cookie)$/;
/** Names that end like a secret but hold none. */
const NOT_SECRET = new Set(['dedupekey', 'signtype']);
const isSecretField = (name: string) => {
  const n = name.toLowerCase().replace(/[_-]/g, '');
  return SECRET_ENDINGS.test(n) && !NOT_SECRET.has(n);
};

export const REDACTED = '[redacted]';

/** A deep copy of `value` with every secret-named field replaced; depth-limited so cycles cannot hang it. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 8) return '[depth]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = isSecretField(k) ? REDACTED : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export type LogLine = { level: 'info' | 'warn' | 'error'; msg: string } & Record<string, unknown>;

/** One JSON line per entry, secrets redacted. `write` defaults to the console (what cloud logs collect). */
export function jsonLogger(write: (line: string) => void = (l) => console.log(l)): Logger {
  const emit = (level: LogLine['level'], msg: string, fields?: Record<string, unknown>) =>
    // level and msg last: a field cannot disguise the entry
    write(JSON.stringify({ ...(fields ? (redact(fields) as object) : {}), level, msg }));
  return {
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** Keeps lines in memory: the emulator's quiet mode and tests that assert what was logged. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return Object.assign(jsonLogger((l) => lines.push(l)), { lines });
}
