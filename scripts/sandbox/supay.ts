/**
 * A SuPay / SuperPay sandbox written from protocols/acquirers.md §1c: one JSON endpoint
 * (`POST /api/gateway/merchant/order`) whose `service` picks the operation. It checks every request's sign
 * (upper-case MD5 over the sorted non-empty fields but sign and sign_type, `&key=`) with the merchant's key,
 * answers `{status: T|F, message, data}` with `data` signed the same way, keeps trades and refunds in memory,
 * and plays the payer and the refund desk by POSTing signed form-urlencoded `trade_status_sync` /
 * `refund_status_sync` notifications to the request's `call_back_url`.
 *
 * Beyond the protocol notes (assumptions the adapter makes configurable): `query_trade` takes `trade_type`
 * `PAY` or `REFUND` and answers with the notification's field names; an unknown number is
 * `F TRADE_NOT_EXIST`; H5 and PC answer with the payment page url itself as `pay_info`.
 */
import { randomBytes } from 'crypto';
import { constantTimeEqual, md5Hex } from '../../shared/crypto/hash';
import { sortedQuery } from '../../shared/crypto/query';
import { deliver } from './deliver';
import { json, jsonBody, type Sandbox, type SandboxRequest, type SandboxResponse } from './types';

export interface SuPaySandboxMerchant {
  mch_id: string;
  key: string;
  /** The payee the merchant's account pays into (default its mch_id). */
  recevice_id?: string;
  /** Currencies the account takes (default AUD). */
  currencies?: string[];
  /** The mini-program bound to the account: pay_info's appId. */
  appid?: string;
}

type TradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED';
type RefundStatus = 'REFUND_PROCESSING' | 'REFUND_SUCCESS' | 'REFUND_FAIL';

interface SbTrade {
  mch_id: string;
  request: Record<string, string>;
  inner_trade_no: string;
  status: TradeStatus;
  pay_info: string;
  expires_at: number;
  /** Minor units refunded or being refunded. */
  refunded: number;
  gmt_payment?: string;
}

interface SbRefund {
  mch_id: string;
  mch_order_no: string;
  orig_mch_order_no: string;
  inner_trade_no: string;
  refund_amount: string;
  currency: string;
  status: RefundStatus;
  call_back_url: string;
}

type Fault = '5xx' | 'timeout' | 'garbage' | 'badsign';

export const SUPAY_SANDBOX_APPID = 'wx5a5a5a5a5a5a5a5a';
const PAY_WAYS = ['JSAPI', 'NATIVE', 'MWEB', 'APP', 'SDK', 'PC', 'H5'];
const CREATE_REQUIRED = ['recevice_id', 'store_name', 'call_back_url', 'mch_order_no', 'pay_way', 'currency', 'pay_amount', 'goods_name', 'goods_price', 'timeout_express'];

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
const now = () => new Date().toISOString().slice(0, 19).replace('T', ' ');
const signOf = (f: Record<string, unknown>, key: string) => md5Hex(`${sortedQuery(f, ['sign', 'sign_type'])}&key=${key}`).toUpperCase();
const exponent = (currency: string) => (currency === 'JPY' ? 0 : 2);

/** A positive major-unit amount with at most the currency's decimals, in minor units; undefined otherwise. */
function minor(amount: string | undefined, currency: string): number | undefined {
  const exp = exponent(currency);
  const m = /^(\d+)(?:\.(\d+))?$/.exec(amount ?? '');
  if (!m || (m[2] ?? '').length > exp) return undefined;
  const v = Number(m[1]) * 10 ** exp + Number((m[2] ?? '').padEnd(exp, '0') || '0');
  return v > 0 ? v : undefined;
}

export function suPaySandbox(opts: { stallMs?: number } = {}): Sandbox & {
  addMerchant(m: SuPaySandboxMerchant): void;
  setFault(f: Fault | null, count?: number): void;
  trade(mchId: string, mchOrderNo: string): SbTrade | undefined;
  refund(mchId: string, mchOrderNo: string): SbRefund | undefined;
} {
  const merchants = new Map<string, SuPaySandboxMerchant>();
  const trades = new Map<string, SbTrade>();
  const refunds = new Map<string, SbRefund>();
  let fault: { kind: Fault; left: number } | null = null;
  const key = (mchId: string, no: string) => `${mchId}/${no}`;

  const fail = (message: string) => json(200, { status: 'F', message, data: null });
  function ok(m: SuPaySandboxMerchant, data: Record<string, string | boolean>, badSign: boolean) {
    const d: Record<string, string | boolean> = { result: true, ...data };
    d.sign = signOf(d, badSign ? `not-${m.key}` : m.key);
    return json(200, { status: 'T', message: 'SUCCESS', data: d });
  }

  /** A trade past its timeout_express lapses, as SuPay's do. */
  function lookup(mchId: string, no: string | undefined): SbTrade | undefined {
    const t = no ? trades.get(key(mchId, no)) : undefined;
    if (t && t.status === 'WAIT_BUYER_PAY' && Date.now() > t.expires_at) t.status = 'TRADE_CLOSED';
    return t;
  }

  /** `base`: where this sandbox is reached, for the cashier page url of H5 and PC. */
  function createTrade(m: SuPaySandboxMerchant, r: Record<string, string>, badSign: boolean, base: string): SandboxResponse {
    for (const f of CREATE_REQUIRED) if (!r[f]) return fail(`${f} is required`);
    if (!PAY_WAYS.includes(r.pay_way)) return fail(`pay_way ${r.pay_way} is not one of ${PAY_WAYS.join('|')}`);
    if (!['JSAPI', 'H5', 'PC'].includes(r.pay_way)) return fail(`pay_way ${r.pay_way} is not enabled for this merchant`);
    if (r.pay_channel && !['WXPAY', 'ALIPAY'].includes(r.pay_channel)) return fail('pay_channel must be WXPAY or ALIPAY');
    if (r.pay_way === 'JSAPI' && (r.pay_channel !== 'WXPAY' || !r.subOpenId)) return fail('JSAPI needs pay_channel WXPAY and subOpenId');
    if (r.recevice_id !== (m.recevice_id ?? m.mch_id)) return fail('recevice_id is not a payee of this merchant');
    if (!(m.currencies ?? ['AUD']).includes(r.currency)) return fail(`currency ${r.currency} is not enabled for this merchant`);
    const amount = minor(r.pay_amount, r.currency);
    if (amount === undefined) return fail(`pay_amount ${r.pay_amount} is not an amount in ${r.currency}`);
    if (minor(r.goods_price, r.currency) !== amount * Number(r.quantity ?? '1')) return fail('pay_amount must be goods_price times quantity');
    const timeout = /^([1-9]\d*)([mhd])$/.exec(r.timeout_express);
    if (!timeout) return fail('timeout_express must be like 30m, 2h or 1d');
    if (!/^https?:\/\/[^\s?#]+$/.test(r.call_back_url)) return fail('call_back_url must be an http(s) url without query');

    const existing = lookup(m.mch_id, r.mch_order_no);
    if (existing) {
      if (existing.status === 'TRADE_SUCCESS') return fail('ORDER_PAID: the order is already paid');
      if (existing.status === 'TRADE_CLOSED') return fail('ORDER_CLOSED: the order is closed');
      const same = ['pay_amount', 'currency', 'pay_way', 'pay_channel', 'subOpenId'].every((f) => existing.request[f] === r[f]);
      if (!same) return fail('DUPLICATE_ORDER: mch_order_no is used by another order');
      return ok(m, { pay_info: existing.pay_info }, badSign);
    }
    const inner = `SP${digits(20)}`;
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[timeout[2] as 'm' | 'h' | 'd'];
    let payInfo: string;
    if (r.pay_way === 'JSAPI') {
      const p: Record<string, string> = {
        appId: m.appid ?? SUPAY_SANDBOX_APPID,
        timeStamp: String(Math.floor(Date.now() / 1000)),
        nonceStr: randomBytes(16).toString('hex'),
        package: `prepay_id=wx${digits(28)}`,
        signType: 'MD5',
      };
      // WeChat's paySign, made with a key only WeChat and SuPay hold.
      payInfo = JSON.stringify({ ...p, paySign: signOf(p, 'wechat-side-key') });
    } else {
      payInfo = `${base}/cashier/${inner}`;
    }
    trades.set(key(m.mch_id, r.mch_order_no), {
      mch_id: m.mch_id,
      request: r,
      inner_trade_no: inner,
      status: 'WAIT_BUYER_PAY',
      pay_info: payInfo,
      expires_at: Date.now() + Number(timeout[1]) * unit,
      refunded: 0,
    });
    return ok(m, { pay_info: payInfo }, badSign);
  }

  const tradeFields = (t: SbTrade): Record<string, string> => {
    const f: Record<string, string> = {
      outer_trade_no: t.request.mch_order_no,
      inner_trade_no: t.inner_trade_no,
      trade_status: t.status,
      trade_amount: t.request.pay_amount,
      currency: t.request.currency,
    };
    if (t.gmt_payment) f.gmt_payment = t.gmt_payment;
    return f;
  };
  const refundFields = (rf: SbRefund): Record<string, string> => ({
    outer_trade_no: rf.mch_order_no,
    orig_outer_trade_no: rf.orig_mch_order_no,
    inner_trade_no: rf.inner_trade_no,
    refund_status: rf.status,
    refund_amount: rf.refund_amount,
    currency: rf.currency,
  });

  function queryTrade(m: SuPaySandboxMerchant, r: Record<string, string>, badSign: boolean): SandboxResponse {
    if (!r.mch_order_no) return fail('mch_order_no is required');
    if (r.trade_type === 'PAY') {
      const t = lookup(m.mch_id, r.mch_order_no);
      return t ? ok(m, tradeFields(t), badSign) : fail('TRADE_NOT_EXIST');
    }
    if (r.trade_type === 'REFUND') {
      const rf = refunds.get(key(m.mch_id, r.mch_order_no));
      return rf ? ok(m, refundFields(rf), badSign) : fail('TRADE_NOT_EXIST');
    }
    return fail('trade_type must be PAY or REFUND');
  }

  function createRefund(m: SuPaySandboxMerchant, r: Record<string, string>, badSign: boolean): SandboxResponse {
    for (const f of ['mch_order_no', 'orig_mch_order_no', 'refund_amount', 'call_back_url']) if (!r[f]) return fail(`${f} is required`);
    const t = lookup(m.mch_id, r.orig_mch_order_no);
    if (!t) return fail('TRADE_NOT_EXIST: orig_mch_order_no');
    if (t.status !== 'TRADE_SUCCESS') return fail('TRADE_NOT_PAID: only a paid trade can be refunded');
    const amount = minor(r.refund_amount, t.request.currency);
    if (amount === undefined) return fail(`refund_amount ${r.refund_amount} is not an amount in ${t.request.currency}`);
    const existing = refunds.get(key(m.mch_id, r.mch_order_no));
    if (existing) {
      if (existing.orig_mch_order_no !== r.orig_mch_order_no || existing.refund_amount !== r.refund_amount) return fail('DUPLICATE_REFUND: mch_order_no is used by another refund');
      return ok(m, {}, badSign);
    }
    if (amount > minor(t.request.pay_amount, t.request.currency)! - t.refunded) return fail('REFUND_AMOUNT_EXCEEDED: more than the refundable amount');
    t.refunded += amount;
    refunds.set(key(m.mch_id, r.mch_order_no), {
      mch_id: m.mch_id,
      mch_order_no: r.mch_order_no,
      orig_mch_order_no: r.orig_mch_order_no,
      inner_trade_no: `RF${digits(20)}`,
      refund_amount: r.refund_amount,
      currency: t.request.currency,
      status: 'REFUND_PROCESSING',
      call_back_url: r.call_back_url,
    });
    return ok(m, {}, badSign);
  }

  async function api(req: SandboxRequest, badSign: boolean): Promise<SandboxResponse> {
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8'));
    } catch {
      return fail('INVALID_REQUEST: the body must be JSON');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return fail('INVALID_REQUEST: the body must be a JSON object');
    const r: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) {
      if (typeof v === 'string' || typeof v === 'number') r[k] = String(v);
      else if (v !== null) return fail(`INVALID_REQUEST: ${k} must be a string`);
    }
    const m = merchants.get(r.mch_id);
    if (!m) return fail('MERCHANT_NOT_EXIST: unknown mch_id');
    if (!r.sign || !constantTimeEqual(signOf(r, m.key), r.sign)) return fail('SIGN_ERROR: sign error');
    if (r.sign_type !== 'MD5' || r.charset !== 'UTF-8' || r.version !== '1.0') return fail('INVALID_REQUEST: sign_type MD5, charset UTF-8 and version 1.0 are required');
    switch (r.service) {
      case 'create_instant_trade':
        return createTrade(m, r, badSign, `${req.tls ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}/sandbox/supay`);
      case 'query_trade':
        return queryTrade(m, r, badSign);
      case 'create_refund':
        return createRefund(m, r, badSign);
      default:
        return fail(`UNKNOWN_SERVICE: ${r.service}`);
    }
  }

  /** A notification as SuPay POSTs it: form-urlencoded, signed with the merchant's key. */
  function notify(m: SuPaySandboxMerchant, url: string, type: string, fields: Record<string, string>) {
    const f: Record<string, string> = { notify_id: randomBytes(16).toString('hex'), notify_type: type, notify_time: now(), ...fields };
    const body = new URLSearchParams({ ...f, sign: signOf(f, m.key), sign_type: 'MD5' }).toString();
    return deliver(url, body, { 'content-type': 'application/x-www-form-urlencoded' });
  }

  /** `POST /pay {out_trade_no | order_id, mch_id?, result?}`: the payer pays (or the trade closes); the notification is delivered. */
  async function simulatePay(b: Record<string, unknown>): Promise<SandboxResponse> {
    const t = [...trades.values()].find(
      (x) => (x.request.mch_order_no === b.out_trade_no || x.inner_trade_no === b.order_id) && (!b.mch_id || x.mch_id === b.mch_id),
    );
    if (!t) return json(404, { error: `no trade ${String(b.out_trade_no ?? b.order_id)} in the sandbox; call create_instant_trade first` });
    lookup(t.mch_id, t.request.mch_order_no); // lapses it if its timeout_express has passed
    const result: TradeStatus = b.result === 'TRADE_CLOSED' ? 'TRADE_CLOSED' : 'TRADE_SUCCESS';
    if (result === 'TRADE_SUCCESS') {
      if (t.status === 'TRADE_CLOSED') return json(409, { error: 'the trade is closed' });
      t.status = 'TRADE_SUCCESS';
      t.gmt_payment ??= now();
    } else if (t.status === 'WAIT_BUYER_PAY') {
      t.status = 'TRADE_CLOSED';
    }
    const d = await notify(merchants.get(t.mch_id)!, t.request.call_back_url, 'trade_status_sync', tradeFields(t));
    return json(200, { out_trade_no: t.request.mch_order_no, inner_trade_no: t.inner_trade_no, trade_status: t.status, notify: d });
  }

  /** `POST /refund {out_refund_no, mch_id?, result?}`: the refund ends (REFUND_SUCCESS or REFUND_FAIL); its notification is delivered. */
  async function completeRefund(b: Record<string, unknown>): Promise<SandboxResponse> {
    const rf = [...refunds.values()].find((x) => x.mch_order_no === b.out_refund_no && (!b.mch_id || x.mch_id === b.mch_id));
    if (!rf) return json(404, { error: `no refund ${String(b.out_refund_no)} in the sandbox` });
    if (rf.status === 'REFUND_PROCESSING') {
      rf.status = b.result === 'REFUND_FAIL' ? 'REFUND_FAIL' : 'REFUND_SUCCESS';
      if (rf.status === 'REFUND_FAIL') trades.get(key(rf.mch_id, rf.orig_mch_order_no))!.refunded -= minor(rf.refund_amount, rf.currency)!;
    }
    const d = await notify(merchants.get(rf.mch_id)!, rf.call_back_url, 'refund_status_sync', refundFields(rf));
    return json(200, { out_refund_no: rf.mch_order_no, refund_status: rf.status, notify: d });
  }

  return {
    name: 'supay',
    addMerchant: (m) => merchants.set(m.mch_id, m),
    setFault: (f, count = 1) => {
      fault = f ? { kind: f, left: count } : null;
    },
    trade: (mchId, no) => trades.get(key(mchId, no)),
    refund: (mchId, no) => refunds.get(key(mchId, no)),
    async handle(req) {
      const path = req.path.split('?')[0].replace(/\/+$/, '');
      if (req.method === 'GET' && path.startsWith('/cashier/')) {
        const t = [...trades.values()].find((x) => x.inner_trade_no === path.slice('/cashier/'.length));
        if (!t) return json(404, { error: 'no such trade' });
        const page = `<html><body><h1>SuPay sandbox cashier</h1><p>${t.request.pay_channel ?? 'any'} ${t.request.currency} ${t.request.pay_amount}: ${t.status}</p></body></html>`;
        return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: page };
      }
      if (req.method !== 'POST') return json(405, { error: 'POST only' });
      if (path === '/pay') return simulatePay(jsonBody(req));
      if (path === '/refund') return completeRefund(jsonBody(req));
      if (path === '/faults') {
        const b = jsonBody(req);
        fault = b.mode ? { kind: b.mode as Fault, left: typeof b.count === 'number' ? b.count : 1 } : null;
        return json(200, { fault });
      }
      if (path !== '/api/gateway/merchant/order') return json(404, { error: `no route ${path}; the API is POST /api/gateway/merchant/order` });
      const active = fault;
      if (active && --active.left <= 0) fault = null;
      if (active?.kind === '5xx') return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>502 Bad Gateway</html>' };
      if (active?.kind === 'garbage') return { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body>Service temporarily unavailable</body></html>' };
      if (active?.kind === 'timeout') {
        await new Promise((r) => setTimeout(r, opts.stallMs ?? 15_000).unref());
        return { status: 504, headers: { 'content-type': 'text/plain' }, body: '' };
      }
      return api(req, active?.kind === 'badsign');
    },
  };
}
