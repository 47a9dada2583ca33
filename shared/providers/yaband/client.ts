import { providerRejected, providerUnavailable } from '../../core/errors';
import { parseJsonExact } from '../../core/exact-json';
import { answeredAboutAnother } from '../fields';
import type { ProviderCtx } from '../types';
import { signRequest } from './sign';
import { queriedTrade, str } from './transform';
import { PAYMENTS_PATH, type YabandAnswer, type YabandData, type YabandFields, type YabandMerchant, type YabandMethod } from './wire';

/**
 * One signed call to `<api_base>/Payments`. Returns `data` when `status` is true; `status: false` is a refusal
 * (PROVIDER_REJECTED with Yaband's code); an answer that is not Yaband's shape is PROVIDER_UNAVAILABLE.
 * No answer at all (timeout, network) propagates as HttpUnavailableError. Answers carry no signature.
 */
export async function call(ctx: ProviderCtx<YabandMerchant>, method: YabandMethod, data: YabandData): Promise<YabandFields> {
  const m = ctx.config;
  const now = ctx.clock.now();
  const time = m.time_unit === 'ms' ? now : Math.floor(now / 1000);
  const envelope = { user: m.user, method, time, sign: signRequest(m.secret, { user: m.user, method, time }, data), data };
  const res = await ctx.http.request({
    method: 'POST',
    url: `${m.api_base.replace(/\/+$/, '')}${PAYMENTS_PATH}`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(envelope),
  });
  if (res.status >= 500) throw providerUnavailable(`YabandPay ${method} answered HTTP ${res.status}; try again`);
  let answer: Partial<YabandAnswer> | undefined;
  try {
    // Amounts are documented as decimal strings; one sent as a JSON number is read exactly all the same.
    answer = parseJsonExact(res.body) as Partial<YabandAnswer>;
  } catch {
    answer = undefined;
  }
  if (!answer || typeof answer !== 'object' || typeof answer.status !== 'boolean') {
    throw providerUnavailable(`YabandPay ${method} answered HTTP ${res.status} in an unexpected shape; try again`);
  }
  if (!answer.status) {
    // A wrong `user` or `secret` in the config shows up here as Yaband's own message (e.g. a sign error).
    throw providerRejected(String(answer.code ?? 'FAIL'), `YabandPay ${method} refused: ${answer.message ?? 'no reason given'}`);
  }
  if (!answer.data || typeof answer.data !== 'object' || Array.isArray(answer.data)) {
    throw providerUnavailable(`YabandPay ${method} answered without data; try again`);
  }
  return answer.data as YabandFields;
}

/**
 * `v3.QueryOrder` for one trade (its `transaction_info` read over `data`). The answer must be about that
 * trade and, when `orderId` is given, that order; an answer about another is refused.
 */
export async function queryOrder(ctx: ProviderCtx<YabandMerchant>, tradeId: string, orderId?: string): Promise<YabandFields> {
  const trade = queriedTrade(await call(ctx, 'v3.QueryOrder', { trade_id: tradeId }));
  const other = answeredAboutAnother(
    ctx.log,
    'YabandPay v3.QueryOrder',
    { trade_id: tradeId, order_id: orderId },
    { trade_id: str(trade, 'trade_id'), order_id: str(trade, 'order_id') },
  );
  if (other) throw other;
  return trade;
}
