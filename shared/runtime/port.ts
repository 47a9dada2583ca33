import type { Clock } from '../core/clock';
import type { Logger } from '../core/logger';
import type { HttpClient } from '../http/client';

export type Scalar = string | number | boolean;
/** A condition on one field: equality, or one Mongo-style operator (both stores support these natively). */
export type Condition =
  | Scalar
  | { $in: Scalar[] }
  | { $nin: Scalar[] }
  | { $ne: Scalar }
  | { $lt: number }
  | { $lte: number }
  | { $gt: number }
  | { $gte: number }
  | { $exists: boolean };
/** Field paths (dotted for nested fields) to conditions; all must hold. */
export type Filter = Record<string, Condition>;
/** Field paths (dotted for nested fields) to new values. A value replaces the field whole, objects included. */
export type Patch = Record<string, unknown>;

/** The cloud database, narrowed to what the project needs (DESIGN.md §3). */
export interface DocStore {
  get<T>(coll: string, id: string): Promise<T | null>;
  /** Creates the document with this `_id`; 'exists' when one is already there (nothing is written). */
  insert<T extends object>(coll: string, id: string, doc: T): Promise<'created' | 'exists'>;
  /** Atomic compare-and-set on one document: applies `patch` only if the document matches `when`. */
  update(coll: string, id: string, when: Filter, patch: Patch): Promise<boolean>;
  find<T>(coll: string, where: Filter, opts?: { limit?: number; orderBy?: [string, 'asc' | 'desc'] }): Promise<T[]>;
  remove(coll: string, id: string): Promise<boolean>;
}

/** The caller as `getWXContext()` reports it (upper-case names as the SDK gives them). */
export interface WxContext {
  OPENID?: string;
  APPID?: string;
  UNIONID?: string;
  FROM_OPENID?: string;
  FROM_APPID?: string;
  FROM_UNIONID?: string;
  ENV?: string;
  SOURCE?: string;
  CLIENTIP?: string;
}

/**
 * `cloud.cloudPay`: WeChat Pay through CloudBase's private service-provider link: no certificates, no
 * signatures, camelCase fields in and out (protocols/wechatpay.md §3). Each call resolves with the answer.
 */
export interface CloudPay {
  unifiedOrder(params: Record<string, unknown>): Promise<Record<string, unknown>>;
  queryOrder(params: Record<string, unknown>): Promise<Record<string, unknown>>;
  closeOrder(params: Record<string, unknown>): Promise<Record<string, unknown>>;
  refund(params: Record<string, unknown>): Promise<Record<string, unknown>>;
  queryRefund(params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** `cloud.openapi.subscribeMessage.send`'s parameters: camelCase, as the cloud call takes them (protocols §3.2). */
export interface SubscribeMessage {
  touser: string;
  templateId: string;
  page?: string;
  data: Record<string, { value: string }>;
  miniprogramState?: 'developer' | 'trial' | 'formal';
  lang?: string;
}

/** An openapi call's outcome: errCode 0 is success; WeChat's refusals (43101, 47003, ...) resolve too, never throw. */
export interface OpenApiResult {
  errCode: number;
  errMsg: string;
}

/** The `cloud.openapi` calls the project uses (declared per function in config.json's permissions.openapi). */
export interface OpenApi {
  subscribeMessage: { send(params: SubscribeMessage): Promise<OpenApiResult> };
}

/** Everything a handler may touch outside itself (DESIGN.md §3). */
export interface Cloud {
  store: DocStore;
  context(): WxContext;
  openapi: OpenApi;
  cloudPay: CloudPay;
  callFunction(name: string, data: unknown): Promise<unknown>;
  http: HttpClient;
  clock: Clock;
  log: Logger;
}
