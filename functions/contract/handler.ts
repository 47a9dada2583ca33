import { action, createHandler, Type } from '../../shared/core/handler';
import { DEFAULT_TIMEOUT_MS } from '../../shared/http/client';
import { applyContract, contractStatus, listContracts, relieveContract, signUrl } from '../../shared/contract/signing';
import { charge, queryCharge, reconcileCharges } from '../../shared/contract/charge';
import fnConfig from './config.json';

const ContractCode = Type.String({ pattern: '^[A-Za-z0-9]{1,64}$', errorMessage: 'must be the contract_code sign_url returned' });
/** ACP orderId: 8 to 40 letters and digits (no - or _). */
const OrderId = Type.String({ pattern: '^[A-Za-z0-9]{8,40}$', errorMessage: 'must be 8 to 40 letters and digits (UnionPay orderId rules: no - or _)' });
const NoInput = Type.Object({}, { additionalProperties: false });

/** reconcile stops starting queries this long before the function's timeout (one query may still be in flight). */
const RECONCILE_BUDGET_MS = Math.max(fnConfig.timeout * 1000 - 2 * DEFAULT_TIMEOUT_MS, 1_000);

/** The `contract` function: UnionPay QuickPass password-free payment (云闪付无感支付). */
export const contractHandler = createHandler('contract', {
  sign_url: action(NoInput, (_input, { cloud, caller }) => signUrl(cloud, caller)),
  apply: action(
    Type.Object(
      {
        code: Type.String({ minLength: 1, maxLength: 512, errorMessage: 'must be the code the signing page appended to redirect_uri' }),
        state: Type.String({ pattern: '^[A-Za-z0-9]{1,128}$', errorMessage: 'must be the state the signing page appended to redirect_uri' }),
      },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => applyContract(cloud, caller, input),
  ),
  status: action(Type.Object({ contract_code: ContractCode }, { additionalProperties: false }), (input, { cloud, caller }) =>
    contractStatus(cloud, caller, input.contract_code),
  ),
  relieve: action(Type.Object({ contract_code: ContractCode }, { additionalProperties: false }), (input, { cloud, caller }) =>
    relieveContract(cloud, caller, input.contract_code),
  ),
  pay: action(
    Type.Object(
      {
        contract_code: ContractCode,
        amount: Type.Integer({ minimum: 1, errorMessage: 'must be a whole number of fen, 1 or more' }),
        out_trade_no: Type.Optional(OrderId),
        description: Type.Optional(Type.String({ minLength: 1, maxLength: 127 })),
      },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => charge(cloud, caller, input),
  ),
  query: action(Type.Object({ out_trade_no: OrderId }, { additionalProperties: false }), (input, { cloud, caller }) =>
    queryCharge(cloud, caller, input.out_trade_no),
  ),
  list: action(NoInput, (_input, { cloud, caller }) => listContracts(cloud, caller)),
  // The timer trigger "reconcile" (config.json) runs it every 5 minutes; other cloud functions may too.
  reconcile: action(
    Type.Object(
      {
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, errorMessage: 'must be a whole number from 1 to 100' })),
        spacing_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000, errorMessage: 'must be a whole number of milliseconds from 0 to 10000' })),
      },
      { additionalProperties: false },
    ),
    (input, { cloud, caller }) => reconcileCharges(cloud, caller, { ...input, budget_ms: RECONCILE_BUDGET_MS }),
    { timer: true },
  ),
});
