import { AppError, conflict, forbidden, invalidInput, notFound } from '../core/errors';
import type { Caller } from '../core/handler';
import { formatCstCompact } from '../core/clock';
import { nonce } from '../crypto/nonce';
import type { Cloud } from '../runtime/port';
import { HttpUnavailableError } from '../http/client';
import { CONTRACT_PROVIDER, ORDERS } from '../store/orders';
import { getContract, releaseDaily, reserveDaily, type ContractOrder } from '../store/contracts';
import { unionpaySign } from '../providers/unionpay/sign';
import type { ParameterSet, UnionPayApp } from '../config/contract';
import { appOf, loadConfig, ownContract } from './signing';
import { unionpayOk } from './unionpay';

/** UnionPay: query only when no result came 5 minutes after the charge. */
export const FIRST_QUERY_AFTER_MS = 5 * 60_000;
/**
 * After the first query, the next waits ever longer (ACP guidance for unsettled transactions: 5, 10, 30, 60,
 * 120 minutes), so one order is never queried often: UnionPay blocks merchants that poll.
 */
export const QUERY_GAPS_MS = [10, 30, 60, 120].map((m) => m * 60_000);
export const nextQueryGap = (queriesSoFar: number) => QUERY_GAPS_MS[Math.min(queriesSoFar - 1, QUERY_GAPS_MS.length - 1)];

/** ACP result codes of a transaction still in progress; `00` is success, anything else final failure. */
const IN_PROGRESS = new Set(['03', '04', '05']);

export function chargeView(o: ContractOrder) {
  return {
    out_trade_no: o.out_trade_no,
    status: o.status === 'CREATED' ? 'PENDING' : o.status,
    amount: o.amount,
    currency: o.currency,
    provider: o.provider,
    contract_code: o.contract_code,
    created_at: o.created_at,
    paid_at: o.paid_at ?? null,
    failed_at: o.failed_at ?? null,
    result_code: o.resp_code ?? null,
    next_query_at: o.status === 'CREATED' ? o.next_query_at : null,
  };
}

/** The China-time day of a moment, yyyyMMdd: the per-day limit's day. */
export const cstDay = (ms: number) => formatCstCompact(ms).slice(0, 8);

export interface ChargeInput {
  contract_code: string;
  amount: number;
  out_trade_no?: string;
  description?: string;
}

/** The deduction request (ACP conventions; every name configurable, see config/contract.deduction). */
function deductionFields(app: UnionPayApp, o: ContractOrder, upOpenId: string | undefined): Record<string, unknown> {
  return {
    ...app.deduction.fields,
    orderId: o.out_trade_no,
    txnTime: o.txn_time,
    txnAmt: String(o.amount),
    [app.deduction.contract_field]: o.contract_id,
    planId: o.plan_id,
    openId: upOpenId,
    backUrl: `${app.notify_url.replace(/\/+$/, '')}/unionpay`,
  };
}

/** Marks a charge failed once and gives its amount back to the day's limit. */
export async function failCharge(cloud: Cloud, o: ContractOrder, code: string, msg: string): Promise<boolean> {
  const now = cloud.clock.now();
  const won = await cloud.store.update(ORDERS, o._id, { status: 'CREATED' }, { status: 'FAILED', failed_at: now, resp_code: code, resp_msg: msg.slice(0, 120), updated_at: now });
  if (won) await releaseDaily(cloud.store, o.contract_code, o.day, o.amount);
  return won;
}

/**
 * A success reported for a charge already marked FAILED: the money was taken, so it is applied (once, by
 * compare-and-set) and counted against its day again, as `pay` applies a late success to a closed order.
 */
export async function latePaid(cloud: Cloud, id: string, queryId?: string): Promise<boolean> {
  const o = await cloud.store.get<ContractOrder>(ORDERS, id);
  if (!o || o.status !== 'FAILED') return false;
  const now = cloud.clock.now();
  if (!(await cloud.store.update(ORDERS, id, { status: 'FAILED' }, { status: 'PAID', paid_at: now, resp_code: '00', updated_at: now, ...(queryId ? { query_id: queryId } : {}) }))) return false;
  cloud.log.warn('unionpay reports paid a charge that had been marked failed; applied as paid', { out_trade_no: id });
  await reserveDaily(cloud.store, o.contract_code, o.day, o.amount, Number.MAX_SAFE_INTEGER);
  return true;
}

/**
 * `pay`: a background charge by contract. The order is written first (provider `unionpay`), after the
 * per-payment limit and the contract's per-day total (reserved by compare-and-set) are checked; then UnionPay
 * is asked. The result is PENDING until UnionPay's notification (or a query from 5 minutes on).
 */
export async function charge(cloud: Cloud, caller: Caller, input: ChargeInput) {
  const config = await loadConfig(cloud);
  if (!caller.trusted && !config.client_may_charge) {
    throw forbidden('pay is for other cloud functions and timers; config/contract.client_may_charge lets the mini-program charge its own contracts');
  }
  const c = await ownContract(cloud, caller, input.contract_code);
  if (!Number.isInteger(input.amount) || input.amount < 1) throw invalidInput('amount must be a whole number of fen, 1 or more');
  const app = appOf(config, c);
  if (input.out_trade_no) {
    const existing = await cloud.store.get<ContractOrder>(ORDERS, input.out_trade_no);
    if (existing) return retry(cloud, app, existing, input);
  }
  if (c.status !== 'SIGNED' || !c.contract_id) throw conflict(`contract ${c.contract_code} is ${c.status}: only a signed contract can be charged`);
  if (input.amount > app.limits.per_payment) {
    throw invalidInput(`amount ${input.amount} is above the plan's per-payment limit of ${app.limits.per_payment} fen (config/contract.${app.set}.limits.per_payment)`);
  }
  const now = cloud.clock.now();
  const day = cstDay(now);
  const reserved = await reserveDaily(cloud.store, c._id, day, input.amount, app.limits.per_day);
  if (reserved === 'exceeded') throw conflict(`this charge would take contract ${c.contract_code} past its per-day limit of ${app.limits.per_day} fen; nothing was charged`);
  if (reserved === 'contended') throw conflict(`contract ${c.contract_code} is being charged by many callers at once; try again`);
  const outTradeNo = input.out_trade_no ?? `U${formatCstCompact(now)}${nonce(12)}`;
  const order: ContractOrder = {
    _id: outTradeNo,
    out_trade_no: outTradeNo,
    provider: CONTRACT_PROVIDER,
    config_id: 'contract',
    merchant: { appid: app.app_id },
    payer_openid: c.owner_openid,
    ...(c.owner_appid ? { payer_appid: c.owner_appid } : {}),
    amount: input.amount,
    currency: 'CNY',
    description: input.description ?? 'Password-free payment',
    status: 'CREATED',
    contract_code: c.contract_code,
    contract_id: c.contract_id,
    plan_id: c.plan_id,
    txn_time: formatCstCompact(now),
    day,
    next_query_at: now + FIRST_QUERY_AFTER_MS,
    query_count: 0,
    sends: 0,
    created_at: now,
    updated_at: now,
  };
  if ((await cloud.store.insert(ORDERS, outTradeNo, order)) === 'exists') {
    await releaseDaily(cloud.store, c._id, day, input.amount);
    return retry(cloud, app, (await cloud.store.get<ContractOrder>(ORDERS, outTradeNo))!, input);
  }
  return send(cloud, app, order, c.up_open_id);
}

/** The same out_trade_no again: the same charge (never a second one), re-sent only if never accepted. */
async function retry(cloud: Cloud, app: UnionPayApp & { set: ParameterSet }, o: ContractOrder, input: ChargeInput) {
  if (o.provider !== CONTRACT_PROVIDER || o.contract_code !== input.contract_code || o.amount !== input.amount) {
    throw conflict(`out_trade_no ${input.out_trade_no} is already used by another order`);
  }
  if (o.status !== 'CREATED' || o.accepted_at) return chargeView(o);
  // A retry re-sends the same orderId and txnTime: UnionPay knows a charge by them, so it is never taken twice.
  const c = await getContract(cloud.store, o.contract_code);
  if (!c || c.status !== 'SIGNED') throw conflict(`contract ${o.contract_code} is ${c?.status ?? 'gone'}: only a signed contract can be charged`);
  return send(cloud, app, o, c.up_open_id);
}

async function send(cloud: Cloud, app: UnionPayApp, o: ContractOrder, upOpenId: string | undefined) {
  // Counted before sending: a refusal of a later send may be UnionPay refusing a duplicate of a charge it holds.
  const sends = o.sends ?? 0;
  if (!(await cloud.store.update(ORDERS, o._id, { status: 'CREATED', sends }, { sends: sends + 1, updated_at: cloud.clock.now() }))) {
    return chargeView((await cloud.store.get<ContractOrder>(ORDERS, o._id))!); // another caller is sending it
  }
  try {
    const params = await unionpayOk(cloud, app, app.deduction.path, deductionFields(app, o, upOpenId), { sign: (b) => unionpaySign(b, app.private_key) });
    const now = cloud.clock.now();
    await cloud.store.update(ORDERS, o._id, { status: 'CREATED' }, { accepted_at: now, updated_at: now, ...(typeof params.queryId === 'string' ? { query_id: params.queryId } : {}) });
  } catch (err) {
    // No answer (a timeout, an answer that is not UnionPay's): UnionPay may hold it, so it stays PENDING for
    // the notification or a query. A refusal of the first send means UnionPay holds no such charge: it fails
    // here and the day's reservation is given back. A later send's refusal may be of a duplicate: the query settles it.
    const unknown = err instanceof HttpUnavailableError || (err instanceof AppError && err.code === 'PROVIDER_UNAVAILABLE');
    if (unknown) return chargeView((await cloud.store.get<ContractOrder>(ORDERS, o._id))!);
    if (sends === 0 && err instanceof AppError) await failCharge(cloud, o, err.providerCode ?? err.code, err.message);
    throw err;
  }
  return chargeView((await cloud.store.get<ContractOrder>(ORDERS, o._id))!);
}

/**
 * Asks UnionPay about a charge still PENDING, at most when its `next_query_at` has come (claimed by
 * compare-and-set, so two callers never both query), and applies a final answer (amount checked).
 */
async function queryAtUnionPay(cloud: Cloud, app: UnionPayApp, o: ContractOrder): Promise<'changed' | 'unchanged' | 'mismatch'> {
  const now = cloud.clock.now();
  const claimed = await cloud.store.update(ORDERS, o._id, { status: 'CREATED', query_count: o.query_count }, {
    query_count: o.query_count + 1,
    next_query_at: now + nextQueryGap(o.query_count + 1),
    updated_at: now,
  });
  if (!claimed) return 'unchanged';
  const p = await unionpayOk(cloud, app, app.deduction.query_path, { ...app.deduction.query_fields, orderId: o.out_trade_no, txnTime: o.txn_time }, { sign: (b) => unionpaySign(b, app.private_key) });
  const code = String(p.origRespCode ?? '');
  if (!code || IN_PROGRESS.has(code)) return 'unchanged';
  if (code === '00') {
    if (String(p.txnAmt ?? '') !== String(o.amount)) {
      cloud.log.error('unionpay query reports another amount than the charge; not applied', { out_trade_no: o.out_trade_no });
      return 'mismatch';
    }
    const at = cloud.clock.now();
    const won = await cloud.store.update(ORDERS, o._id, { status: 'CREATED' }, { status: 'PAID', paid_at: at, resp_code: code, updated_at: at, ...(typeof p.queryId === 'string' ? { query_id: p.queryId } : {}) });
    return won ? 'changed' : 'unchanged';
  }
  return (await failCharge(cloud, o, code, String(p.origRespMsg ?? ''))) ? 'changed' : 'unchanged';
}

/** `query`: refused before 5 minutes since the charge, and between spaced queries; the notification usually comes first. */
export async function queryCharge(cloud: Cloud, caller: Caller, outTradeNo: string) {
  const o = await cloud.store.get<ContractOrder>(ORDERS, outTradeNo);
  if (!o || o.provider !== CONTRACT_PROVIDER || (!caller.trusted && o.payer_openid !== caller.openid)) throw notFound(`no charge ${outTradeNo} of yours`);
  if (o.status !== 'CREATED') return chargeView(o);
  const now = cloud.clock.now();
  if (now < o.next_query_at) {
    const first = o.query_count === 0;
    throw conflict(
      `${first ? 'UnionPay reports the result by notification; a charge may be queried only 5 minutes after it was made' : 'this charge was queried recently; UnionPay blocks merchants that query one order often'}: query again from ${new Date(o.next_query_at).toISOString()}`,
    );
  }
  await queryAtUnionPay(cloud, appOf(await loadConfig(cloud), o), o);
  return chargeView((await cloud.store.get<ContractOrder>(ORDERS, outTradeNo))!);
}

/** `reconcile`: PENDING charges whose next query time has come, oldest first, spaced; the same rules as `query`. */
export async function reconcileCharges(cloud: Cloud, caller: Caller, opts: { limit?: number; spacing_ms?: number; budget_ms?: number }) {
  if (!caller.trusted) throw forbidden('reconcile is for the timer trigger and other cloud functions');
  const started = Date.now();
  const due = await cloud.store.find<ContractOrder>(ORDERS, { provider: CONTRACT_PROVIDER, status: 'CREATED', next_query_at: { $lte: cloud.clock.now() } }, { limit: opts.limit ?? 100, orderBy: ['next_query_at', 'asc'] });
  const out = { examined: 0, changed: 0, failed: 0, stopped_early: false };
  const config = await loadConfig(cloud);
  for (const [i, o] of due.entries()) {
    if (Date.now() - started > (opts.budget_ms ?? 40_000)) {
      out.stopped_early = true;
      break;
    }
    if (i > 0 && (opts.spacing_ms ?? 200) > 0) await new Promise((r) => setTimeout(r, opts.spacing_ms ?? 200));
    out.examined++;
    try {
      const r = await queryAtUnionPay(cloud, appOf(config, o), o);
      if (r === 'changed') out.changed++;
      if (r === 'mismatch') out.failed++;
    } catch (err) {
      out.failed++;
      cloud.log.warn('contract reconcile: query failed; the next run asks again', { out_trade_no: o.out_trade_no, error: String((err as Error)?.message ?? err).slice(0, 200) });
    }
  }
  return out;
}
