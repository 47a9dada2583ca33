import { action, createHandler, Type } from '../../shared/core/handler';
import { createPayment } from '../../shared/payments/create';
import { closePayment, queryPayment } from '../../shared/payments/query';
import { queryRefund, refundPayment } from '../../shared/payments/refund';

const OutTradeNo = Type.String({ minLength: 1, maxLength: 64, errorMessage: 'must be the out_trade_no returned by unifiedorder' });
const Amount = Type.Number({ errorMessage: 'must be a whole number of minor units (e.g. 100 for 1.00)' });

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
});
