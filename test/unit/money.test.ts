/** assertAmount: positive whole minor units up to a limit; every refusal is INVALID_INPUT naming the field. */
import { assertAmount, fromMajor, toMajor } from '../../shared/core/money';
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

describe('major-unit strings for acquirers, without floats', () => {
  it.each([
    [10, 'EUR', '0.10'],
    [1, 'EUR', '0.01'],
    [123456, 'AUD', '1234.56'],
    [0, 'EUR', '0.00'],
    [5, 'JPY', '5'],
    [1234, 'KWD', '1.234'],
  ])('toMajor(%p, %s) = %s and back', (minor, currency, major) => {
    expect(toMajor(minor, currency)).toBe(major);
    expect(fromMajor(major, currency)).toBe(minor);
  });

  it('fromMajor takes short and padded decimals and numbers, refuses what is not an amount', () => {
    expect(fromMajor('0.1', 'EUR')).toBe(10);
    expect(fromMajor('12', 'EUR')).toBe(1200);
    expect(fromMajor('1.500', 'EUR')).toBe(150);
    expect(fromMajor(0.1, 'EUR')).toBe(10);
    expect(fromMajor('1.234', 'EUR')).toBeUndefined();
    expect(fromMajor('-1.00', 'EUR')).toBeUndefined();
    expect(fromMajor('1e3', 'EUR')).toBeUndefined();
    expect(fromMajor('', 'EUR')).toBeUndefined();
    expect(fromMajor(undefined, 'EUR')).toBeUndefined();
    expect(fromMajor('1.5', 'JPY')).toBeUndefined();
  });
});
