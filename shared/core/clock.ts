export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests move by hand. */
export function manualClock(start: number): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
    set: (ms) => {
      t = ms;
    },
  };
}

/** China Standard Time is UTC+8 all year (no daylight saving). */
const CST_OFFSET_MS = 8 * 3600_000;
const DAY_MS = 86_400_000;

/** `yyyyMMddHHmmss` in China Standard Time (UTC+8), the format WeChat Pay v2 uses for time_start/time_expire/time_end. */
export function formatCstCompact(ms: number): string {
  const d = new Date(ms + CST_OFFSET_MS);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Parses `yyyyMMddHHmmss` in China Standard Time; undefined when malformed. */
export function parseCstCompact(s: string | undefined): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s ?? '');
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, se) - CST_OFFSET_MS;
  // Date.UTC rolls month 13 or hour 25 over; a real time formats back to the same digits.
  return formatCstCompact(ms) === s ? ms : undefined;
}

/** The next midnight in China time after `ms`: WeChat's daily quotas reset then. */
export const nextCstMidnight = (ms: number): number => Math.floor((ms + CST_OFFSET_MS) / DAY_MS) * DAY_MS + DAY_MS - CST_OFFSET_MS;
