/**
 * A YabandPay v3 sandbox written from protocols/acquirers.md §1a: `POST /Payments` with the JSON envelope
 * `{user, method, time, sign, data}`, the sign checked with the cashier account's secret (the official
 * library's rule: every field, empty ones too, sorted), answers `{status, code, message, data}` (refusals
 * `status: false`), trades and refunds in memory. As the payer and the refund desk it delivers the signed
 * `{sign, data}` notifications (sign over `data` only) to the notify_url each request named.
 *
 * Settlement: the merchant is paid out in EUR (`settlement_currency`); a trade in another currency settles at
 * the sandbox's rate (`SETTLEMENT_RATES`, rounded half up to the cent), reported by the create answer, by
 * `v3.QueryOrder` and by the notification (the latter two leave it out for a trade a test marks `omit_settlement`). A refund may be made in the trade's currency or in the settlement
 * currency (then counted against the settlement amount). `v3.TimeRefundOrder` (`start_time`, `end_time` in
 * seconds or milliseconds) lists the refunds created in that window as `data.list` [?].
 */
import { randomBytes } from 'crypto';
import { constantTimeEqual, hmacSha256Hex, md5Hex } from '../../shared/crypto/hash';
import { currencyExponent, fromMajor, toMajor } from '../../shared/core/money';
import { deliver, type Delivery } from './deliver';
import { json, jsonBody, type Sandbox, type SandboxRequest, type SandboxResponse } from './types';

export interface YabandSandboxMerchant {
  user: string;
  secret: string;
}

type TradeState = 'new' | 'pending' | 'processing' | 'paid' | 'canceled' | 'failed' | 'refunded' | 'expired' | 'completed';

export interface YabandSandboxTrade {
  user: string;
  trade_id: string;
  method: string;
  data: Record<string, unknown>;
  order_id: string;
  amount: string;
  currency: string;
  state: TradeState;
  transaction_id?: string;
  /** Refunded so far, in minor units of the trade's currency and of the settlement currency. */
  refunded: number;
  refunded_settled: number;
  settlement_amount: string;
  settlement_currency: string;
  exchange_rate: string;
  /** Test control: the query answer and the notification leave the settlement fields out. */
  omit_settlement?: boolean;
}

export interface YabandSandboxRefund {
  user: string;
  refund_id: string;
  m_refund_id?: string;
  trade_id: string;
  amount: number;
  currency: string;
  notify_url: string;
  state: 'pending' | 'refunded' | 'failed';
  created_ms: number;
}

type Fault = '5xx' | 'timeout' | 'garbage' | 'badsign';

const PAGE_SUB_METHODS = ['WeChat Pay', 'Alipay', 'UnionPay', 'iDeal', 'Sofort/Digital', 'Sofort/Physical', 'Bancontact'];
const REQUIRED = ['pay_method', 'sub_pay_method', 'order_id', 'amount', 'currency', 'description', 'notify_url'];

/** The merchant is paid out in this currency; the sandbox's rates from the others (1 unit = rate EUR). */
export const SETTLEMENT_CURRENCY = 'EUR';
export const SETTLEMENT_RATES: Readonly<Record<string, string>> = {
  EUR: '1', CNY: '0.1285', HKD: '0.1180', GBP: '1.1700', CHF: '1.0400', DKK: '0.1340', SEK: '0.0870', PLN: '0.2300', NOK: '0.0860', USD: '0.9200', HUF: '0.0025', CZK: '0.0400',
};

/** `amount` (major-unit text in `currency`) at `rate`, in the settlement currency's major-unit text, half up to its minor unit. */
function settle(amount: string, currency: string, rate: string): string {
  const [int, frac = ''] = rate.split('.');
  const scaledRate = BigInt(int + frac);
  const minor = BigInt(fromMajor(amount, currency)!);
  const num = minor * scaledRate * 10n ** BigInt(currencyExponent(SETTLEMENT_CURRENCY));
  const den = 10n ** BigInt(currencyExponent(currency) + frac.length);
  return toMajor(Number((2n * num + den) / (2n * den)), SETTLEMENT_CURRENCY);
}

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
const scalar = (v: unknown) => (v === true ? '1' : v === false || v === null || v === undefined ? '' : String(v));

/** `k=v&...` over every field, sorted by name, empty values kept (Yaband's own library). */
function signText(fields: Record<string, unknown>): string {
  return Object.keys(fields)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `${k}=${scalar(fields[k])}`)
    .join('&');
}

const ok = (data: unknown) => json(200, { status: true, code: 200, message: 'success', data });
const refuse = (code: number, message: string) => json(200, { status: false, code, message, data: null });

export function yabandSandbox(opts: { stallMs?: number } = {}): Sandbox & {
  addMerchant(m: YabandSandboxMerchant): void;
  setFault(f: Fault | null, count?: number): void;
  /** A trade by Yaband's trade_id or the merchant's order_id. */
  trade(id: string): YabandSandboxTrade | undefined;
  refund(id: string): YabandSandboxRefund | undefined;
  /** Every envelope received, as parsed (the latest last). */
  requests: Record<string, unknown>[];
  /** Signs a notification's data as Yaband does, for tests that forge or replay one. */
  signNotification(user: string, data: Record<string, unknown>): { sign: string; data: Record<string, unknown> };
} {
  const merchants = new Map<string, YabandSandboxMerchant>();
  const trades = new Map<string, YabandSandboxTrade>();
  const refunds = new Map<string, YabandSandboxRefund>();
  const requests: Record<string, unknown>[] = [];
  // The key Yaband's own WeChat merchant signs paySign with: the merchant never sees it.
  const wechatKey = randomBytes(16).toString('hex');
  let fault: { kind: Fault; left: number } | null = null;

  function takeFault(kinds: Fault[]): Fault | null {
    if (!fault || !kinds.includes(fault.kind)) return null;
    const kind = fault.kind;
    if (--fault.left <= 0) fault = null;
    return kind;
  }

  const byOrder = (user: string, orderId: string) => [...trades.values()].find((t) => t.user === user && t.order_id === orderId);

  function tradeData(t: YabandSandboxTrade) {
    return {
      trade_id: t.trade_id,
      order_id: t.order_id,
      amount: t.amount,
      currency: t.currency,
      ...(t.omit_settlement ? {} : { settlement_amount: t.settlement_amount, settlement_currency: t.settlement_currency, exchange_rate: t.exchange_rate }),
      state: t.state,
      sub_pay_method: t.data.sub_pay_method,
      transaction_id: t.transaction_id ?? '',
    };
  }

  function signNotification(user: string, data: Record<string, unknown>, badsign = false) {
    const secret = badsign ? 'not-the-merchant-secret' : merchants.get(user)!.secret;
    return { sign: hmacSha256Hex(secret, signText(data)), data };
  }

  async function send(url: string, user: string, data: Record<string, unknown>, form: boolean): Promise<Delivery> {
    const body = JSON.stringify(signNotification(user, data, takeFault(['badsign']) === 'badsign'));
    return form
      ? deliver(url, `resultData=${encodeURIComponent(body)}`, { 'content-type': 'application/x-www-form-urlencoded' })
      : deliver(url, body, { 'content-type': 'application/json' });
  }

  function createPayment(m: YabandSandboxMerchant, method: string, d: Record<string, unknown>): SandboxResponse {
    const mini = method === 'v3.CreatePaymentsWechatMiniPay';
    for (const f of mini ? [...REQUIRED, 'sub_app_id', 'sub_open_id'] : REQUIRED) {
      if (scalar(d[f]) === '') return refuse(400, `${f} is required`);
    }
    if (d.pay_method !== 'online') return refuse(400, 'pay_method must be online');
    if (mini ? d.sub_pay_method !== 'WeChat Pay' : !PAGE_SUB_METHODS.includes(String(d.sub_pay_method))) {
      return refuse(400, `sub_pay_method ${String(d.sub_pay_method)} is not available`);
    }
    if (mini && !/^wx[0-9a-f]{16}$/.test(String(d.sub_app_id))) return refuse(400, 'sub_app_id is not a mini-program appid');
    const currency = String(d.currency);
    if (!/^[A-Z]{3}$/.test(currency) || fromMajor(String(d.amount), currency) === undefined || fromMajor(String(d.amount), currency) === 0) {
      return refuse(400, `amount ${String(d.amount)} is not a valid ${currency} amount`);
    }
    if (d.timeout !== undefined && !(Number.isInteger(Number(d.timeout)) && Number(d.timeout) >= 0 && Number(d.timeout) <= 1440)) {
      return refuse(400, 'timeout must be 0-1440 minutes');
    }
    let t = byOrder(m.user, String(d.order_id));
    if (t) {
      const same = ['amount', 'currency', 'sub_pay_method', 'sub_open_id'].every((f) => scalar(t!.data[f]) === scalar(d[f]));
      if (!same) return refuse(409, `order_id ${String(d.order_id)} already exists with other parameters`);
    } else {
      const rate = SETTLEMENT_RATES[currency];
      if (!rate) return refuse(400, `currency ${currency} is not settled by this account`);
      t = {
        user: m.user, trade_id: `T${digits(18)}`, method, data: d, order_id: String(d.order_id), amount: String(d.amount), currency, state: 'pending',
        refunded: 0, refunded_settled: 0, settlement_amount: settle(String(d.amount), currency, rate), settlement_currency: SETTLEMENT_CURRENCY, exchange_rate: rate,
      };
      trades.set(t.trade_id, t);
    }
    if (!mini) return ok({ ...tradeData(t), url: `https://sandbox.yabandpay.invalid/checkout/${t.trade_id}` });
    const params = { appId: String(d.sub_app_id), timeStamp: String(Math.floor(Date.now() / 1000)), nonceStr: randomBytes(8).toString('hex'), package: `prepay_id=wx${digits(28)}`, signType: 'MD5' };
    const paySign = md5Hex(`${signText(params)}&key=${wechatKey}`).toUpperCase();
    const { appId, ...parameters } = params;
    void appId;
    return ok({ ...tradeData(t), parameters: { ...parameters, paySign } });
  }

  function createRefund(m: YabandSandboxMerchant, d: Record<string, unknown>): SandboxResponse {
    for (const f of ['trade_id', 'refund_amount', 'refund_currency', 'notify_url']) if (scalar(d[f]) === '') return refuse(400, `${f} is required`);
    const t = trades.get(String(d.trade_id));
    if (!t || t.user !== m.user) return refuse(404, `trade_id ${String(d.trade_id)} does not exist`);
    if (t.state !== 'paid' && t.state !== 'refunded') return refuse(400, `trade is ${t.state}, not paid`);
    // In the trade's currency, or in the currency it was settled in (counted against the settlement amount).
    const inSettlement = d.refund_currency !== t.currency && d.refund_currency === t.settlement_currency;
    if (d.refund_currency !== t.currency && !inSettlement) return refuse(400, `refund_currency must be the order's ${t.currency} or its settlement currency ${t.settlement_currency}`);
    const currency = String(d.refund_currency);
    const amount = fromMajor(String(d.refund_amount), currency);
    if (!amount) return refuse(400, `refund_amount ${String(d.refund_amount)} is not valid`);
    const mRefundId = scalar(d.m_refund_id) || undefined;
    // The merchant refund number makes a resent refund the same refund.
    let r = mRefundId ? [...refunds.values()].find((x) => x.user === m.user && x.m_refund_id === mRefundId) : undefined;
    if (r) {
      if (r.amount !== amount || r.currency !== currency || r.trade_id !== t.trade_id) return refuse(409, `m_refund_id ${mRefundId} already exists`);
    } else {
      const [total, done] = inSettlement ? [fromMajor(t.settlement_amount, currency)!, t.refunded_settled] : [fromMajor(t.amount, t.currency)!, t.refunded];
      if (amount > total - done) return refuse(400, 'refund_amount is more than the refundable amount');
      if (inSettlement) t.refunded_settled += amount;
      else t.refunded += amount;
      r = { user: m.user, refund_id: `R${digits(18)}`, m_refund_id: mRefundId, trade_id: t.trade_id, amount, currency, notify_url: String(d.notify_url), state: 'pending', created_ms: Date.now() };
      refunds.set(r.refund_id, r);
    }
    return ok({ refund_id: r.refund_id, m_refund_id: r.m_refund_id ?? '', trade_id: t.trade_id, refund_amount: toMajor(r.amount, r.currency), refund_currency: r.currency, state: r.state });
  }

  /** The refund as the refund notification and the refund list report it. */
  function refundData(r: YabandSandboxRefund) {
    const t = trades.get(r.trade_id)!;
    return {
      state: r.state,
      trade_id: t.trade_id,
      order_id: t.order_id,
      transaction_id: t.transaction_id ?? '',
      refund_id: r.refund_id,
      m_refund_id: r.m_refund_id ?? '',
      amount: t.amount,
      currency: t.currency,
      refund_amount: toMajor(r.amount, r.currency),
      refund_currency: r.currency,
    };
  }

  /** `v3.TimeRefundOrder {start_time, end_time}` (seconds or milliseconds): the account's refunds created in that window. */
  function listRefunds(m: YabandSandboxMerchant, d: Record<string, unknown>): SandboxResponse {
    const [start, end] = [Number(d.start_time), Number(d.end_time)];
    if (!Number.isInteger(start) || !Number.isInteger(end) || start > end) return refuse(400, 'start_time and end_time are required, start_time first');
    const ms = (v: number) => (v < 1e12 ? v * 1000 : v);
    const list = [...refunds.values()].filter((r) => r.user === m.user && r.created_ms >= ms(start) && r.created_ms <= ms(end) + 999).map(refundData);
    return ok({ total: list.length, list });
  }

  async function api(req: SandboxRequest): Promise<SandboxResponse> {
    let env: Record<string, unknown>;
    try {
      env = JSON.parse(req.body.toString('utf8'));
    } catch {
      return refuse(400, 'request body is not JSON');
    }
    if (!env || typeof env !== 'object') return refuse(400, 'request body is not a JSON object');
    requests.push(env);
    const { user, method, time, sign, data } = env as { user?: unknown; method?: unknown; time?: unknown; sign?: unknown; data?: unknown };
    const m = typeof user === 'string' ? merchants.get(user) : undefined;
    if (!m) return refuse(401, 'user does not exist');
    if (!data || typeof data !== 'object' || Array.isArray(data)) return refuse(400, 'data is required');
    const t = Number(time);
    const skewOk = Number.isInteger(t) && (Math.abs(t - Date.now() / 1000) < 600 || Math.abs(t - Date.now()) < 600_000);
    if (!skewOk) return refuse(401, 'time is missing or too far from now (seconds or milliseconds)');
    const d = data as Record<string, unknown>;
    const expected = hmacSha256Hex(m.secret, signText({ ...d, user, method, time }));
    if (typeof sign !== 'string' || !constantTimeEqual(expected, sign)) return refuse(401, 'sign error');

    switch (method) {
      case 'v3.CreatePaymentsWechatMiniPay':
      case 'v3.CreatePayments':
        return createPayment(m, method, d);
      case 'v3.QueryOrder': {
        const tr = trades.get(String(d.trade_id));
        if (!tr || tr.user !== m.user) return refuse(404, `trade_id ${String(d.trade_id)} does not exist`);
        return ok({ transaction_info: tradeData(tr) });
      }
      case 'v3.CreateRefund':
        return createRefund(m, d);
      case 'v3.TimeRefundOrder':
        return listRefunds(m, d);
      default:
        return refuse(400, `method ${String(method)} is not supported`);
    }
  }

  /** `POST /pay {out_trade_no | order_id | trade_id, result?, form?}`: the payer pays (or not); the notification is delivered. */
  async function pay(b: Record<string, unknown>): Promise<SandboxResponse> {
    const orderId = b.out_trade_no ?? b.order_id;
    const t = typeof b.trade_id === 'string' ? trades.get(b.trade_id) : [...trades.values()].reverse().find((x) => x.order_id === orderId);
    if (!t) return json(404, { error: `no trade for ${String(orderId ?? b.trade_id)} in the sandbox; create the payment first` });
    const result = (typeof b.result === 'string' ? b.result : 'paid') as TradeState;
    if (!['paid', 'failed', 'canceled', 'expired'].includes(result)) return json(400, { error: 'result is paid, failed, canceled or expired' });
    if (result === 'paid') {
      if (!['new', 'pending', 'processing', 'paid'].includes(t.state)) return json(409, { error: `trade is ${t.state}` });
      t.state = 'paid';
      t.transaction_id ??= `4200${digits(24)}`;
    } else if (t.state === 'new' || t.state === 'pending') {
      t.state = result;
    }
    const data = { ...tradeData(t), demo: '' };
    const notify = await send(String(t.data.notify_url), t.user, data, b.form === true);
    return json(200, { order_id: t.order_id, trade_id: t.trade_id, transaction_id: t.transaction_id ?? null, state: t.state, notify });
  }

  /** `POST /refund {out_refund_no | m_refund_id | refund_id, result?, form?, deliver?}`: the refund ends; its notification is delivered (`deliver: false` loses it). */
  async function completeRefund(b: Record<string, unknown>): Promise<SandboxResponse> {
    const no = b.out_refund_no ?? b.m_refund_id;
    const r = typeof b.refund_id === 'string' ? refunds.get(b.refund_id) : [...refunds.values()].find((x) => x.m_refund_id === no);
    if (!r) return json(404, { error: `no refund ${String(no ?? b.refund_id)} in the sandbox` });
    const t = trades.get(r.trade_id)!;
    if (r.state === 'pending') {
      const inSettlement = r.currency !== t.currency;
      r.state = b.result === 'failed' ? 'failed' : 'refunded';
      if (r.state === 'failed') {
        if (inSettlement) t.refunded_settled -= r.amount;
        else t.refunded -= r.amount;
      } else if (t.refunded >= fromMajor(t.amount, t.currency)! || t.refunded_settled >= fromMajor(t.settlement_amount, t.settlement_currency)!) {
        t.state = 'refunded';
      }
    }
    const notify = b.deliver === false ? null : await send(r.notify_url, r.user, refundData(r), b.form === true);
    return json(200, { refund_id: r.refund_id, m_refund_id: r.m_refund_id ?? null, state: r.state, notify });
  }

  return {
    name: 'yaband',
    requests,
    addMerchant: (m) => merchants.set(m.user, { ...m }),
    setFault: (f, count = 1) => {
      fault = f ? { kind: f, left: count } : null;
    },
    trade: (id) => trades.get(id) ?? [...trades.values()].reverse().find((t) => t.order_id === id),
    refund: (id) => refunds.get(id) ?? [...refunds.values()].find((r) => r.m_refund_id === id),
    signNotification: (user, data) => signNotification(user, data),
    async handle(req) {
      const path = req.path.split('?')[0].replace(/\/+$/, '');
      if (req.method !== 'POST') return json(405, { error: 'POST only' });
      if (path === '/pay') return pay(jsonBody(req));
      if (path === '/refund') return completeRefund(jsonBody(req));
      if (path === '/faults') {
        const b = jsonBody(req);
        fault = b.mode ? { kind: b.mode as Fault, left: typeof b.count === 'number' ? b.count : 1 } : null;
        return json(200, { fault });
      }
      if (path !== '/Payments') return json(404, { status: false, code: 404, message: `no route ${path}; the API is POST /Payments` });
      switch (takeFault(['5xx', 'timeout', 'garbage'])) {
        case '5xx':
          return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>502 Bad Gateway</html>' };
        case 'garbage':
          return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: '<html><body>Service maintenance</body></html>' };
        case 'timeout':
          await new Promise((r) => setTimeout(r, opts.stallMs ?? 15_000).unref());
          return { status: 504, headers: { 'content-type': 'text/html' }, body: '' };
        default:
          return api(req);
      }
    },
  };
}
