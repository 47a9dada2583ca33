import type { Clock } from '../core/clock';
import type { Logger } from '../core/logger';
import type { HttpClient } from '../http/client';
import type { MerchantIds } from '../store/orders';
import type { CloudPay } from '../runtime/port';
import type { Settlement } from '../payments/settlement';

/**
 * Values shared by all warm instances (a provider's downloaded keys), without the provider knowing where
 * they live. `claim` grants one caller at a time the right to refresh a key, for `leaseMs`.
 */
export interface SharedCache {
  get<T>(key: string): Promise<{ value: T; updated_at: number } | null>;
  claim(key: string, leaseMs: number): Promise<boolean>;
  put<T>(key: string, value: T): Promise<void>;
}

/** What a provider's flows get: its own config section and the outside world, but never the store. */
export interface ProviderCtx<C> {
  config: C;
  cache: SharedCache;
  /** Where this provider's notifications go: `<notify_url>/<provider id>`. */
  notifyUrl: string;
  http: HttpClient;
  clock: Clock;
  log: Logger;
  /** CloudBase's payment link, for the cloudpay provider. */
  cloudPay: CloudPay;
}

export interface CreatePaymentInput {
  out_trade_no: string;
  /** `wechat` (the wx.requestPayment fields) or a method the provider pays through a page (`url`). */
  pay_method: string;
  /** The mini-program that pays (acquirers that need it as sub_app_id). */
  payer_appid?: string;
  amount: number;
  currency: string;
  description: string;
  payer_openid: string;
  client_ip: string;
  /** Sent as the order's start time: a retry must send the same parameters as the first call. */
  created_at: number;
  expires_at: number;
}

/** The fields the mini-program passes to `wx.requestPayment`, unchanged. */
export interface RequestPaymentFields {
  appId?: string;
  timeStamp: string;
  nonceStr: string;
  package: string;
  signType: string;
  paySign: string;
}

export type CreatePaymentOutput =
  | { kind: 'pay'; payment: RequestPaymentFields; prepay_id: string; prepay_expires_at: number; provider_trade_no?: string; settlement?: Settlement }
  /** A payment page for a web-view or the clipboard (methods other than in-app WeChat Pay). */
  | { kind: 'redirect'; url: string; provider_trade_no?: string; settlement?: Settlement }
  /** The provider says this order number is already paid (e.g. ORDERPAID): query it and apply. */
  | { kind: 'already_paid'; provider_trade_no?: string }
  | { kind: 'already_closed'; provider_trade_no?: string };

/** The provider's word on a payment, in domain terms. */
export interface PaymentReport {
  out_trade_no: string;
  state: 'PAID' | 'PENDING' | 'CLOSED' | 'FAILED' | 'NOT_FOUND';
  amount?: number;
  currency?: string;
  transaction_id?: string;
  provider_trade_no?: string;
  merchant?: Partial<MerchantIds>;
  payer_openid?: string;
  paid_at?: number;
  /** The provider's own state name, for the record. */
  provider_state?: string;
  /** What the acquirer pays the merchant out for it, where it says (recorded on the order when it is paid). */
  settlement?: Settlement;
}

export interface RefundInput {
  out_trade_no: string;
  transaction_id?: string;
  provider_trade_no?: string;
  out_refund_no: string;
  total: number;
  amount: number;
  currency: string;
  /** The same refund in the order's settlement currency, where the config's refund_currency asks for that. */
  settled?: { amount: number; currency: string };
  reason?: string;
}

/** What a refund query may need besides our refund number: the refund record and its order. */
export interface RefundQueryInput {
  out_trade_no: string;
  provider_trade_no?: string;
  /** The refund's currency: the order's. */
  currency: string;
  /** What the order had refunded before this refund (in the order's minor units). */
  refunded_before: number;
  created_at: number;
}

export interface RefundReport {
  out_refund_no: string;
  out_trade_no?: string;
  state: 'PROCESSING' | 'SUCCESS' | 'CLOSED' | 'ABNORMAL' | 'NOT_FOUND';
  refund_id?: string;
  amount?: number;
  /** The currency of `amount` when the provider names it (a refund in the settlement currency); else the order's. */
  currency?: string;
  total?: number;
  merchant?: Partial<MerchantIds>;
  finished_at?: number;
  provider_state?: string;
}

/** An HTTP-trigger request as the notify function sees it: lower-case headers, the raw body bytes. */
export interface NotifyRequest {
  method: string;
  headers: Record<string, string>;
  query: Record<string, string>;
  body: Buffer;
}

export interface NotifyReply {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** Unverified hints read from a notification, only to find which config can verify it. */
export interface NotifyHint {
  appids: string[];
  mchid?: string;
  /** When the notification names its order in clear (a pay notification). */
  out_trade_no?: string;
  /** Nothing in clear names the merchant (an encrypted v3 notification): every config document is a candidate. */
  any_config?: boolean;
}

/**
 * A verified notification. `fields` is what gets recorded (redacted) in the event log. A `hint` is a
 * notification whose signature does not cover amount and state (or that carries neither): it only names the
 * payment or refund, which is then queried and the query's answer applied.
 */
export type NotifyEvent =
  | { kind: 'payment'; dedupe_key: string; report: PaymentReport; fields: Record<string, unknown> }
  | { kind: 'refund'; dedupe_key: string; report: RefundReport; fields: Record<string, unknown> }
  | { kind: 'hint'; dedupe_key: string; out_trade_no?: string; provider_trade_no?: string; out_refund_no?: string; fields: Record<string, unknown> };

/** The notification could not be proven authentic or well-formed: it changes nothing. */
export class NotificationRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotificationRejected';
  }
}

export interface PaymentProvider<C = unknown> {
  id: string;
  /** Currencies an order may be in, and the largest single amount the provider takes (minor units). */
  currencies: readonly string[];
  /** Payment methods it takes: `wechat` returns wx.requestPayment fields, the others a payment page url. */
  methods: readonly string[];
  maxAmount: number;
  /** The ids an order is pinned to at creation, checked again on every notification. */
  merchantIds(config: C): import('../store/orders').MerchantIds;
  create(ctx: ProviderCtx<C>, input: CreatePaymentInput): Promise<CreatePaymentOutput>;
  /** Fresh `wx.requestPayment` fields for a prepay id that is still valid, without calling the provider. */
  repay?(ctx: ProviderCtx<C>, prepayId: string): RequestPaymentFields;
  /** `providerTradeNo` is the provider's own id, stored at creation, for providers that query by it. */
  query(ctx: ProviderCtx<C>, outTradeNo: string, providerTradeNo?: string): Promise<PaymentReport>;
  /** 'PAID' when the provider refuses because the order was paid meanwhile. */
  close(ctx: ProviderCtx<C>, outTradeNo: string, providerTradeNo?: string): Promise<'CLOSED' | 'PAID'>;
  refund(ctx: ProviderCtx<C>, input: RefundInput): Promise<RefundReport>;
  /** Why this account cannot refund through the API (say which config field would allow it), checked before a refund is written. */
  cannotRefund?(config: C): string | undefined;
  /** `refund` is the record and its order, where the caller has them (some providers can find a refund only through them). */
  queryRefund(ctx: ProviderCtx<C>, outRefundNo: string, refund?: RefundQueryInput): Promise<RefundReport>;
  /**
   * True for an acquirer that refunds in the currency it settled the order in (config refund_currency), from
   * the settlement recorded on the order; the others refund only in the order's currency.
   */
  refundsInSettlementCurrency?: boolean;
  /**
   * True when sending a refund again (same number, after an answer was lost) is not known to be idempotent at
   * the provider: `refund` then asks `queryRefund` first and sends again only if the answer is NOT_FOUND.
   */
  queryBeforeResend?: boolean;
  /** HTTP notifications; absent for a provider whose results arrive otherwise (cloudPay calls a function). */
  notify?: {
    /** HTTP methods it delivers with (default POST only). */
    methods?: readonly string[];
    /** Reads hints without trusting them; throws NotificationRejected when the body is malformed. */
    peek(req: NotifyRequest): NotifyHint;
    /** Verifies with this config and returns the event; throws NotificationRejected otherwise. */
    verify(ctx: ProviderCtx<C>, req: NotifyRequest): Promise<NotifyEvent>;
    /** The reply the provider expects: success stops its retries, failure asks for another delivery. */
    reply(ok: boolean, message?: string): NotifyReply;
  };
}
