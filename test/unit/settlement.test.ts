/** Refunds in the settlement currency: exact BigInt shares, rounded half up, whose parts add up to the settlement. */
import { settledRefundAmount, settlementAtPaid } from '../../shared/payments/settlement';

describe('settledRefundAmount', () => {
  it('a full refund is exactly the settlement amount', () => {
    expect(settledRefundAmount(10000, 1285, 0, 10000)).toBe(1285);
  });

  it('rounds each cumulative share half up: 1285 × 3333 / 10000 = 428.2905 → 428; the rest is 857, together 1285', () => {
    expect(settledRefundAmount(10000, 1285, 0, 3333)).toBe(428);
    expect(settledRefundAmount(10000, 1285, 3333, 6667)).toBe(857);
  });

  it('a half rounds up: 3 × 1 / 2 = 1.5 → 2, and the second half gets 1', () => {
    expect(settledRefundAmount(2, 3, 0, 1)).toBe(2);
    expect(settledRefundAmount(2, 3, 1, 1)).toBe(1);
  });

  it('three thirds of 100 settle as 33 + 34 + 33 = 100 (never 99 or 101)', () => {
    const parts = [settledRefundAmount(3, 100, 0, 1), settledRefundAmount(3, 100, 1, 1), settledRefundAmount(3, 100, 2, 1)];
    expect(parts).toEqual([33, 34, 33]);
    expect(parts.reduce((a, b) => a + b)).toBe(100);
  });

  it('parts of any split add up to the settlement exactly', () => {
    const order = 99_991;
    const settled = 12_347;
    let before = 0;
    let total = 0;
    for (const part of [1, 7, 333, 4_444, 55_555, 39_651]) {
      total += settledRefundAmount(order, settled, before, part);
      before += part;
    }
    expect(before).toBe(order);
    expect(total).toBe(settled);
  });

  it('stays exact where a float product would not (beyond 2^53)', () => {
    // 9007199254740991 × 1 / 3 = 3002399751580330.33…: Math.round(x * 1 / 3) gives 3002399751580331.
    expect(settledRefundAmount(3, Number.MAX_SAFE_INTEGER, 0, 1)).toBe(3002399751580330);
  });

  it('a share can round to 0 (a tiny refund at a small rate): the caller must refuse it', () => {
    expect(settledRefundAmount(10000, 1285, 0, 3)).toBe(0);
  });

  it.each([
    [100, 50, 90, 20],
    [0, 50, 0, 0],
    [100, 50, 0, 0],
    [100, 50, 0, 1.5],
    [100, -1, 0, 10],
  ])('refuses impossible inputs (order %d, settled %d, before %d, amount %d)', (o, s, b, a) => {
    expect(() => settledRefundAmount(o, s, b, a)).toThrow(RangeError);
  });
});

describe('settlementAtPaid', () => {
  const quote = { settlement_amount: 1285, settlement_currency: 'EUR', exchange_rate: '0.1285', settlement_trade_no: 'T1' };
  const reported = { settlement_amount: 1290, settlement_currency: 'EUR' };

  it('the report’s settlement wins, bound to the paying trade; a rate it does not give is cleared', () => {
    expect(settlementAtPaid(quote, 'T2', reported)).toEqual({ settlement_amount: 1290, settlement_currency: 'EUR', exchange_rate: null, settlement_trade_no: 'T2' });
  });

  it('without one, the stored quote applies only to the trade it was quoted for', () => {
    expect(settlementAtPaid(quote, 'T1', undefined)).toEqual(quote);
    const cleared = { settlement_amount: null, settlement_currency: null, exchange_rate: null, settlement_trade_no: null };
    expect(settlementAtPaid(quote, 'T2', undefined)).toEqual(cleared);
    expect(settlementAtPaid(quote, undefined, undefined)).toEqual(cleared);
    // A quote stored before quotes named their trade is nobody's.
    expect(settlementAtPaid({ settlement_amount: 1285, settlement_currency: 'EUR' }, 'T1', undefined)).toEqual(cleared);
  });

  it('an order that never had a settlement gets no settlement fields', () => {
    expect(settlementAtPaid({}, 'T1', undefined)).toEqual({});
  });
});
