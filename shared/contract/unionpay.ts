import { AppError, configInvalid, invalidInput, providerRejected } from '../core/errors';
import type { Cloud } from '../runtime/port';
import { remoteDeps } from '../store/shared-cache';
import { callUnionPay, type UnionPayAnswer } from '../providers/unionpay/client';
import type { UnionPayApp } from '../config/contract';

/** UnionPay refusals that mean the operator must fix config/contract. */
const CONFIG_CODES: Record<string, string> = {
  BC2133: 'UnionPay says the merchant information is wrong: check app_id and plan_id in config/contract',
  N62137: 'UnionPay says the signing merchant is wrong: check app_id and plan_id in config/contract',
  N62114: 'plan_id is empty: set it in config/contract',
  N62132: 'the redirect_uri domain is not the one registered with UnionPay: fix redirect_uri in config/contract',
  N62131: 'this application lacks the permission (scope) for the API: ask UnionPay to enable 无感支付 (upapi_contract)',
  S52131: 'this application lacks the permission (scope) for the API: ask UnionPay to enable 无感支付 (upapi_contract)',
  BC0025: "UnionPay could not verify our signature: check private_key in config/contract (its public key must be the one registered with UnionPay)",
};

/** Calls the API and returns `params` when `resp` is `00`; otherwise the refusal as an error that says what to do. */
export async function unionpayOk(cloud: Cloud, app: UnionPayApp, path: string, params: Record<string, unknown>, opts: { sign?: (b: Record<string, unknown>) => string } = {}): Promise<Record<string, unknown>> {
  const answer = await callUnionPay(remoteDeps(cloud), app, path, params, opts);
  if (answer.resp === '00') return answer.params;
  throw refusal(path, answer);
}

export function refusal(path: string, a: UnionPayAnswer): AppError {
  const msg = a.msg.slice(0, 120);
  if (CONFIG_CODES[a.resp]) return configInvalid(`${CONFIG_CODES[a.resp]} (${a.resp} from ${path})`);
  if (a.resp === 'a31') return invalidInput('the signing code has expired or was already used (a31): open the signing page again');
  return providerRejected(a.resp, `UnionPay refused ${path}: ${a.resp}${msg ? ` ${msg}` : ''}`);
}
