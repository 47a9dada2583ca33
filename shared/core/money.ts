import { invalidInput } from './errors';

/** Checks that `amount` is a positive whole number of minor units no larger than `max`; names the field otherwise. */
export function assertAmount(field: string, amount: unknown, max: number): number {
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount)) {
    throw invalidInput(`${field} must be a whole number of minor units (e.g. 100 for 1.00), got ${JSON.stringify(amount)}`);
  }
  if (amount <= 0) throw invalidInput(`${field} must be greater than 0, got ${amount}`);
  if (amount > max) throw invalidInput(`${field} ${amount} is above the limit of ${max}`);
  return amount;
}

/** ISO 4217 minor-unit exponents other than 2 (the currencies acquirers are likely to meet). */
const EXPONENT: Record<string, number> = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, UGX: 0, BHD: 3, KWD: 3, OMR: 3, JOD: 3, TND: 3 };

export const currencyExponent = (currency: string): number => EXPONENT[currency] ?? 2;

/** Minor units as the major-unit decimal string acquirers take, without floats: (10, 'EUR') → "0.10", (5, 'JPY') → "5". */
export function toMajor(amount: number, currency: string): string {
  const exp = currencyExponent(currency);
  const digits = String(Math.abs(amount)).padStart(exp + 1, '0');
  const whole = exp ? digits.slice(0, -exp) : digits;
  return `${amount < 0 ? '-' : ''}${whole}${exp ? `.${digits.slice(-exp)}` : ''}`;
}

/** A major-unit decimal string back to minor units, without floats; undefined when it is not one ("0.1" is 10 for EUR). */
export function fromMajor(text: string | number | undefined, currency: string): number | undefined {
  const s = typeof text === 'number' ? String(text) : text;
  const m = /^(\d+)(?:\.(\d+))?$/.exec((s ?? '').trim());
  if (!m) return undefined;
  const exp = currencyExponent(currency);
  const frac = m[2] ?? '';
  if (frac.length > exp && /[1-9]/.test(frac.slice(exp))) return undefined; // more precision than the currency has
  const minor = Number(m[1]) * 10 ** exp + Number((frac + '0'.repeat(exp)).slice(0, exp) || '0');
  return Number.isSafeInteger(minor) ? minor : undefined;
}
