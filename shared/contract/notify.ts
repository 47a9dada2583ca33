import { constantTimeEqual } from '../crypto/hash';
import { des3EcbDecrypt } from '../crypto/des3';
import type { Cloud } from '../runtime/port';
import { recordEvent, type EventOutcome } from '../store/events';
import { CONTRACT_PROVIDER, ORDERS } from '../store/orders';
import { contractByUnionPayId, moveContract, type ContractOrder } from '../store/contracts';
import { appById, contractConfig } from '../config/contract';
import { unionpayVerify } from '../providers/unionpay/sign';
import { failCharge, latePaid } from './charge';

export interface UnionPayReply {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** UnionPay stops delivering on `{"resp":"00"}`; anything else (and any non-200) makes it deliver again. */
const reply = (ok: boolean, msg?: string): UnionPayReply => ({
  statusCode: ok ? 200 : 500,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify(ok ? { resp: '00' } : { resp: '99', msg: msg ?? 'not processed' }),
});

/** Keeps the last 4 characters: enough to tell cards and phones apart in the event log. */
const mask = (v: string) => (v.length <= 4 ? '****' : `${'*'.repeat(Math.min(v.length - 4, 12))}${v.slice(-4)}`);

interface Outcome {
  kind: 'payment' | 'contract' | 'unknown';
  dedupe_key: string;
  outcome: EventOutcome;
  reason?: string;
  out_trade_no?: string;
}

/** The fields of a form body; a repeated field or an empty body is malformed. */
function parseForm(body: Buffer): Record<string, string> | undefined {
  const text = body.toString('utf8');
  if (!text.trim()) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(text)) {
    if (k in out) return undefined;
    out[k] = v;
  }
  return out;
}

/**
 * A UnionPay notification at `<notify_url>/unionpay` (form-encoded): verified with UnionPay's public key
 * of the parameter set its appId names, sensitive fields decrypted (3DES) and kept masked, then a payment
 * result applied to its charge once (amount checked) or a termination notice applied to its contract.
 * Every delivery is recorded. Assumption (no public sample): a payment result carries `orderId`; a
 * termination notice carries `contractId` and no `orderId`.
 */
export async function handleUnionPayNotification(cloud: Cloud, body: Buffer): Promise<UnionPayReply> {
  const receivedAt = cloud.clock.now();
  const record = (o: Outcome, fields?: Record<string, unknown>) =>
    recordEvent(cloud.store, { provider: CONTRACT_PROVIDER, ...o, fields, received_at: receivedAt }).catch((err) =>
      cloud.log.error('could not record notification', { error: String(err) }),
    );
  const reject = async (reason: string, fields?: Record<string, unknown>, key = `${CONTRACT_PROVIDER}:unverified`) => {
    cloud.log.warn('unionpay notification rejected', { reason });
    await record({ kind: 'unknown', dedupe_key: key, outcome: 'rejected', reason }, fields);
    return reply(false, 'rejected; see the merchant event log');
  };

  const form = parseForm(body);
  if (!form) return reject('the body is not a form-encoded notification');
  const config = await contractConfig.load(cloud.store, cloud.clock); // CONFIG_* errors answer 500: delivered again once fixed
  const app = form.appId ? appById(config, form.appId) : undefined;
  if (!app) return reject('no parameter set of config/contract has this appId');
  if (!unionpayVerify(form, app.unionpay_public_key)) return reject("the signature does not verify with UnionPay's public key");

  const fields: Record<string, unknown> = { ...form };
  delete fields.signature;
  for (const name of app.encrypted_fields) {
    if (typeof form[name] !== 'string' || !form[name]) continue;
    try {
      fields[name] = mask(des3EcbDecrypt(form[name], app.symmetric_key));
    } catch {
      return reject(`${name} does not decrypt with symmetric_key`, { appId: form.appId, orderId: form.orderId, contractId: form.contractId });
    }
  }

  if (form.orderId) {
    const o = await cloud.store.get<ContractOrder>(ORDERS, form.orderId);
    const key = `${CONTRACT_PROVIDER}:payment:${form.orderId}:${form.respCode ?? ''}`;
    const done = async (outcome: EventOutcome, reason?: string) => {
      await record({ kind: 'payment', dedupe_key: key, outcome, reason, out_trade_no: form.orderId }, fields);
      if (outcome === 'rejected') cloud.log.warn('unionpay payment notification rejected', { out_trade_no: form.orderId, reason });
      return outcome === 'rejected' ? reply(false, 'rejected; see the merchant event log') : reply(true);
    };
    if (!o || o.provider !== CONTRACT_PROVIDER) return done('rejected', 'unknown order');
    if (o.merchant.appid !== app.app_id) return done('rejected', 'the order was made under another appId');
    if (form.txnTime && form.txnTime !== o.txn_time) return done('rejected', 'txnTime differs from the charge');
    if (form.contractId && !constantTimeEqual(form.contractId, o.contract_id)) return done('rejected', 'contractId differs from the charge');
    if (form.txnAmt !== String(o.amount)) return done('rejected', `amount ${form.txnAmt} differs from the charge (${o.amount})`);
    if (form.currencyCode && form.currencyCode !== '156') return done('rejected', `currency ${form.currencyCode} is not CNY (156)`);
    const now = cloud.clock.now();
    if (form.respCode === '00') {
      const won = await cloud.store.update(ORDERS, o._id, { status: 'CREATED' }, { status: 'PAID', paid_at: now, resp_code: '00', updated_at: now, ...(form.queryId ? { query_id: form.queryId } : {}) });
      if (won) return done('applied');
      return done((await latePaid(cloud, o._id, form.queryId)) ? 'applied' : 'duplicate');
    }
    if (!form.respCode) return done('rejected', 'no respCode');
    return done((await failCharge(cloud, o, form.respCode, form.respMsg ?? '')) ? 'applied' : 'duplicate');
  }

  if (form.contractId) {
    const key = `${CONTRACT_PROVIDER}:relieve:${form.contractId}`;
    const c = await contractByUnionPayId(cloud.store, app.app_id, form.contractId);
    const done = async (outcome: EventOutcome, reason?: string) => {
      await record({ kind: 'contract', dedupe_key: key, outcome, reason }, fields);
      return outcome === 'rejected' ? reply(false, 'rejected; see the merchant event log') : reply(true);
    };
    if (!c) return done('rejected', 'unknown contract');
    if (form.planId && form.planId !== c.plan_id) return done('rejected', 'planId differs from the contract');
    const now = cloud.clock.now();
    if (await moveContract(cloud.store, c._id, 'SIGNED', 'RELIEVED', { relieved_at: now, relieved_by: 'user' }, now)) return done('applied');
    return done(c.status === 'RELIEVED' ? 'duplicate' : 'ignored', c.status === 'RELIEVED' ? undefined : `contract is ${c.status}`);
  }
  return reject('neither orderId nor contractId: not a notification this function knows', fields);
}
