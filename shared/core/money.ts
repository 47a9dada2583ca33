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
