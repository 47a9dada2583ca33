/**
 * A VR Payment (wallee platform) REST API v2 sandbox written from protocols/acquirers.md §1d: every request
 * must carry a valid HS256 JWT (signature under the space's application user key, `requestPath` and
 * `requestMethod` of this very request, `iat` within five minutes) and the `Space` header; transactions and
 * refunds live in memory. VR Payment sends no per-payment notification: `POST /pay` only moves the
 * transaction, and posts the space webhook when the merchant has a listener URL (`webhook_url`).
 */
import { createHmac, randomBytes } from 'crypto';
import { constantTimeEqual } from '../../shared/crypto/hash';
import { fromMajor, toMajor } from '../../shared/core/money';
import { deliver, type Delivery } from './deliver';
import { json, jsonBody, type Sandbox, type SandboxRequest, type SandboxResponse } from './types';

export interface VrSandboxMerchant {
  space_id: number;
  user_id: number;
  /** base64, as the portal shows it; the HMAC key is its decoded bytes. */
  auth_key: string;
  /** The space's webhook listener URL; none means no webhook is sent. */
  webhook_url?: string;
}

export interface SbTransaction {
  id: number;
  state: string;
  currency: string;
  merchantReference: string;
  lineItems: Record<string, unknown>[];
  authorizationAmount: number;
  completedAmount: number;
  linkedSpaceId: number;
  createdOn: string;
  authorizedOn?: string;
  completedOn?: string;
  successUrl?: string;
  failedUrl?: string;
  allowedPaymentMethodConfigurations?: number[];
  version: number;
}

export interface SbRefund {
  id: number;
  state: 'PENDING' | 'SUCCESSFUL' | 'FAILED';
  externalId: string;
  amount: number;
  type: string;
  transactionId: number;
  linkedSpaceId: number;
  createdOn: string;
  succeededOn?: string;
  failedOn?: string;
}

type Fault = '5xx' | 'timeout' | 'garbage' | 'badsign';

const OPEN = ['CREATE', 'PENDING', 'CONFIRMED', 'PROCESSING', 'AUTHORIZED'];
const PAID = ['FULFILL', 'COMPLETED'];
const JWT_MAX_SKEW_S = 300;
const PREFIX = '/api/v2.0';

const iso = () => new Date().toISOString();
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The wallee v2 error shape (RestApiErrorResponse). */
const error = (status: number, code: string, message: string): SandboxResponse =>
  json(status, { id: randomBytes(8).toString('hex'), date: iso(), code, message });

function b64urlJson(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function vrSandbox(opts: { stallMs?: number } = {}): Sandbox & {
  addMerchant(m: VrSandboxMerchant): void;
  setFault(f: Fault | null, count?: number): void;
  transaction(spaceId: number, id: number | string): SbTransaction | undefined;
  refund(spaceId: number, id: number | string): SbRefund | undefined;
} {
  const merchants = new Map<number, VrSandboxMerchant>();
  const transactions = new Map<string, SbTransaction>();
  const refunds = new Map<string, SbRefund>();
  let fault: { kind: Fault; left: number } | null = null;
  let nextId = 1000 + Math.floor(Math.random() * 1000);
  const key = (space: number, id: number | string) => `${space}/${id}`;
  const minor = (amount: number, currency: string) => fromMajor(amount, currency);

  /** The caller's merchant, or the 401 VR Payment answers: JWT and Space header checked as documented. */
  function authenticate(req: SandboxRequest): VrSandboxMerchant | SandboxResponse {
    const space = Number(req.headers.space);
    const m = merchants.get(space);
    if (!m) return error(401, 'UNAUTHORIZED', 'the Space header names no space this user may access');
    const auth = String(req.headers.authorization ?? '');
    const token = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(auth);
    if (!token) return error(401, 'UNAUTHORIZED', 'Authorization must be "Bearer <JWT>"');
    const [, h, p, s] = token;
    const header = b64urlJson(h);
    const payload = b64urlJson(p);
    if (!header || header.alg !== 'HS256' || header.typ !== 'JWT') return error(401, 'UNAUTHORIZED', 'the JWT header must be {alg: HS256, typ: JWT}');
    if (!payload) return error(401, 'UNAUTHORIZED', 'the JWT payload is not JSON');
    if (payload.sub !== String(m.user_id)) return error(401, 'UNAUTHORIZED', 'the JWT sub is not an application user of this space');
    const expected = createHmac('sha256', Buffer.from(m.auth_key, 'base64')).update(`${h}.${p}`).digest('base64url');
    if (!constantTimeEqual(expected, s)) return error(401, 'UNAUTHORIZED', 'the JWT signature is invalid');
    if (payload.requestPath !== req.path) return error(401, 'UNAUTHORIZED', `the JWT requestPath ${JSON.stringify(payload.requestPath)} is not this request's ${req.path}`);
    if (payload.requestMethod !== req.method) return error(401, 'UNAUTHORIZED', "the JWT requestMethod is not this request's method");
    if (!isNumber(payload.iat) || Math.abs(Date.now() / 1000 - payload.iat) > JWT_MAX_SKEW_S) {
      return error(401, 'UNAUTHORIZED', 'the JWT iat is missing or more than five minutes off');
    }
    return m;
  }

  function refundView(r: SbRefund) {
    const tx = transactions.get(key(r.linkedSpaceId, r.transactionId))!;
    const { transactionId, ...rest } = r;
    void transactionId;
    return { ...rest, transaction: { id: tx.id, state: tx.state, currency: tx.currency, merchantReference: tx.merchantReference, linkedSpaceId: tx.linkedSpaceId } };
  }

  /** `query=<field>:"<value>"` (the sandbox's reading of the search language). */
  function searchTerm(query: URLSearchParams): { field: string; value: string } | undefined {
    const m = /^(\w+):"([^"]*)"$/.exec(query.get('query') ?? '');
    return m ? { field: m[1], value: m[2] } : undefined;
  }

  function createTransaction(m: VrSandboxMerchant, b: Record<string, unknown>): SandboxResponse {
    const currency = b.currency;
    if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) return error(400, 'VALIDATION_ERROR', 'currency must be an ISO 4217 code');
    if (typeof b.merchantReference !== 'string' || !b.merchantReference || b.merchantReference.length > 100) {
      return error(400, 'VALIDATION_ERROR', 'merchantReference must be 1-100 characters');
    }
    if (!Array.isArray(b.lineItems) || b.lineItems.length === 0) return error(400, 'VALIDATION_ERROR', 'lineItems must not be empty');
    let total = 0;
    for (const item of b.lineItems as Record<string, unknown>[]) {
      const amount = isNumber(item?.amountIncludingTax) ? minor(item.amountIncludingTax, currency) : undefined;
      if (amount === undefined) return error(400, 'VALIDATION_ERROR', `lineItems.amountIncludingTax must be an amount in ${currency} major units`);
      if (!Number.isSafeInteger(item.quantity) || (item.quantity as number) < 1) return error(400, 'VALIDATION_ERROR', 'lineItems.quantity must be a positive integer');
      if (typeof item.name !== 'string' || !item.name || typeof item.uniqueId !== 'string' || !item.uniqueId) {
        return error(400, 'VALIDATION_ERROR', 'lineItems need name and uniqueId');
      }
      if (!['PRODUCT', 'DISCOUNT', 'SHIPPING', 'FEE'].includes(item.type as string)) return error(400, 'VALIDATION_ERROR', 'lineItems.type is not a line item type');
      total += amount * (item.quantity as number);
    }
    for (const f of ['successUrl', 'failedUrl'] as const) {
      if (b[f] !== undefined && (typeof b[f] !== 'string' || !/^https?:\/\//.test(b[f] as string))) return error(400, 'VALIDATION_ERROR', `${f} must be a URL`);
    }
    const tx: SbTransaction = {
      id: nextId++,
      state: 'PENDING',
      currency,
      merchantReference: b.merchantReference,
      lineItems: b.lineItems as Record<string, unknown>[],
      authorizationAmount: Number(toMajor(total, currency)),
      completedAmount: 0,
      linkedSpaceId: m.space_id,
      createdOn: iso(),
      successUrl: b.successUrl as string | undefined,
      failedUrl: b.failedUrl as string | undefined,
      allowedPaymentMethodConfigurations: b.allowedPaymentMethodConfigurations as number[] | undefined,
      version: 1,
    };
    transactions.set(key(m.space_id, tx.id), tx);
    return json(200, tx);
  }

  function createRefund(m: VrSandboxMerchant, b: Record<string, unknown>): SandboxResponse {
    if (b.type !== 'MERCHANT_INITIATED_ONLINE') return error(400, 'VALIDATION_ERROR', 'type must be MERCHANT_INITIATED_ONLINE');
    if (typeof b.externalId !== 'string' || !b.externalId) return error(400, 'VALIDATION_ERROR', 'externalId is required');
    const tx = isNumber(b.transaction) ? transactions.get(key(m.space_id, b.transaction)) : undefined;
    if (!tx) return error(400, 'VALIDATION_ERROR', 'transaction names no transaction of this space');
    const amount = isNumber(b.amount) ? minor(b.amount, tx.currency) : undefined;
    if (!amount) return error(400, 'VALIDATION_ERROR', `amount must be a positive amount in ${tx.currency}`);
    const same = [...refunds.values()].find((r) => r.linkedSpaceId === m.space_id && r.externalId === b.externalId);
    if (same) {
      // The externalId makes the call idempotent: the same request answers the same refund.
      if (same.transactionId !== tx.id || minor(same.amount, tx.currency) !== amount) return error(400, 'DUPLICATE_EXTERNAL_ID', 'externalId is already used by another refund');
      return json(200, refundView(same));
    }
    if (!PAID.includes(tx.state)) return error(400, 'TRANSACTION_NOT_REFUNDABLE', `the transaction is ${tx.state}`);
    const refunded = [...refunds.values()]
      .filter((r) => r.linkedSpaceId === m.space_id && r.transactionId === tx.id && r.state !== 'FAILED')
      .reduce((sum, r) => sum + minor(r.amount, tx.currency)!, 0);
    if (amount > minor(tx.completedAmount, tx.currency)! - refunded) return error(400, 'AMOUNT_EXCEEDS_REFUNDABLE', 'the amount is more than is left to refund');
    const r: SbRefund = {
      id: nextId++,
      state: 'PENDING',
      externalId: b.externalId,
      amount: b.amount as number,
      type: b.type,
      transactionId: tx.id,
      linkedSpaceId: m.space_id,
      createdOn: iso(),
    };
    refunds.set(key(m.space_id, r.id), r);
    return json(200, refundView(r));
  }

  async function api(req: SandboxRequest): Promise<SandboxResponse> {
    const who = authenticate(req);
    if ('status' in who) return who;
    const m = who;
    const url = new URL(req.path, 'http://sandbox');
    const path = url.pathname.slice(PREFIX.length);
    let body: Record<string, unknown> = {};
    if (req.method === 'POST' && req.body.length) {
      const b = jsonBody(req);
      if (Object.keys(b).length === 0) return error(400, 'VALIDATION_ERROR', 'the body must be a JSON object');
      body = b;
    }
    const route = `${req.method} ${path.replace(/\/\d+(?=\/|$)/, '/{id}')}`;
    const id = /\/(\d+)(?=\/|$)/.exec(path)?.[1];
    const tx = id ? transactions.get(key(m.space_id, id)) : undefined;

    switch (route) {
      case 'POST /payment/transactions':
        return createTransaction(m, body);
      case 'GET /payment/transactions/search': {
        const term = searchTerm(url.searchParams);
        if (!term) return error(400, 'INVALID_QUERY', 'query must be field:"value"');
        const data = [...transactions.values()].filter((t) => t.linkedSpaceId === m.space_id && String((t as unknown as Record<string, unknown>)[term.field]) === term.value);
        return json(200, { data, offset: 0, limit: 100 });
      }
      case 'GET /payment/transactions/{id}':
        return tx ? json(200, tx) : error(404, 'NOT_FOUND', `no transaction ${id}`);
      case 'GET /payment/transactions/{id}/payment-page-url': {
        if (!tx) return error(404, 'NOT_FOUND', `no transaction ${id}`);
        if (!['CREATE', 'PENDING', 'CONFIRMED'].includes(tx.state)) return error(400, 'INVALID_STATE', `the transaction is ${tx.state}`);
        if (tx.state !== 'CONFIRMED') tx.state = 'CONFIRMED';
        const page = `https://gateway.vr-payment.de/s/${m.space_id}/payment/transaction/pay/${tx.id}?securityToken=${randomBytes(12).toString('hex')}`;
        return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: page };
      }
      case 'POST /payment/transactions/{id}/void-online': {
        if (!tx) return error(404, 'NOT_FOUND', `no transaction ${id}`);
        if (!OPEN.includes(tx.state)) return error(400, 'INVALID_STATE', `a ${tx.state} transaction cannot be voided`);
        tx.state = 'VOIDED';
        tx.version++;
        return json(200, { id: nextId++, state: 'SUCCESSFUL', transaction: tx, linkedSpaceId: m.space_id });
      }
      case 'POST /payment/refunds':
        return createRefund(m, body);
      case 'GET /payment/refunds/search': {
        const term = searchTerm(url.searchParams);
        if (!term || term.field !== 'externalId') return error(400, 'INVALID_QUERY', 'query must be externalId:"value"');
        const data = [...refunds.values()].filter((r) => r.linkedSpaceId === m.space_id && r.externalId === term.value).map(refundView);
        return json(200, { data, offset: 0, limit: 100 });
      }
      case 'GET /payment/refunds/{id}': {
        const r = id ? refunds.get(key(m.space_id, id)) : undefined;
        return r ? json(200, refundView(r)) : error(404, 'NOT_FOUND', `no refund ${id}`);
      }
      default:
        return error(404, 'NOT_FOUND', `no operation ${req.method} ${path}`);
    }
  }

  /** The space webhook: names the entity only, as wallee's listeners do. */
  async function webhook(m: VrSandboxMerchant, entity: 'Transaction' | 'Refund', entityId: number, state: string): Promise<Delivery | null> {
    if (!m.webhook_url) return null;
    const body = {
      eventId: nextId++,
      entityId,
      listenerEntityId: entity === 'Transaction' ? 1472041829003 : 1472041839405,
      listenerEntityTechnicalName: entity,
      spaceId: m.space_id,
      webhookListenerId: 1,
      timestamp: iso(),
      state,
    };
    return deliver(m.webhook_url, JSON.stringify(body), { 'content-type': 'application/json' });
  }

  /** `POST /pay {out_trade_no | merchantReference | transaction, space_id?, result?}`: the payer pays on the page. */
  async function simulatePay(b: Record<string, unknown>): Promise<SandboxResponse> {
    const ref = b.out_trade_no ?? b.merchantReference;
    const candidates = [...transactions.values()]
      .filter((t) => (b.space_id === undefined || t.linkedSpaceId === b.space_id) && (b.transaction !== undefined ? t.id === Number(b.transaction) : t.merchantReference === ref))
      .sort((x, y) => y.id - x.id);
    const tx = candidates.find((t) => OPEN.includes(t.state)) ?? candidates[0];
    if (!tx) return json(404, { error: `no transaction for ${JSON.stringify(b.transaction ?? ref)} in the sandbox; create the order first` });
    const result = typeof b.result === 'string' ? b.result : 'FULFILL';
    if (![...PAID, 'FAILED', 'DECLINE', 'AUTHORIZED'].includes(result)) return json(400, { error: 'result is one of FULFILL, COMPLETED, AUTHORIZED, FAILED, DECLINE' });
    if (!OPEN.includes(tx.state) && tx.state !== result) return json(409, { error: `the transaction is ${tx.state}` });
    if (tx.state !== result) {
      tx.state = result;
      tx.version++;
      if ([...PAID, 'AUTHORIZED'].includes(result)) tx.authorizedOn = iso();
      if (PAID.includes(result)) {
        tx.completedAmount = tx.authorizationAmount;
        tx.completedOn = iso();
      }
    }
    const m = merchants.get(tx.linkedSpaceId)!;
    return json(200, { transaction: tx.id, merchantReference: tx.merchantReference, state: tx.state, notify: await webhook(m, 'Transaction', tx.id, tx.state) });
  }

  /** `POST /refund {out_refund_no | externalId | refund, result?: SUCCESSFUL | FAILED}`: the refund ends. */
  async function completeRefund(b: Record<string, unknown>): Promise<SandboxResponse> {
    const externalId = b.out_refund_no ?? b.externalId;
    const r = [...refunds.values()].find((x) => (b.refund !== undefined ? x.id === Number(b.refund) : x.externalId === externalId));
    if (!r) return json(404, { error: `no refund ${JSON.stringify(b.refund ?? externalId)} in the sandbox` });
    const result = b.result === 'FAILED' ? 'FAILED' : 'SUCCESSFUL';
    if (r.state === 'PENDING') {
      r.state = result;
      if (result === 'SUCCESSFUL') r.succeededOn = iso();
      else r.failedOn = iso();
    }
    const m = merchants.get(r.linkedSpaceId)!;
    return json(200, { refund: r.id, externalId: r.externalId, state: r.state, notify: await webhook(m, 'Refund', r.id, r.state) });
  }

  return {
    name: 'vr',
    addMerchant: (m) => merchants.set(m.space_id, { webhook_url: merchants.get(m.space_id)?.webhook_url, ...m }),
    setFault: (f, count = 1) => {
      fault = f ? { kind: f, left: count } : null;
    },
    transaction: (spaceId, id) => transactions.get(key(spaceId, id)),
    refund: (spaceId, id) => refunds.get(key(spaceId, id)),
    async handle(req) {
      const control = req.path.replace(/^\/+/, '').replace(/\?.*$/, '');
      if (req.method === 'POST' && control === 'pay') return simulatePay(jsonBody(req));
      if (req.method === 'POST' && control === 'refund') return completeRefund(jsonBody(req));
      if (req.method === 'POST' && control === 'faults') {
        const b = jsonBody(req);
        fault = b.mode ? { kind: b.mode as Fault, left: typeof b.count === 'number' ? b.count : 1 } : null;
        return json(200, { fault });
      }
      if (!req.path.startsWith(`${PREFIX}/`)) return error(404, 'NOT_FOUND', `no route ${req.path}; the API is under ${PREFIX}`);
      const active = fault;
      if (active) {
        if (--active.left <= 0) fault = null;
        if (active.kind === '5xx') return { status: 503, headers: { 'content-type': 'text/html' }, body: '<html>503 Service Unavailable</html>' };
        if (active.kind === 'garbage') return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":12,"sta' };
        // VR Payment's answers carry no signature of their own: a bad signature is ours, refused with 401.
        if (active.kind === 'badsign') return error(401, 'UNAUTHORIZED', 'the JWT signature is invalid');
        await new Promise((r) => setTimeout(r, opts.stallMs ?? 15_000).unref());
        return error(504, 'GATEWAY_TIMEOUT', 'timed out');
      }
      return api(req);
    },
  };
}
