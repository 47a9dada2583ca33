import { toMajor } from '../core/money';
import { formatCstCompact } from '../core/clock';
import { clipKey } from '../core/schema';
import type { FieldType, Template } from '../config/template';

/**
 * Template values: business values checked against WeChat's limits for each key's type (protocols §3.2) and
 * turned into the strings a template takes. Pure: every problem comes back as a violation that names the
 * business value, the template key and the limit, so the sender knows what to change.
 */

export interface Violation {
  /** The business value's name in `values`. */
  value: string;
  /** The template key it fills (none for a value the template does not have). */
  key?: string;
  type: FieldType;
  problem: string;
}

/** A value name is the caller's (any length for one the template lacks): repeated clipped. */
export const describeViolation = (v: Violation) => `values.${clipKey(v.value)}${v.key ? ` (template key ${v.key}, ${v.type})` : ''} ${v.problem}`;

/** An amount in minor units and its currency; a bare number is in the document's currency. */
export interface AmountValue {
  amount: number;
  currency: string;
}

/** Classic `keywordN` / `first` / `remark` and UnionPay free text: WeChat publishes no limit; we keep to 200. */
export const TEXT_MAX = 200;
/** The one-character symbols an `amount` value may start with. */
const CURRENCY_SYMBOL: Record<string, string> = { CNY: '¥', JPY: '¥', USD: '$', EUR: '€', GBP: '£', KRW: '₩' };

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const HAN = /\p{Script=Han}/u;
const TIME = String.raw`(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?`;
const DATE = String.raw`\d{4}(?:-\d{1,2}-\d{1,2}|/\d{1,2}/\d{1,2}|年\d{1,2}月\d{1,2}日)`;
const TIME_RE = new RegExp(`^(?:${DATE}\\s*)?${TIME}(?:\\s*~\\s*(?:${DATE}\\s*)?${TIME})?$`);
const DATE_RE = new RegExp(`^${DATE}(?:\\s*${TIME})?(?:\\s*~\\s*${DATE}(?:\\s*${TIME})?)?$`);

const length = (s: string) => [...s].length;
const digits = (s: string) => (s.match(/\d/g) ?? []).length;

/** China time (UTC+8): what a user of these templates reads. */
function cst(ms: number) {
  const s = formatCstCompact(ms);
  return { date: `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}`, time: `${s.slice(8, 10)}:${s.slice(10, 12)}` };
}

/** Minor units as an amount key shows them: one currency symbol and the major units ("¥99.00"). */
export function formatAmount(v: AmountValue): string | undefined {
  const symbol = CURRENCY_SYMBOL[v.currency];
  return symbol ? `${symbol}${toMajor(v.amount, v.currency)}` : undefined;
}

type Check = { ok: string } | { problem: string };

/** The string for one value of this type, or what is wrong with it. */
export function formatValue(type: FieldType, raw: unknown, currency: string): Check {
  const text = toText(type, raw, currency);
  if ('problem' in text) return text;
  const s = text.ok;
  if (s.trim() === '') return { problem: 'is empty: WeChat refuses empty values (47003)' };
  if (CONTROL.test(s)) return { problem: 'holds a line break or control character: WeChat refuses them (47003) or cuts the value there' };
  const bad = limit(type, s);
  return bad ? { problem: bad } : { ok: s };
}

function toText(type: FieldType, raw: unknown, currency: string): Check {
  if (type === 'amount') {
    const money = typeof raw === 'number' ? { amount: raw, currency } : raw;
    if (money && typeof money === 'object' && !Array.isArray(money)) {
      const { amount, currency: cur } = money as Partial<AmountValue>;
      if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 0) return { problem: 'must be a whole, non-negative number of minor units (e.g. 9900 for ¥99.00)' };
      if (typeof cur !== 'string' || !/^[A-Z]{3}$/.test(cur)) return { problem: 'needs an ISO 4217 currency, e.g. {"amount": 9900, "currency": "CNY"}' };
      const shown = formatAmount({ amount, currency: cur });
      return shown ? { ok: shown } : { problem: `is in ${cur}, which has no one-character currency symbol: amount keys take ${Object.keys(CURRENCY_SYMBOL).join(', ')}` };
    }
  }
  if ((type === 'time' || type === 'date') && typeof raw === 'number') {
    if (!Number.isSafeInteger(raw) || raw <= 0) return { problem: 'must be a time in milliseconds since the epoch, or text' };
    const t = cst(raw);
    return { ok: type === 'time' ? `${t.date} ${t.time}` : t.date };
  }
  if (typeof raw === 'number' && ['number', 'character_string', 'phone_number', 'text', 'thing'].includes(type)) {
    if (!Number.isFinite(raw) || /e/i.test(String(raw))) return { problem: 'must be a plain decimal number' };
    return { ok: String(raw) };
  }
  if (typeof raw !== 'string') return { problem: `must be text${type === 'amount' ? ', a number of minor units or {"amount", "currency"}' : ''}, got ${raw === null ? 'null' : typeof raw}` };
  return { ok: raw };
}

/** What breaks the key type's limit, if anything (protocols §3.2). */
function limit(type: FieldType, s: string): string | undefined {
  const n = length(s);
  switch (type) {
    case 'thing':
      return n > 20 ? `is ${n} characters: a thing value is at most 20` : undefined;
    case 'phrase':
      return /^\p{Script=Han}{1,5}$/u.test(s) ? undefined : `must be at most 5 Chinese characters and nothing else (got ${n} characters)`;
    case 'character_string':
      if (n > 32) return `is ${n} characters: a character_string is at most 32`;
      return /^[\x21-\x7e]+$/.test(s) ? undefined : 'must be digits, letters and symbols only (no spaces or Chinese)';
    case 'letter':
      return /^[A-Za-z]{1,32}$/.test(s) ? undefined : 'must be at most 32 letters and nothing else';
    case 'symbol':
      return n > 5 ? `is ${n} characters: a symbol value is at most 5` : undefined;
    case 'number':
      if (!/^-?\d+(\.\d+)?$/.test(s)) return 'must be a number (digits, an optional decimal part)';
      return digits(s) > 32 ? `has ${digits(s)} digits: a number is at most 32` : undefined;
    case 'amount': {
      if (!/^[^\d\s.-]?\d+(\.\d+)?元?$/.test(s)) return 'must be one currency symbol and a number, e.g. "¥99.00" or "99.00元"';
      return digits(s) > 10 ? `has ${digits(s)} digits: an amount is at most 10 digits` : undefined;
    }
    case 'time':
      return TIME_RE.test(s) ? undefined : 'must be a 24-hour time such as "15:01" or "2019-10-01 15:01" (a range with ~)';
    case 'date':
      return DATE_RE.test(s) ? undefined : 'must be a date such as "2019-10-01" or "2019年10月1日", optionally with a time';
    case 'phone_number':
      if (n > 17) return `is ${n} characters: a phone_number is at most 17`;
      return /^[0-9+\-() ]+$/.test(s) && /\d/.test(s) ? undefined : 'must be digits and + - ( ) only';
    case 'car_number':
      if (n > 8) return `is ${n} characters: a car_number is at most 8`;
      return /^[\p{Script=Han}A-Z0-9]+$/u.test(s) ? undefined : 'must be a plate number: Chinese characters, capital letters and digits';
    case 'name':
      if (HAN.test(s)) return /^[\p{Script=Han}·]{1,10}$/u.test(s) ? undefined : `is ${n} characters: a Chinese name is at most 10 Chinese characters, without letters or digits`;
      return /^[A-Za-z][A-Za-z .'-]{0,19}$/.test(s) ? undefined : `must be a name: at most 10 Chinese characters or 20 letters (got ${n} characters)`;
    case 'text':
      return n > TEXT_MAX ? `is ${n} characters: at most ${TEXT_MAX} here` : undefined;
  }
}

/** Own names only: "constructor" is a valid value name, and every object inherits one. */
const own = (o: object, name: string) => Object.prototype.hasOwnProperty.call(o, name);

/**
 * The template's data (key → string) from the business values, or every violation: values missing, values
 * the template has no field for, values that break their key's limit.
 */
export function templateData(template: Pick<Template, 'name' | 'fields'>, values: Record<string, unknown>, currency: string): { data: Record<string, string>; violations: Violation[] } {
  const data: Record<string, string> = {};
  const violations: Violation[] = [];
  for (const [value, field] of Object.entries(template.fields)) {
    const raw = own(values, value) ? values[value] : undefined;
    if (raw === undefined) {
      if (!field.optional) violations.push({ value, key: field.key, type: field.type, problem: 'is missing' });
      continue;
    }
    const r = formatValue(field.type, raw, currency);
    if ('problem' in r) violations.push({ value, key: field.key, type: field.type, problem: r.problem });
    else data[field.key] = r.ok;
  }
  for (const value of Object.keys(values)) {
    if (!own(template.fields, value)) {
      violations.push({ value, type: 'text', problem: `is not a value of template ${template.name}; its values: ${Object.keys(template.fields).join(', ')}` });
    }
  }
  return { data, violations };
}
