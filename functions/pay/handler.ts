import { action, createHandler, Type } from '../../shared/core/handler';
import { DEFAULT_TIMEOUT_MS } from '../../shared/http/client';
import { createPayment } from '../../shared/payments/create';
import { closePayment, queryPayment } from '../../shared/payments/query';
import { queryRefund, refundPayment } from '../../shared/payments/refund';
import { reconcile } from '../../shared/payments/reconcile';
import fnConfig from './config.json';

const OutTradeNo = Type.String({ minLength: 1, maxLength: 64, errorMessage: 'must be the out_trade_no returned by unifiedorder' });
const Amount = Type.Number({ errorMessage: 'must be a whole number of minor units (e.g. 100 for 1.00)' });

/**
 * reconcile starts no new work this long before the function's timeout (config.json), so the document in
 * hand can finish: up to two provider calls (a certificate download and a query, or a close and a query),
 * each bounded by the HTTP timeout. 60 s → 44 s.
 */
const RECONCILE_SAFETY_MS = 2 * DEFAULT_TIMEOUT_MS;
export const RECONCILE_BUDGET_MS = Math.max(fnConfig.timeout * 1000 - RECONCILE_SAFETY_MS, 1_000);

/** The `pay` function: one provider-neutral action table; the provider is chosen by config/payment.pay_sp. */
export const payHandler = createHandler('pay', {
  unifiedorder: action(
    Type.Object(
      {
        order_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        out_trade_no: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        amount: Type.Optional(Amount),
        description: Type.Optional(Type.String({ minLength: 1, maxLength: 127 })),
        payer_openid: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        pay_method: Type.Optional(Type.String({ minLength: 1, maxLength: 32, description: 'wechat (default), or a method the provider pays through a page' })),
        currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$', errorMessage: 'must be an ISO 4217 code such as "EUR"' })),
      },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => createPayment(cloud, caller, input),
  ),
  queryorder: action(Type.Object({ out_trade_no: OutTradeNo }, { additionalProperties: false }), (input, { cloud, caller }) =>
    queryPayment(cloud, caller, input.out_trade_no),
  ),
  closeorder: action(Type.Object({ out_trade_no: OutTradeNo }, { additionalProperties: false }), (input, { cloud, caller }) =>
    closePayment(cloud, caller, input.out_trade_no),
  ),
  refund: action(
    Type.Object(
      {
        out_trade_no: OutTradeNo,
        out_refund_no: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        amount: Type.Optional(Amount),
        reason: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
      },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => refundPayment(cloud, caller, input),
  ),
  queryrefund: action(
    Type.Object({ out_refund_no: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false }),
    (input, { cloud, caller }) => queryRefund(cloud, caller, input.out_refund_no),
  ),
  // Timers and other cloud functions only; the timer trigger "reconcile" (config.json) runs it every 5 minutes.
  reconcile: action(
    Type.Object(
      {
        older_than_minutes: Type.Optional(Type.Integer({ minimum: 0, errorMessage: 'must be a whole number of minutes, 0 or more' })),
        budget_ms: Type.Optional(
          Type.Integer({ minimum: 0, maximum: RECONCILE_BUDGET_MS, errorMessage: `must be a whole number of milliseconds from 0 to ${RECONCILE_BUDGET_MS}` }),
        ),
        spacing_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000, errorMessage: 'must be a whole number of milliseconds from 0 to 10000' })),
      },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => reconcile(cloud, caller, { ...input, budget_ms: input.budget_ms ?? RECONCILE_BUDGET_MS }),
    { timer: true },
  ),
});
