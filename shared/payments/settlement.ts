/**
 * Where an acquirer pays the merchant out in another currency than the payer paid in (YabandPay: the payer
 * pays CNY, the merchant is paid EUR), the order records what it settled as, and a refund in that
 * settlement currency is the settlement's share of the refund, in exact integer arithmetic.
 */
export interface Settlement {
  /** Minor units of settlement_currency. */
  settlement_amount: number;
  settlement_currency: string;
  /** The acquirer's rate as the decimal text it sent: for the record only, amounts come from settlement_amount. */
  exchange_rate?: string;
}

/** round(total × part / whole), half up, in BigInt: exact for any safe integers (no float ever holds money). */
function share(total: number, part: number, whole: number): bigint {
  return (BigInt(total) * BigInt(part) * 2n + BigInt(whole)) / (2n * BigInt(whole));
}

/**
 * The settlement-currency amount (minor units) of refunding `amount` of an order of `orderAmount` (both in
 * the order's minor units) of which `refundedBefore` is already refunded: the difference of the rounded
 * cumulative shares, so the parts of an order refunded in full add up to exactly its settlement amount,
 * however each part rounds.
 */
export function settledRefundAmount(orderAmount: number, settlementAmount: number, refundedBefore: number, amount: number): number {
  for (const [name, v] of Object.entries({ orderAmount, settlementAmount, refundedBefore, amount })) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a non-negative integer in minor units, not ${v}`);
  }
  if (orderAmount === 0 || amount === 0 || refundedBefore + amount > orderAmount) {
    throw new RangeError(`cannot refund ${amount} after ${refundedBefore} of an order of ${orderAmount}`);
  }
  return Number(share(settlementAmount, refundedBefore + amount, orderAmount) - share(settlementAmount, refundedBefore, orderAmount));
}
