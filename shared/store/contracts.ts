import type { DocStore, Filter, Patch } from '../runtime/port';

export const CONTRACTS = 'pay_contracts';

/**
 * PENDING: the signing URL was handed out, the user has not come back. SIGNED: UnionPay gave a contractId.
 * RELIEVED: terminated (by us, by the user in the QuickPass app, or found so by contract.info). Final.
 */
export type ContractStatus = 'PENDING' | 'SIGNED' | 'RELIEVED';

export interface PayContract {
  /** Our own serial for the signing (contractCode, 应用方签约号). */
  _id: string;
  contract_code: string;
  /** The WeChat user the contract belongs to (getWXContext), and the mini-program. */
  owner_openid: string;
  owner_appid?: string;
  /** The UnionPay parameter set it was made under (its appId) and the plan. */
  app_id: string;
  plan_id: string;
  /** Ties the signing page's redirect back to this contract and its owner. */
  state: string;
  status: ContractStatus;
  /** From contract.apply: UnionPay's contract id (签约协议号) and the user's UnionPay openId. */
  contract_id?: string;
  up_open_id?: string;
  created_at: number;
  updated_at: number;
  signed_at?: number;
  relieved_at?: number;
  relieved_by?: 'merchant' | 'user' | 'unionpay';
  /** The last contract.info answer (UnionPay caches it 5 minutes: we ask at most that often). */
  info_checked_at: number;
  info_status?: string;
  /** Charges reserved against the per-day limit on `spent_day` (yyyyMMdd, China time), in fen. */
  spent_day: string;
  spent_amount: number;
}

export const getContract = (store: DocStore, code: string) => store.get<PayContract>(CONTRACTS, code);

export const insertContract = (store: DocStore, c: PayContract) => store.insert(CONTRACTS, c._id, c);

export async function contractByUnionPayId(store: DocStore, appId: string, contractId: string): Promise<PayContract | null> {
  return (await store.find<PayContract>(CONTRACTS, { app_id: appId, contract_id: contractId }, { limit: 1 }))[0] ?? null;
}

/** Moves a contract from `from` to `to` by compare-and-set: true for exactly one caller. */
export function moveContract(store: DocStore, code: string, from: ContractStatus, to: ContractStatus, patch: Patch, now: number, extra: Filter = {}) {
  return store.update(CONTRACTS, code, { ...extra, status: from }, { ...patch, status: to, updated_at: now });
}

/**
 * Reserves `amount` against the contract's per-day limit on `day` (compare-and-set on the running total, so
 * concurrent charges cannot both slip under the limit). 'exceeded' when the day's total would pass `limit`.
 */
export async function reserveDaily(store: DocStore, code: string, day: string, amount: number, limit: number): Promise<'reserved' | 'exceeded' | 'contended'> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const c = await getContract(store, code);
    if (!c) return 'contended';
    const spent = c.spent_day === day ? c.spent_amount : 0;
    if (spent + amount > limit) return 'exceeded';
    if (await store.update(CONTRACTS, code, { spent_day: c.spent_day, spent_amount: c.spent_amount }, { spent_day: day, spent_amount: spent + amount })) return 'reserved';
  }
  return 'contended';
}

/** Gives back a reservation of `day` (a charge UnionPay refused or reported failed); a past day is left alone. */
export async function releaseDaily(store: DocStore, code: string, day: string, amount: number): Promise<void> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const c = await getContract(store, code);
    if (!c || c.spent_day !== day) return;
    const left = Math.max(0, c.spent_amount - amount);
    if (await store.update(CONTRACTS, code, { spent_day: day, spent_amount: c.spent_amount }, { spent_amount: left })) return;
  }
}

/**
 * A charge by contract. It lives in `pay_orders` beside the payments of `pay` (one order-number space),
 * with provider `unionpay`, which `pay` refuses to act on and its reconcile skips.
 */
export interface ContractOrder {
  _id: string;
  out_trade_no: string;
  provider: 'unionpay';
  config_id: 'contract';
  merchant: { appid: string };
  payer_openid: string;
  payer_appid?: string;
  amount: number;
  currency: 'CNY';
  description: string;
  status: 'CREATED' | 'PAID' | 'FAILED';
  contract_code: string;
  contract_id: string;
  plan_id: string;
  /** ACP txnTime (yyyyMMddHHmmss, China time): with orderId it names the transaction at UnionPay. */
  txn_time: string;
  /** The China-time day whose per-day limit the amount is reserved against. */
  day: string;
  /** How many times the charge was sent (a retry re-sends the same orderId and txnTime). */
  sends?: number;
  /** The charge was answered `00` (accepted): from then on only the notification or a query settles it. */
  accepted_at?: number;
  /** No query before this (5 minutes after the charge, then spaced further after each query). */
  next_query_at: number;
  query_count: number;
  query_id?: string;
  resp_code?: string;
  resp_msg?: string;
  created_at: number;
  updated_at: number;
  paid_at?: number;
  failed_at?: number;
}
