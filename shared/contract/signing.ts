import { configInvalid, conflict, forbidden, invalidInput, notFound, providerUnavailable } from '../core/errors';
import type { Caller } from '../core/handler';
import { formatCstCompact } from '../core/clock';
import { nonce } from '../crypto/nonce';
import type { Cloud } from '../runtime/port';
import { activeApp, appById, contractConfig, type ContractConfig, type ParameterSet, type UnionPayApp } from '../config/contract';
import { CONTRACTS, getContract, insertContract, moveContract, type PayContract } from '../store/contracts';
import { unionpayOk } from './unionpay';

/** UnionPay caches contract.info 5 minutes: asking more often learns nothing and counts against us. */
export const INFO_CACHE_MS = 5 * 60_000;
/** A signing URL (its state) is good for this long. */
export const SIGNING_TTL_MS = 30 * 60_000;

export function contractView(c: PayContract) {
  return {
    contract_code: c.contract_code,
    status: c.status,
    plan_id: c.plan_id,
    contract_id: c.contract_id ?? null,
    created_at: c.created_at,
    signed_at: c.signed_at ?? null,
    relieved_at: c.relieved_at ?? null,
    relieved_by: c.relieved_by ?? null,
    info_checked_at: c.info_checked_at || null,
  };
}

export const loadConfig = (cloud: Cloud) => contractConfig.load(cloud.store, cloud.clock);

/** The parameter set a contract was made under (CONFIG_INVALID when an operator removed it). */
export function appOf(config: ContractConfig, c: { app_id: string } | { merchant: { appid: string } }): UnionPayApp & { set: ParameterSet } {
  const id = 'app_id' in c ? c.app_id : c.merchant.appid;
  const app = appById(config, id);
  if (!app) throw invalidConfigFor(id);
  return app;
}
const invalidConfigFor = (appId: string) =>
  configInvalid(`config/contract holds no parameter set with app_id ${appId}, which this contract or order was made under: restore it`);

function requireOpenid(caller: Caller): string {
  if (!caller.openid) throw forbidden('this action is for the mini-program user: no OPENID in the WX context');
  return caller.openid;
}

/** The contract if the caller may act on it: its owner, or another cloud function / timer. */
export async function ownContract(cloud: Cloud, caller: Caller, code: string): Promise<PayContract> {
  const c = await getContract(cloud.store, code);
  // Another user's contract is reported exactly like a missing one: its existence is not revealed.
  if (!c || (!caller.trusted && c.owner_openid !== caller.openid)) throw notFound(`no contract ${code} of yours`);
  return c;
}

/** `sign_url`: a fresh contractCode and state for the caller, and the signing page URL that carries them. */
export async function signUrl(cloud: Cloud, caller: Caller) {
  const openid = requireOpenid(caller);
  const config = await loadConfig(cloud);
  const app = activeApp(config);
  const now = cloud.clock.now();
  const code = `C${formatCstCompact(now)}${nonce(10)}`;
  const state = nonce(32);
  await insertContract(cloud.store, {
    _id: code,
    contract_code: code,
    owner_openid: openid,
    ...(caller.appid ? { owner_appid: caller.appid } : {}),
    app_id: app.app_id,
    plan_id: app.plan_id,
    state,
    status: 'PENDING',
    created_at: now,
    updated_at: now,
    info_checked_at: 0,
    spent_day: '',
    spent_amount: 0,
  });
  const q = new URLSearchParams({ appId: app.app_id, redirectUri: app.redirect_uri, responseType: 'code', scope: 'upapi_contract', planId: app.plan_id, state });
  return {
    contract_code: code,
    state,
    url: `${app.sign_page}?${q.toString()}`,
    expires_at: now + SIGNING_TTL_MS,
    requires: app.require,
  };
}

/**
 * `apply`: the signing page came back with `code` and `state`. The state must be one we handed this caller;
 * the code is exchanged for the user's accessToken and openId, then contract.apply gives the contractId.
 */
export async function applyContract(cloud: Cloud, caller: Caller, input: { code: string; state: string }) {
  const openid = requireOpenid(caller);
  const found = (await cloud.store.find<PayContract>(CONTRACTS, { state: input.state }, { limit: 1 }))[0];
  if (!found || found.owner_openid !== openid) throw notFound('no signing started by you has this state: call sign_url and open its url');
  if (found.status === 'SIGNED') return contractView(found);
  if (found.status !== 'PENDING') throw conflict(`contract ${found.contract_code} is ${found.status}; start a new signing with sign_url`);
  const now = cloud.clock.now();
  if (now - found.created_at > SIGNING_TTL_MS) throw conflict('this signing has expired: call sign_url again');
  const config = await loadConfig(cloud);
  const app = appOf(config, found);
  // The code arrives URL-encoded in the redirect; a value still encoded is decoded once (protocol notes §1.3).
  let code = input.code;
  try {
    code = code.includes('%') ? decodeURIComponent(code) : code;
  } catch {
    throw invalidInput('code is not a valid URL-encoded value: pass the code from the redirect');
  }
  const token = await unionpayOk(cloud, app, '1.0/token', { code, grantType: 'authorization_code' });
  const accessToken = token.accessToken;
  const upOpenId = token.openId;
  if (typeof accessToken !== 'string' || typeof upOpenId !== 'string' || !accessToken || !upOpenId) {
    throw providerUnavailable('UnionPay 1.0/token answered without accessToken and openId; try again');
  }
  const applied = await unionpayOk(cloud, app, '1.0/contract.apply', { accessToken, openId: upOpenId, planId: found.plan_id, contractCode: found.contract_code });
  const contractId = applied.contractId;
  if (typeof contractId !== 'string' || !contractId || (applied.contractCode !== undefined && applied.contractCode !== found.contract_code)) {
    throw providerUnavailable('UnionPay contract.apply answered without a contractId for this contractCode; try again');
  }
  const at = cloud.clock.now();
  await moveContract(cloud.store, found._id, 'PENDING', 'SIGNED', { contract_id: contractId, up_open_id: upOpenId, signed_at: at }, at);
  return contractView((await getContract(cloud.store, found._id))!);
}

/**
 * `status`: the contract, refreshed from contract.info at most once per 5 minutes per contract (claimed by
 * compare-and-set on the time of the last check); otherwise the cached answer.
 */
export async function contractStatus(cloud: Cloud, caller: Caller, code: string) {
  const c = await ownContract(cloud, caller, code);
  const now = cloud.clock.now();
  if (c.status !== 'SIGNED' || now - c.info_checked_at < INFO_CACHE_MS) return { ...contractView(c), cached: true };
  if (!(await cloud.store.update(CONTRACTS, c._id, { info_checked_at: c.info_checked_at }, { info_checked_at: now }))) {
    return { ...contractView((await getContract(cloud.store, code))!), cached: true };
  }
  const app = appOf(await loadConfig(cloud), c);
  const info = await unionpayOk(cloud, app, '1.0/contract.info', { openId: c.up_open_id, planId: c.plan_id });
  const st = String(info.contractStatus ?? '');
  await cloud.store.update(CONTRACTS, c._id, {}, { info_status: st });
  // '3': relieved (the user ended it in the QuickPass app; the notice may not have reached us). '0': not signed.
  const sameContract = info.contractId === undefined || info.contractId === c.contract_id;
  if ((st === '3' || st === '0') && sameContract) {
    await moveContract(cloud.store, c._id, 'SIGNED', 'RELIEVED', { relieved_at: now, relieved_by: 'unionpay' }, now);
  }
  return { ...contractView((await getContract(cloud.store, code))!), cached: false };
}

/** `relieve`: terminates the contract at UnionPay (contract.relieve), then here. */
export async function relieveContract(cloud: Cloud, caller: Caller, code: string) {
  const c = await ownContract(cloud, caller, code);
  if (c.status === 'RELIEVED') return contractView(c);
  if (c.status !== 'SIGNED') throw conflict(`contract ${code} is ${c.status}; only a signed contract can be relieved`);
  const app = appOf(await loadConfig(cloud), c);
  await unionpayOk(cloud, app, '1.0/contract.relieve', { openId: c.up_open_id, planId: c.plan_id, contractId: c.contract_id, contractCode: c.contract_code });
  const now = cloud.clock.now();
  await moveContract(cloud.store, c._id, 'SIGNED', 'RELIEVED', { relieved_at: now, relieved_by: 'merchant' }, now);
  return contractView((await getContract(cloud.store, code))!);
}

/** `list`: the caller's own contracts, newest first. */
export async function listContracts(cloud: Cloud, caller: Caller) {
  const openid = requireOpenid(caller);
  const all = await cloud.store.find<PayContract>(CONTRACTS, { owner_openid: openid }, { limit: 100, orderBy: ['created_at', 'desc'] });
  return { contracts: all.map(contractView) };
}
