/** assertAmount: positive whole minor units up to a limit; every refusal is INVALID_INPUT naming the field. */
import { assertAmount } from '../../shared/core/money';
import { AppError } from '../../shared/core/errors';

const MAX = 5_000_000;

function refusal(amount: unknown, field = 'amount', max = MAX): AppError {
  let caught: unknown;
  try {
    assertAmount(field, amount, max);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(AppError);
  const e = caught as AppError;
  expect(e.code).toBe('INVALID_INPUT');
  expect(e.message.startsWith(`${field} `)).toBe(true);
  return e;
}

describe('assertAmount', () => {
  it('accepts positive integers up to and including the limit, and returns them', () => {
    for (const n of [1, 100, 4_999_999, MAX]) expect(assertAmount('amount', n, MAX)).toBe(n);
  });

  it.each([
    ['a fraction', 1.5],
    ['a fraction just above an integer', 100.000001],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['a numeric string', '100'],
    ['null', null],
    ['undefined', undefined],
    ['a boolean', true],
    ['an unsafe integer', 2 ** 53],
  ])('rejects %s as not a whole number of minor units', (_what, amount) => {
    expect(refusal(amount).message).toContain('must be a whole number of minor units');
  });

  it('quotes the value it got', () => {
    expect(refusal('100').message).toContain('got "100"');
    expect(refusal(1.5).message).toContain('got 1.5');
  });

  it('rejects zero and negative amounts', () => {
    expect(refusal(0).message).toBe('amount must be greater than 0, got 0');
    expect(refusal(-1).message).toBe('amount must be greater than 0, got -1');
  });

  it('rejects an amount above the limit, naming the limit', () => {
    expect(refusal(MAX + 1).message).toBe(`amount ${MAX + 1} is above the limit of ${MAX}`);
    expect(refusal(101, 'refund.amount', 100).message).toBe('refund.amount 101 is above the limit of 100');
  });

  it('names the field it is given', () => {
    expect(refusal(-5, 'order.total_fee').message).toContain('order.total_fee');
    expect(refusal(1.5, 'refund_fee').message).toContain('refund_fee');
  });
});
