import { invalidInput } from '../../core/errors';

/**
 * The identity a face verification is started for: a name and an 18-character mainland resident ID
 * (GB 11643-1999). Both are checked before WeChat is called, and neither is ever stored or logged: the
 * store keeps hashes and the masked ID only. Error messages name the field and never echo the value.
 */
export interface Identity {
  name: string;
  /** 17 digits and a check character, the trailing x upper-cased (as WeChat hashes it). */
  idNumber: string;
}

/** ISO 7064 MOD 11-2 weights of the first 17 digits, and the check character for each remainder. */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = '10X98765432';
/** The province-level codes an ID's address code starts with (mainland, and the 71/81/82/83 of residence permits). */
const PROVINCES = new Set([11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83]);

const NAME_MIN = 2;
const NAME_MAX = 30;
/** Letters of any script and the separators of transliterated minority and foreign names (阿卜杜·买买提). */
const NAME_CHARS = /^[\p{L}\p{M}·•・.\- ]+$/u;

function idCheckCharacter(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i];
  return CHECK[sum % 11];
}

/** The problem with `value` as an ID number, phrased after `field`, or undefined when it is valid. */
export function idNumberProblem(value: string, field: string, now: number): string | undefined {
  if (!/^\d{17}[\dXx]$/.test(value)) return `${field} must be the 18-character mainland ID number: 17 digits and a check digit (0-9 or X)`;
  if (!PROVINCES.has(Number(value.slice(0, 2)))) return `${field} does not start with a province code: check the first two digits`;
  const [y, m, d] = [value.slice(6, 10), value.slice(10, 12), value.slice(12, 14)].map(Number);
  const birth = Date.UTC(y, m - 1, d);
  const real = new Date(birth);
  if (y < 1800 || real.getUTCFullYear() !== y || real.getUTCMonth() !== m - 1 || real.getUTCDate() !== d || birth > now) {
    return `${field} holds no valid birth date in digits 7 to 14 (yyyyMMdd): check the number`;
  }
  if (idCheckCharacter(value) !== value[17].toUpperCase()) return `${field} has a wrong check digit (the last character): check the number for a typo`;
  return undefined;
}

/** The problem with `value` as a person's name, or undefined when it is plausible. */
export function nameProblem(value: string, field: string): string | undefined {
  const length = [...value].length;
  if (length < NAME_MIN || length > NAME_MAX) return `${field} must be the name on the ID card, ${NAME_MIN} to ${NAME_MAX} characters`;
  if (!NAME_CHARS.test(value)) return `${field} must be the name on the ID card: letters only (and · for transliterated names), no digits or symbols`;
  // Separators alone ("··", ". -") pass the character check but name nobody.
  if ((value.match(/\p{L}/gu) ?? []).length < NAME_MIN) return `${field} must be the name on the ID card: at least ${NAME_MIN} letters`;
  return undefined;
}

/**
 * The identity, normalised (name trimmed, ID's x upper-cased), or INVALID_INPUT naming every field to fix.
 * `fields` names them as the caller knows them (`name`/`id_number`, or the configured collection's fields).
 */
export function parseIdentity(
  name: unknown,
  idNumber: unknown,
  now: number,
  fields: { name: string; idNumber: string } = { name: 'name', idNumber: 'id_number' },
): Identity {
  const n = typeof name === 'string' ? name.trim() : '';
  const id = typeof idNumber === 'string' ? idNumber.trim() : '';
  const problems = [
    typeof name === 'string' ? nameProblem(n, fields.name) : `${fields.name} is missing: it must be the name on the ID card`,
    typeof idNumber === 'string' ? idNumberProblem(id, fields.idNumber, now) : `${fields.idNumber} is missing: it must be the 18-character mainland ID number`,
  ].filter((p): p is string => p !== undefined);
  if (problems.length) throw invalidInput(problems.join('; '));
  return { name: n, idNumber: id.toUpperCase() };
}

/** `3101**********1234`: the first four and last four characters, what the store and results may show. */
export const maskIdNumber = (idNumber: string): string => `${idNumber.slice(0, 4)}${'*'.repeat(idNumber.length - 8)}${idNumber.slice(-4)}`;
