/**
 * VR Payment (a white-label of the wallee platform), REST API v2 on the wire (protocols/acquirers.md §1d):
 * JSON entities under `/api/v2.0`, every request authenticated by an HS256 JWT over its method and path,
 * the space named in the `Space` header. Amounts are JSON numbers in major units.
 */
export const VR_API_PREFIX = '/api/v2.0';

export const VR_PATHS = {
  transactions: '/payment/transactions',
  transactionSearch: '/payment/transactions/search',
  transaction: (id: string) => `/payment/transactions/${id}`,
  paymentPageUrl: (id: string) => `/payment/transactions/${id}/payment-page-url`,
  refunds: '/payment/refunds',
  refundSearch: '/payment/refunds/search',
  refund: (id: string) => `/payment/refunds/${id}`,
} as const;

/**
 * Transaction states: FULFILL is "safe to deliver"; COMPLETED counts as paid too (the rule).
 * CREATE, PENDING, CONFIRMED, PROCESSING, AUTHORIZED and any state not listed here are not settled yet.
 */
export const PAID_STATES = ['FULFILL', 'COMPLETED'] as const;
export const FAILED_STATES = ['FAILED', 'DECLINE'] as const;
export const CLOSED_STATES = ['VOIDED'] as const;

/** Refund states: SUCCESSFUL and FAILED are final; CREATE, SCHEDULED, PENDING, MANUAL_CHECK are in flight. */
export const REFUND_SUCCESS = 'SUCCESSFUL';
export const REFUND_FAILED = 'FAILED';

export const LINE_ITEM_TYPE = 'PRODUCT';
export const REFUND_TYPE = 'MERCHANT_INITIATED_ONLINE';

export interface VrLineItem {
  name: string;
  quantity: number;
  amountIncludingTax: number;
  type: typeof LINE_ITEM_TYPE;
  uniqueId: string;
  sku: string;
}

export interface VrTransactionCreate {
  currency: string;
  lineItems: VrLineItem[];
  merchantReference: string;
  successUrl?: string;
  failedUrl?: string;
  allowedPaymentMethodConfigurations?: number[];
}

/** The fields of a transaction the adapter reads. */
export interface VrTransaction {
  id: number;
  state: string;
  currency: string;
  merchantReference?: string;
  authorizationAmount?: number;
  completedAmount?: number;
  linkedSpaceId?: number;
  authorizedOn?: string;
  completedOn?: string;
}

export interface VrRefundCreate {
  transaction: number;
  externalId: string;
  amount: number;
  type: typeof REFUND_TYPE;
}

/** A refund, with its transaction embedded (currency and merchantReference come from there). */
export interface VrRefund {
  id: number;
  state: string;
  externalId?: string;
  amount?: number;
  transaction: { id: number; currency: string; merchantReference?: string; linkedSpaceId?: number };
  linkedSpaceId?: number;
  succeededOn?: string;
  failedOn?: string;
}

export interface VrSearchResponse<T> {
  data: T[];
}

/** RestApiErrorResponse. */
export interface VrError {
  code?: string;
  message?: string;
  id?: string;
  date?: string;
}

/** A space webhook: names the entity, carries no amount; only a re-read tells what happened. */
export interface VrWebhook {
  eventId: number | string;
  entityId: number;
  listenerEntityTechnicalName: 'Transaction' | 'Refund';
  spaceId: number;
  listenerEntityId?: number;
  webhookListenerId?: number;
  timestamp?: string;
  state?: string;
}

/** The `vr` config section (defaults filled in by the schema). */
export interface VrMerchant {
  space_id: number;
  user_id: number;
  /** The application user's authentication key, base64 as VR Payment shows it. */
  auth_key: string;
  api_base: string;
  success_url?: string;
  failed_url?: string;
  currencies: string[];
  /** pay_method → payment method configuration id of the space, to show only that method on the page. */
  method_configurations?: Record<string, number>;
  /** [?] The void endpoint, `{id}` for the transaction id. */
  void_path: string;
  /** [?] How a search names one field: `{field}` and `{value}` are replaced. */
  search_query: string;
}
