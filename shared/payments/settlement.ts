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

/** The settlement fields of an order (shared/store/orders.ts): null where a quote of another trade was cleared. */
export interface SettlementRecord {
  settlement_amount?: number | null;
  settlement_currency?: string | null;
  exchange_rate?: string | null;
  /** The provider trade the settlement was quoted or confirmed for. */
  settlement_trade_no?: string | null;
}

/** `s` as the order records it, bound to the trade it belongs to (all four fields, so none of an earlier one survives). */
export function settlementRecord(s: Settlement, trade: string | undefined): Required<SettlementRecord> {
  return { settlement_amount: s.settlement_amount, settlement_currency: s.settlement_currency, exchange_rate: s.exchange_rate ?? null, settlement_trade_no: trade ?? null };
}

/**
 * What an order records of its settlement when `trade` pays it: the report's settlement, else the quote
 * stored at create if it was quoted for that very trade, else none. An order may open several trades (a
 * retried create at an acquirer) and keeps only the latest quote: another trade's quote is cleared, never
 * applied, so a refund in the settlement currency is refused rather than made at a rate that was not paid.
 */
export function settlementAtPaid(order: SettlementRecord, trade: string | undefined, reported: Settlement | undefined): SettlementRecord {
  if (reported) return settlementRecord(reported, trade);
  const quoted = order.settlement_amount != null && order.settlement_currency;
  if (quoted && trade && order.settlement_trade_no === trade) {
    return settlementRecord({ settlement_amount: order.settlement_amount!, settlement_currency: order.settlement_currency!, exchange_rate: order.exchange_rate ?? undefined }, trade);
  }
  const recorded = order.settlement_amount != null || order.settlement_currency != null;
  return recorded ? { settlement_amount: null, settlement_currency: null, exchange_rate: null, settlement_trade_no: null } : {};
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
