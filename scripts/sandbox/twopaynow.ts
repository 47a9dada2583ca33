/**
 * A 2paynow sandbox written from protocols/acquirers.md §1b: the gateway (`GET /zhifu/mc_itf?function=...`)
 * checks every request's `md5(function + mid + timestamp + key)` with the merchant's key, answers JSON with a
 * numeric `status` (errors: `status` + `error_info`, e.g. 403 "mid not exist") and amounts as JSON numbers,
 * keeps trades and refunds in memory, and plays the payer by sending the query-string notification 2paynow
 * sends (signed, but over no amount or state). 2paynow publishes no in-app WeChat or refund function; this
 * one issues `jsapi_precreate` (payer in `sub_openid` / `sub_appid`, the five wx.requestPayment fields in
 * the JSON string `pay_info`) and `refund` (`trade_no`, `refund_amount`, `currency`, `merchant_refund_no`;
 * done when answered).
 */
import http from 'http';
import https from 'https';
import { randomBytes } from 'crypto';
import { fromMajor, toMajor } from '../../shared/core/money';
import { constantTimeEqual, md5Hex } from '../../shared/crypto/hash';
import { sortedQuery } from '../../shared/crypto/query';
import { deliver, type Delivery } from './deliver';
import { json, jsonBody, type Sandbox, type SandboxRequest, type SandboxResponse } from './types';

export const SANDBOX_JSAPI_FUNCTION = 'jsapi_precreate';
export const SANDBOX_REFUND_FUNCTION = 'refund';
const GATEWAY = '/zhifu/mc_itf';

export interface TwoPayNowSandboxMerchant {
  mid: string;
  key: string;
}

type TransStatus = 'UNKNOWN' | 'TRADE_SUCCESS' | 'TRADE_FAILED' | 'TRADE_CLOSED';

export interface SbTrade {
  mid: string;
  trade_no: string;
  merchant_trade_no: string;
  /** The function that created it: its notification names it. */
  function: string;
  type: string;
  amount: string;
  currency: string;
  notify_url: string;
  passback_parameters: string;
  trans_status: TransStatus;
  trans_time?: string;
  /** Minor units refunded so far. */
  refunded: number;
  pay_info?: string;
  qr_code?: string;
}

interface SbRefund {
  mid: string;
  refund_no: string;
  merchant_refund_no: string;
  trade_no: string;
  refund_amount: string;
  currency: string;
}

type Fault = '5xx' | 'timeout' | 'garbage' | 'badsign';

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
const signOf = (fn: string, mid: string, ts: string, key: string) => md5Hex(`${fn}${mid}${ts}${key}`);
const timeText = () => new Date().toISOString().slice(0, 19).replace('T', ' ');

/** JSON with the amount fields as numbers, written from their decimal text (as a PHP gateway's floats print). */
function emit(status: number, value: Record<string, unknown>): SandboxResponse {
  const body = JSON.stringify(value).replace(/"(amount|refund_amount|amount_cny)":"(\d+(?:\.\d+)?)"/g, '"$1":$2');
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
}

/** Delivers a notification as a GET with the fields in the query string. */
function deliverGet(url: string, query: string, timeoutMs = 10_000): Promise<Delivery> {
  const target = `${url}${url.includes('?') ? '&' : '?'}${query}`;
  return new Promise((resolve, reject) => {
    const u = new URL(target);
    const req = (u.protocol === 'https:' ? https : http).request(u, { method: 'GET', timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ url, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('notify delivery timed out')));
    req.on('error', reject);
    req.end();
  });
}

export function twoPayNowSandbox(opts: { stallMs?: number } = {}): Sandbox & {
  addMerchant(m: TwoPayNowSandboxMerchant): void;
  setFault(f: Fault | null, count?: number): void;
  /** A trade by 2paynow's trade_no or the merchant's order number (mutable: tests reshape what 2paynow reports). */
  trade(mid: string, no: string): SbTrade | undefined;
  /** How many refund requests named this merchant_refund_no (repeats included). */
  refundRequests(merchantRefundNo: string): number;
} {
  const merchants = new Map<string, TwoPayNowSandboxMerchant>();
  const trades = new Map<string, SbTrade>();
  const refunds = new Map<string, SbRefund>();
  const refundRequests = new Map<string, number>();
  /** The sandbox's own WeChat Pay key, for the paySign of pay_info (the merchant never sees it). */
  const wechatKey = randomBytes(16).toString('hex');
  let fault: { kind: Fault; left: number } | null = null;

  const findTrade = (mid: string | undefined, no: string) =>
    trades.get(no) ?? [...trades.values()].find((x) => (!mid || x.mid === mid) && (x.merchant_trade_no === no || x.trade_no === no));

  /** Takes one unit of the active fault when it is `kind`. */
  function take(kind: Fault): boolean {
    if (fault?.kind !== kind) return false;
    if (--fault.left <= 0) fault = null;
    return true;
  }

  const error = (status: number, info: string) => emit(200, { status, error_info: info });

  function answer(fn: string, m: TwoPayNowSandboxMerchant, fields: Record<string, unknown>): SandboxResponse {
    const timestamp = String(Date.now());
    const sign = signOf(fn, m.mid, timestamp, take('badsign') ? 'not-the-key' : m.key);
    return emit(200, { status: 200, function: fn, timestamp, sign, ...fields });
  }

  /** Checks an order's fields: 400 and a reason when one is missing or malformed. */
  function orderProblem(q: Record<string, string>): string | undefined {
    for (const f of ['subject', 'amount', 'currency', 'notify_url']) if (!q[f]) return `${f} is required`;
    if (!/^[A-Z]{3}$/.test(q.currency)) return 'currency invalid';
    const minor = fromMajor(q.amount, q.currency);
    if (minor === undefined || minor <= 0 || !/^\d+(\.\d+)?$/.test(q.amount)) return 'amount invalid';
    if (!/^https?:\/\//.test(q.notify_url)) return 'notify_url invalid';
    if (q.it_b_pay && !/^([1-9][0-9]{0,3}[mhd]|1c)$/.test(q.it_b_pay)) return 'it_b_pay invalid';
    return undefined;
  }

  /** A new trade, or the existing one for the same merchant_trade_no when it asks for the same payment. */
  function openTrade(fn: string, m: TwoPayNowSandboxMerchant, q: Record<string, string>): SbTrade | string {
    const existing = q.merchant_trade_no ? findTrade(m.mid, q.merchant_trade_no) : undefined;
    if (existing) {
      if (existing.amount !== q.amount || existing.currency !== q.currency || existing.function !== fn || existing.type !== q.type) {
        return 'merchant_trade_no already used';
      }
      if (existing.trans_status !== 'UNKNOWN') return `trade is ${existing.trans_status}`;
      return existing;
    }
    const t: SbTrade = {
      mid: m.mid,
      trade_no: `A${digits(17)}`,
      merchant_trade_no: q.merchant_trade_no ?? '',
      function: fn,
      type: q.type,
      amount: q.amount,
      currency: q.currency,
      notify_url: q.notify_url,
      passback_parameters: q.passback_parameters ?? '',
      trans_status: 'UNKNOWN',
      refunded: 0,
    };
    trades.set(t.trade_no, t);
    return t;
  }

  function gateway(req: SandboxRequest): SandboxResponse {
    const url = new URL(req.path, 'http://sandbox');
    if (url.pathname !== GATEWAY) return { status: 404, headers: { 'content-type': 'text/html' }, body: '<html>404 Not Found</html>' };
    if (req.method !== 'GET') return error(405, 'requests are GET with a query string');
    const q = Object.fromEntries(url.searchParams);
    const fn = q.function;
    if (!fn || !q.mid || !q.timestamp || !q.sign) return error(400, 'function, mid, timestamp and sign are required');
    const m = merchants.get(q.mid);
    if (!m) return error(403, 'mid not exist');
    if (!/^[0-9]{13}$/.test(q.timestamp)) return error(400, 'timestamp must be milliseconds');
    if (!constantTimeEqual(signOf(fn, m.mid, q.timestamp, m.key), q.sign)) return error(403, 'sign check failed');

    switch (fn) {
      case 'precreate': {
        if (q.type !== '0' && q.type !== '1') return error(400, 'type must be 0 (Alipay) or 1 (WeChat)');
        const problem = orderProblem(q);
        if (problem) return error(400, problem);
        const t = openTrade(fn, m, q);
        if (typeof t === 'string') return error(400, t);
        t.qr_code ??= t.type === '0' ? `https://qr.alipay.com/bax0${randomBytes(10).toString('hex')}` : `weixin://wxpay/bizpayurl?pr=${randomBytes(6).toString('hex')}`;
        return answer(fn, m, { trade_no: t.trade_no, qr_code: t.qr_code, pic_url: `https://www.2paynow.com/qr/${t.trade_no}.png` });
      }
      case SANDBOX_JSAPI_FUNCTION: {
        if (q.type !== '1') return error(400, 'type must be 1 (WeChat)');
        if (!q.sub_openid) return error(400, 'sub_openid is required');
        if (q.sub_appid !== undefined && !/^wx[0-9a-f]{16}$/.test(q.sub_appid)) return error(400, 'sub_appid invalid');
        const problem = orderProblem(q);
        if (problem) return error(400, problem);
        const t = openTrade(fn, m, q);
        if (typeof t === 'string') return error(400, t);
        if (!t.pay_info) {
          const fields = {
            appId: q.sub_appid ?? 'wx0000000000000000',
            timeStamp: String(Math.floor(Date.now() / 1000)),
            nonceStr: randomBytes(8).toString('hex'),
            package: `prepay_id=wx${digits(30)}`,
            signType: 'MD5',
          };
          t.pay_info = JSON.stringify({ ...fields, paySign: md5Hex(`${sortedQuery(fields)}&key=${wechatKey}`).toUpperCase() });
        }
        return answer(fn, m, { trade_no: t.trade_no, pay_info: t.pay_info });
      }
      case 'query': {
        const t = q.trade_no ? findTrade(m.mid, q.trade_no) : undefined;
        if (!t || t.mid !== m.mid) return error(404, 'trade not exist');
        return answer(fn, m, {
          trade_no: t.trade_no,
          merchant_trade_no: t.merchant_trade_no,
          trans_status: t.trans_status,
          trans_time: t.trans_time ?? '',
          amount: t.amount,
          currency: t.currency,
          forex_rate: '7.8',
          refund_amount: toMajor(t.refunded, t.currency),
        });
      }
      case 'cancel': {
        const t = q.trade_no ? findTrade(m.mid, q.trade_no) : undefined;
        if (!t || t.mid !== m.mid) return error(404, 'trade not exist');
        if (t.trans_status === 'TRADE_SUCCESS') return error(400, 'trade has been paid');
        t.trans_status = 'TRADE_CLOSED';
        return answer(fn, m, { trade_no: t.trade_no });
      }
      case SANDBOX_REFUND_FUNCTION: {
        const t = q.trade_no ? findTrade(m.mid, q.trade_no) : undefined;
        if (!t || t.mid !== m.mid) return error(404, 'trade not exist');
        if (t.trans_status !== 'TRADE_SUCCESS') return error(400, 'trade is not paid');
        if (!q.merchant_refund_no) return error(400, 'merchant_refund_no is required');
        refundRequests.set(q.merchant_refund_no, (refundRequests.get(q.merchant_refund_no) ?? 0) + 1);
        if (q.currency !== t.currency) return error(400, 'currency differs from the trade');
        const minor = fromMajor(q.refund_amount, t.currency);
        if (!minor || minor <= 0) return error(400, 'refund_amount invalid');
        const key = `${m.mid}/${q.merchant_refund_no}`;
        const seen = refunds.get(key);
        if (seen) {
          if (seen.trade_no !== t.trade_no || seen.refund_amount !== q.refund_amount) return error(400, 'merchant_refund_no already used');
        } else {
          if (minor > fromMajor(t.amount, t.currency)! - t.refunded) return error(400, 'refund_amount exceeds the refundable amount');
          t.refunded += minor;
          refunds.set(key, { mid: m.mid, refund_no: `R${digits(17)}`, merchant_refund_no: q.merchant_refund_no, trade_no: t.trade_no, refund_amount: q.refund_amount, currency: t.currency });
        }
        const r = refunds.get(key)!;
        return answer(fn, m, { trade_no: t.trade_no, refund_no: r.refund_no, merchant_refund_no: r.merchant_refund_no, refund_amount: r.refund_amount, currency: r.currency });
      }
      default:
        return error(404, 'function not exist');
    }
  }

  /** The notification 2paynow sends for a paid trade. */
  function notification(t: SbTrade): URLSearchParams {
    const m = merchants.get(t.mid)!;
    const timestamp = String(Date.now());
    const minor = fromMajor(t.amount, t.currency)!;
    return new URLSearchParams({
      sign: signOf(t.function, m.mid, timestamp, take('badsign') ? 'not-the-key' : m.key),
      timestamp,
      trade_no: t.trade_no,
      merchant_trade_no: t.merchant_trade_no,
      amount_cny: toMajor(Math.round((minor * 78) / 10), 'CNY'),
      function: t.function,
      currency: t.currency,
      trade_status: 'TRADE_SUCCESS',
      mid: m.mid,
      passback_parameters: t.passback_parameters,
      amount: t.amount,
    });
  }

  /**
   * `POST /pay {out_trade_no | order_id | trade_no, result?, method?, deliver?}`: the payer pays (or the trade
   * fails or closes). A paid trade's notification goes to its notify_url as a form POST, or as a GET with
   * `method: 'GET'`; `deliver: false` loses it. 2paynow documents no notification for failed trades.
   */
  async function simulatePay(b: Record<string, unknown>): Promise<SandboxResponse> {
    const no = String(b.out_trade_no ?? b.order_id ?? b.trade_no ?? '');
    const t = findTrade(undefined, no);
    if (!t) return json(404, { error: `no trade ${no} in the sandbox; create it first` });
    const result = (['TRADE_FAILED', 'TRADE_CLOSED'] as const).find((r) => r === b.result) ?? 'TRADE_SUCCESS';
    if (t.trans_status !== 'UNKNOWN' && t.trans_status !== result) return json(409, { error: `trade is ${t.trans_status}` });
    t.trans_status = result;
    if (result === 'TRADE_SUCCESS') t.trans_time ??= timeText();
    let notify: Delivery | null = null;
    if (result === 'TRADE_SUCCESS' && b.deliver !== false) {
      const fields = notification(t).toString();
      notify =
        b.method === 'GET'
          ? await deliverGet(t.notify_url, fields)
          : await deliver(t.notify_url, fields, { 'content-type': 'application/x-www-form-urlencoded' });
    }
    return json(200, { trade_no: t.trade_no, out_trade_no: t.merchant_trade_no, trade_status: t.trans_status, notify });
  }

  /** `POST /refund {out_refund_no}`: refunds are done when answered, and 2paynow sends no refund notification. */
  function showRefund(b: Record<string, unknown>): SandboxResponse {
    const no = String(b.out_refund_no ?? b.merchant_refund_no ?? '');
    const r = [...refunds.values()].find((x) => x.merchant_refund_no === no || x.refund_no === no);
    if (!r) return json(404, { error: `no refund ${no} in the sandbox` });
    return json(200, { ...r, refund_status: 'REFUND_SUCCESS', notify: null });
  }

  return {
    name: '2paynow',
    addMerchant: (m) => merchants.set(m.mid, m),
    setFault: (f, count = 1) => {
      fault = f ? { kind: f, left: count } : null;
    },
    trade: (mid, no) => {
      const t = findTrade(mid, no);
      return t?.mid === mid ? t : undefined;
    },
    refundRequests: (no) => refundRequests.get(no) ?? 0,
    async handle(req) {
      const route = req.path.replace(/^\/+/, '').split('?')[0];
      if (req.method === 'POST' && route === 'pay') return simulatePay(jsonBody(req));
      if (req.method === 'POST' && route === 'refund') return showRefund(jsonBody(req));
      if (req.method === 'POST' && route === 'faults') {
        const b = jsonBody(req);
        fault = b.mode ? { kind: b.mode as Fault, left: typeof b.count === 'number' ? b.count : 1 } : null;
        return json(200, { fault });
      }
      if (take('5xx')) return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>502 Bad Gateway</html>' };
      if (take('garbage')) return { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body>Service temporarily unavailable' };
      if (take('timeout')) {
        await new Promise((r) => setTimeout(r, opts.stallMs ?? 15_000).unref());
        return { status: 504, headers: { 'content-type': 'text/html' }, body: '' };
      }
      return gateway(req);
    },
  };
}
