/**
 * A WeChat Pay API v3 sandbox written from protocols/wechatpay.md §2: it checks every request's
 * WECHATPAY2-SHA256-RSA2048 Authorization with the merchant's public key, signs every answer with the platform
 * certificate or the WeChat Pay public key (per merchant mode), keeps orders and refunds in memory, and plays the
 * payer and the refund desk by delivering signed notifications with AEAD_AES_256_GCM-encrypted resources.
 *
 * `req.path` must be the path below `/sandbox/wechatpay-v3` exactly as the client sent it, `?query` included
 * and not percent-decoded: it is part of the signed message.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'crypto';
import forge from 'node-forge';
import { aes256GcmEncrypt } from '../../shared/crypto/aes-gcm';
import { nonce } from '../../shared/crypto/nonce';
import { publicKeyOf, rsaSha256Sign, rsaSha256Verify } from '../../shared/crypto/rsa';
import { deliver, type Delivery } from './deliver';
import { json as control, type Sandbox, type SandboxRequest, type SandboxResponse, jsonBody } from './types';
import type { PlatformIdentity } from './wechatpay-v3-platform';

export interface V3SandboxMerchant {
  mchid: string;
  /** The merchant's public key (or certificate) PEM, as WeChat holds it from the uploaded apiclient certificate. */
  merchantPublicKeyPem: string;
  /** The merchant certificate serial the client must send as `serial_no`. */
  serialNo: string;
  /** 32 bytes; encrypts notification resources and listed certificates. */
  apiv3Key: string;
  mode: 'certificate' | 'public_key';
}

export type V3Fault = '5xx' | 'timeout' | 'badsign' | 'nosign' | 'stale' | 'signtest';

type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'PAYERROR';
type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';
type Body = Record<string, any>;

export interface V3SandboxOrder {
  partner: boolean;
  /** Direct: the merchant; partner: the service provider. It signs the requests and its APIv3 key encrypts. */
  mchid: string;
  sub_mchid?: string;
  /** The ordering request body as received. */
  request: Body;
  prepay_id: string;
  trade_state: TradeState;
  transaction_id?: string;
  success_time?: string;
  refunded: number;
  created_at: number;
}

export interface V3SandboxRefund {
  mchid: string;
  sub_mchid?: string;
  out_trade_no: string;
  out_refund_no: string;
  refund_id: string;
  refund: number;
  total: number;
  reason?: string;
  notify_url?: string;
  status: RefundStatus;
  create_time: string;
  success_time?: string;
}

export interface WechatPayV3Sandbox extends Sandbox {
  addMerchant(m: V3SandboxMerchant): void;
  setFault(kind: V3Fault | null, count?: number): void;
  /** `mchid` is the direct merchant or the sub-merchant of a partner order. */
  order(mchid: string, outTradeNo: string): V3SandboxOrder | undefined;
  refund(mchid: string, outRefundNo: string): V3SandboxRefund | undefined;
}

const FAULTS: V3Fault[] = ['5xx', 'timeout', 'badsign', 'nosign', 'stale', 'signtest'];
const TRADE_STATE_DESC: Record<TradeState, string> = {
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  NOTPAY: '未支付',
  CLOSED: '已关闭',
  PAYERROR: '支付失败',
};
const REFUND_SUMMARY: Record<Exclude<RefundStatus, 'PROCESSING'>, string> = { SUCCESS: '退款成功', CLOSED: '退款关闭', ABNORMAL: '退款异常' };
const ORDER_FIELDS = ['appid', 'sp_appid', 'sub_appid', 'description', 'notify_url', 'attach', 'amount', 'payer'];

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
const rfc3339 = (ms = Date.now()) => `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
const isInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

let strangerKey: KeyObject | undefined;
/** The key `badsign` signs with: a valid RSA key WeChat never published. */
const stranger = () => (strangerKey ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);

class ApiError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
    readonly detail?: Body,
  ) {}
}
const paramError = (field: string, rule = '必填性规则校验失败，此字段为必填项', location = 'body') =>
  new ApiError(400, 'PARAM_ERROR', `输入源"/${location}/${field.replace(/\./g, '/')}"映射到字段"${field}"${rule}`, { location, field });

/** The first of `fields` (dotted paths) that is missing or empty in `body`. */
function requireFields(body: Body, fields: string[], location = 'body') {
  for (const f of fields) {
    const v = f.split('.').reduce<any>((o, k) => (o && typeof o === 'object' ? o[k] : undefined), body);
    if (v === undefined || v === null || v === '') throw paramError(f, undefined, location);
  }
}

export function wechatPayV3Sandbox(opts: { platform: PlatformIdentity; stallMs?: number }): WechatPayV3Sandbox {
  const { platform } = opts;
  const merchants = new Map<string, V3SandboxMerchant & { key: KeyObject }>();
  const orders = new Map<string, V3SandboxOrder>();
  const refunds = new Map<string, V3SandboxRefund>();
  let fault: { kind: V3Fault; left: number } | null = null;
  // Orders and refunds are numbered within the merchant that receives the money (the sub-merchant for partners).
  const key = (payee: string, no: string) => `${payee}/${no}`;
  const payee = (x: { mchid: string; sub_mchid?: string }) => x.sub_mchid ?? x.mchid;

  function takeFault(): V3Fault | undefined {
    const f = fault;
    if (f && --f.left <= 0) fault = null;
    return f?.kind;
  }

  /** The platform key that signs for a merchant: the public-key pair, or the current certificate. */
  function signer(m?: V3SandboxMerchant) {
    if (m?.mode === 'public_key') return { serial: platform.publicKeyId, privateKey: platform.publicPrivateKey };
    return platform.current();
  }

  function signatureHeaders(body: string, m: V3SandboxMerchant | undefined, f?: V3Fault): Record<string, string> {
    if (f === 'nosign') return {};
    const s = signer(m);
    const ts = String(Math.floor(Date.now() / 1000) - (f === 'stale' ? 600 : 0));
    const n = nonce(32);
    let signature = rsaSha256Sign(`${ts}\n${n}\n${body}\n`, f === 'badsign' ? stranger() : s.privateKey);
    if (f === 'signtest') signature = `WECHATPAY/SIGNTEST/${randomBytes(192).toString('base64')}`;
    return {
      'Wechatpay-Timestamp': ts,
      'Wechatpay-Nonce': n,
      'Wechatpay-Signature': signature,
      'Wechatpay-Serial': s.serial,
      'Wechatpay-Signature-Type': 'WECHATPAY2-SHA256-RSA2048',
    };
  }

  function answer(status: number, value: unknown, m: V3SandboxMerchant | undefined, f?: V3Fault): SandboxResponse {
    const body = value === undefined ? '' : JSON.stringify(value);
    const headers: Record<string, string> = { 'Request-ID': randomBytes(16).toString('hex').toUpperCase(), ...signatureHeaders(body, m, f) };
    if (body) headers['content-type'] = 'application/json; charset=utf-8';
    return { status, headers, body };
  }

  /** Checks the Authorization header; returns the merchant that signed. */
  function authenticate(req: SandboxRequest): V3SandboxMerchant & { key: KeyObject } {
    const h = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    if (!h('accept')?.includes('application/json') || !h('user-agent')) throw new ApiError(400, 'INVALID_REQUEST', 'Http头缺少Accept或User-Agent');
    const auth = h('authorization') ?? '';
    const scheme = 'WECHATPAY2-SHA256-RSA2048 ';
    const p: Record<string, string> = {};
    for (const [, k, v] of auth.slice(scheme.length).matchAll(/(\w+)="([^"]*)"/g)) p[k] = v;
    const fail = (message: string, issue: string, extra: Body = {}) =>
      new ApiError(401, 'SIGN_ERROR', message, { field: 'signature', location: 'authorization', detail: { issue }, ...extra });
    if (!auth.startsWith(scheme) || !p.mchid || !p.nonce_str || !p.signature || !p.timestamp || !p.serial_no) {
      throw fail('Authorization不合法', 'Authorization must be WECHATPAY2-SHA256-RSA2048 with mchid, nonce_str, signature, timestamp and serial_no');
    }
    const m = merchants.get(p.mchid);
    if (!m) throw fail('商户号不存在或未开通API v3', `mchid ${p.mchid} is not registered`);
    if (p.serial_no !== m.serialNo) throw fail('商户证书序列号有误。请核实后再试。', `serial_no ${p.serial_no} is not the merchant certificate serial`);
    if (!/^\d{1,12}$/.test(p.timestamp) || Math.abs(Date.now() / 1000 - Number(p.timestamp)) > 300) {
      throw fail('签名错误，请检查后再试', 'timestamp is more than 300 s off');
    }
    const body = req.body.toString('utf8');
    const message = `${req.method}\n${req.path}\n${p.timestamp}\n${p.nonce_str}\n${body}\n`;
    if (!rsaSha256Verify(message, p.signature, m.key)) {
      throw fail('签名错误，请检查后再试', 'sign not match', {
        sign_information: {
          method: req.method,
          url: req.path,
          sign_message_length: Buffer.byteLength(message),
          truncated_sign_message: `${req.method}\n${req.path}\n${p.timestamp}\n${p.nonce_str}\n${body.slice(0, 32)}\n`,
        },
      });
    }
    if (m.mode === 'public_key' && h('wechatpay-serial') !== platform.publicKeyId) {
      throw new ApiError(400, 'PARAM_ERROR', `请求头Wechatpay-Serial须为微信支付公钥ID ${platform.publicKeyId}`, { location: 'header', field: 'Wechatpay-Serial' });
    }
    return m;
  }

  function transaction(o: V3SandboxOrder): Body {
    const r = o.request;
    const paid = o.transaction_id !== undefined;
    const t: Body = o.partner
      ? { sp_appid: r.sp_appid, sp_mchid: r.sp_mchid, sub_appid: r.sub_appid, sub_mchid: r.sub_mchid }
      : { appid: r.appid, mchid: r.mchid };
    Object.assign(t, {
      out_trade_no: r.out_trade_no,
      transaction_id: o.transaction_id,
      trade_type: paid ? 'JSAPI' : undefined,
      trade_state: o.trade_state,
      trade_state_desc: TRADE_STATE_DESC[o.trade_state],
      bank_type: paid ? 'OTHERS' : undefined,
      attach: r.attach ?? '',
      success_time: o.success_time,
      payer: o.partner ? { sp_openid: r.payer.sp_openid, sub_openid: r.payer.sub_openid } : { openid: r.payer.openid },
      amount: { total: r.amount.total, payer_total: paid ? r.amount.total : undefined, currency: 'CNY', payer_currency: 'CNY' },
    });
    return JSON.parse(JSON.stringify(t)); // drops the undefined fields
  }

  function refundJson(rf: V3SandboxRefund): Body {
    const o = orders.get(key(payee(rf), rf.out_trade_no))!;
    return JSON.parse(
      JSON.stringify({
        refund_id: rf.refund_id,
        out_refund_no: rf.out_refund_no,
        transaction_id: o.transaction_id,
        out_trade_no: rf.out_trade_no,
        channel: 'ORIGINAL',
        user_received_account: '支付用户零钱',
        status: rf.status,
        create_time: rf.create_time,
        success_time: rf.success_time,
        funds_account: 'AVAILABLE',
        amount: { total: rf.total, refund: rf.refund, payer_total: rf.total, payer_refund: rf.refund, settlement_refund: rf.refund, currency: 'CNY' },
      }),
    );
  }

  function parseBody(req: SandboxRequest): Body {
    try {
      const v = JSON.parse(req.body.toString('utf8'));
      if (v && typeof v === 'object' && !Array.isArray(v)) return v;
    } catch {
      // answered below
    }
    throw new ApiError(400, 'PARAM_ERROR', '请求体不是合法的JSON对象', { location: 'body' });
  }

  const notFound = () => new ApiError(404, 'ORDER_NOT_EXIST', '订单不存在');
  const mismatch = (field: string) => new ApiError(400, 'INVALID_REQUEST', `${field}与请求头Authorization中的mchid不一致`, { location: 'body', field });

  function placeOrder(m: V3SandboxMerchant, partner: boolean, b: Body): Body {
    requireFields(b, [
      ...(partner ? ['sp_appid', 'sp_mchid', 'sub_mchid'] : ['appid', 'mchid']),
      'description',
      'out_trade_no',
      'notify_url',
      'amount.total',
      'payer',
    ]);
    if ((partner ? b.sp_mchid : b.mchid) !== m.mchid) throw mismatch(partner ? 'sp_mchid' : 'mchid');
    if (!/^[0-9A-Za-z_\-|*]{6,32}$/.test(b.out_trade_no)) throw paramError('out_trade_no', '格式校验失败: 6-32位字母、数字、_-|*');
    if (!isInt(b.amount.total)) throw paramError('amount.total', '须为正整数（分）');
    if (b.amount.currency !== undefined && b.amount.currency !== 'CNY') throw paramError('amount.currency', '须为CNY');
    if (/[\u{10000}-\u{10FFFF}]/u.test(String(b.description))) throw paramError('description', '含有4字节UTF-8字符');
    if (b.attach !== undefined && String(b.attach).length > 128) throw paramError('attach', '长度超过128');
    if (!/^https?:\/\/[^?#]+$/.test(b.notify_url)) throw paramError('notify_url', '须为不带query的http(s)地址');
    if (b.time_expire !== undefined && Number.isNaN(Date.parse(b.time_expire))) throw paramError('time_expire', '须为RFC3339时间');
    if (partner) {
      if (!b.payer.sp_openid && !b.payer.sub_openid) throw paramError('payer.sp_openid');
      if (b.payer.sub_openid && !b.sub_appid) throw paramError('sub_appid', '必填性规则校验失败，传sub_openid时sub_appid为必填项');
    } else if (!b.payer.openid) throw paramError('payer.openid');

    const k = key(partner ? b.sub_mchid : b.mchid, b.out_trade_no);
    const o = orders.get(k);
    if (o) {
      if (o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND') throw new ApiError(400, 'ORDERPAID', '该订单已支付');
      if (o.trade_state === 'CLOSED') throw new ApiError(400, 'ORDER_CLOSED', '订单已关闭');
      const same = o.partner === partner && ORDER_FIELDS.every((f) => JSON.stringify(o.request[f]) === JSON.stringify(b[f]));
      if (!same) throw new ApiError(400, 'INVALID_REQUEST', '201 商户订单号重复 (OUT_TRADE_NO_USED): 同一out_trade_no的参数不一致');
      return { prepay_id: o.prepay_id };
    }
    const created: V3SandboxOrder = {
      partner,
      mchid: m.mchid,
      sub_mchid: partner ? b.sub_mchid : undefined,
      request: b,
      prepay_id: `wx${digits(34)}`,
      trade_state: 'NOTPAY',
      refunded: 0,
      created_at: Date.now(),
    };
    orders.set(k, created);
    return { prepay_id: created.prepay_id };
  }

  /** The order a query or close names; `sp_mchid`/`mchid` must be the signer. */
  function findOrder(m: V3SandboxMerchant, partner: boolean, by: 'out-trade-no' | 'id', no: string, ids: Body, location: 'body' | 'query'): V3SandboxOrder {
    requireFields(ids, partner ? ['sp_mchid', 'sub_mchid'] : ['mchid'], location);
    if ((partner ? ids.sp_mchid : ids.mchid) !== m.mchid) throw mismatch(partner ? 'sp_mchid' : 'mchid');
    const owner = partner ? ids.sub_mchid : ids.mchid;
    const o =
      by === 'out-trade-no'
        ? orders.get(key(owner, no))
        : [...orders.values()].find((x) => x.transaction_id === no && payee(x) === owner);
    if (!o || o.partner !== partner || o.mchid !== m.mchid) throw notFound();
    return o;
  }

  function createRefund(m: V3SandboxMerchant, b: Body): Body {
    requireFields(b, ['out_refund_no', 'amount.refund', 'amount.total', 'amount.currency']);
    if (!b.transaction_id && !b.out_trade_no) throw paramError('transaction_id');
    if (!isInt(b.amount.refund)) throw paramError('amount.refund', '须为正整数（分）');
    if (!isInt(b.amount.total)) throw paramError('amount.total', '须为正整数（分）');
    if (b.amount.currency !== 'CNY') throw paramError('amount.currency', '须为CNY');
    const owner: string = b.sub_mchid ?? m.mchid;
    const o = b.out_trade_no
      ? orders.get(key(owner, b.out_trade_no))
      : [...orders.values()].find((x) => x.transaction_id === b.transaction_id && payee(x) === owner);
    if (!o || o.mchid !== m.mchid || o.partner !== (b.sub_mchid !== undefined)) throw notFound();
    if (b.transaction_id && b.out_trade_no && o.transaction_id !== b.transaction_id) throw notFound();
    const existing = refunds.get(key(owner, b.out_refund_no));
    if (existing) {
      if (existing.out_trade_no !== o.request.out_trade_no || existing.refund !== b.amount.refund) {
        throw new ApiError(400, 'INVALID_REQUEST', '退款单号重复: 同一out_refund_no的参数不一致');
      }
      return refundJson(existing);
    }
    if (o.trade_state !== 'SUCCESS' && o.trade_state !== 'REFUND') throw new ApiError(400, 'INVALID_REQUEST', '订单未支付，不能退款');
    if (b.amount.total !== o.request.amount.total) throw new ApiError(400, 'INVALID_REQUEST', '订单金额total与原订单金额不一致');
    if (b.amount.refund > o.request.amount.total - o.refunded) throw new ApiError(400, 'INVALID_REQUEST', '申请退款金额超过订单可退金额');
    o.refunded += b.amount.refund;
    o.trade_state = 'REFUND';
    const rf: V3SandboxRefund = {
      mchid: m.mchid,
      sub_mchid: b.sub_mchid,
      out_trade_no: o.request.out_trade_no,
      out_refund_no: b.out_refund_no,
      refund_id: `50${digits(30)}`,
      refund: b.amount.refund,
      total: b.amount.total,
      reason: b.reason,
      notify_url: b.notify_url,
      status: 'PROCESSING',
      create_time: rfc3339(),
    };
    refunds.set(key(owner, rf.out_refund_no), rf);
    return refundJson(rf);
  }

  /** Routes one authenticated API call; returns [status, JSON value or undefined for 204]. */
  function api(m: V3SandboxMerchant, req: SandboxRequest): [number, unknown] {
    const [pathname, search = ''] = req.path.split('?', 2);
    const query = Object.fromEntries(new URLSearchParams(search));
    const seg = (s: string) => decodeURIComponent(s);
    const POST = req.method === 'POST';
    const GET = req.method === 'GET';
    let r: RegExpMatchArray | null;

    if (POST && (r = pathname.match(/^\/v3\/pay(\/partner)?\/transactions\/jsapi$/))) return [200, placeOrder(m, !!r[1], parseBody(req))];
    if (GET && (r = pathname.match(/^\/v3\/pay(\/partner)?\/transactions\/(out-trade-no|id)\/([^/]+)$/))) {
      return [200, transaction(findOrder(m, !!r[1], r[2] as 'out-trade-no' | 'id', seg(r[3]), query, 'query'))];
    }
    if (POST && (r = pathname.match(/^\/v3\/pay(\/partner)?\/transactions\/out-trade-no\/([^/]+)\/close$/))) {
      const o = findOrder(m, !!r[1], 'out-trade-no', seg(r[2]), parseBody(req), 'body');
      if (o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND') throw new ApiError(400, 'ORDERPAID', '订单已支付');
      o.trade_state = 'CLOSED';
      return [204, undefined];
    }
    if (POST && pathname === '/v3/refund/domestic/refunds') return [200, createRefund(m, parseBody(req))];
    if (GET && (r = pathname.match(/^\/v3\/refund\/domestic\/refunds\/([^/]+)$/))) {
      const rf = refunds.get(key(query.sub_mchid ?? m.mchid, seg(r[1])));
      if (!rf || rf.mchid !== m.mchid) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
      return [200, refundJson(rf)];
    }
    if (GET && pathname === '/v3/certificates') {
      if (m.mode === 'public_key') throw new ApiError(404, 'RESOURCE_NOT_EXISTS', '无可用的平台证书，请在商户平台-API安全申请使用微信支付公钥。');
      return [200, { data: platform.certificates().map((c) => certificateEntry(c.pem, m.apiv3Key)) }];
    }
    throw new ApiError(404, 'NOT_FOUND', `无此接口: ${req.method} ${pathname}`);
  }

  function certificateEntry(pem: string, apiv3Key: string) {
    const cert = forge.pki.certificateFromPem(pem);
    const n = nonce(12);
    return {
      serial_no: cert.serialNumber.toUpperCase(),
      effective_time: rfc3339(cert.validity.notBefore.getTime()),
      expire_time: rfc3339(cert.validity.notAfter.getTime()),
      encrypt_certificate: { algorithm: 'AEAD_AES_256_GCM', associated_data: 'certificate', nonce: n, ciphertext: aes256GcmEncrypt(pem, apiv3Key, n, 'certificate') },
    };
  }

  /** Encrypts `resource` with the merchant's APIv3 key, signs the exact body and POSTs it. */
  async function notify(url: string, m: V3SandboxMerchant, event: { type: string; summary: string; original: string; resource: Body }) {
    const n = nonce(12);
    const body = JSON.stringify({
      id: `EV-${digits(19)}`,
      create_time: rfc3339(),
      resource_type: 'encrypt-resource',
      event_type: event.type,
      summary: event.summary,
      resource: {
        original_type: event.original,
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext: aes256GcmEncrypt(JSON.stringify(event.resource), m.apiv3Key, n, event.original),
        associated_data: event.original,
        nonce: n,
      },
    });
    // Only the signature faults reach notifications; 5xx and timeout stay queued for the next API call.
    const f = fault && fault.kind !== '5xx' && fault.kind !== 'timeout' ? takeFault() : undefined;
    const headers = { 'content-type': 'application/json', ...signatureHeaders(body, m, f) };
    return deliver(url, body, headers).catch((err: Error): Delivery => ({ url, status: 0, body: String(err.message) }));
  }

  /** `POST /pay {out_trade_no, mchid?, result?: 'SUCCESS'|'PAYERROR'}`: the payer pays; TRANSACTION.SUCCESS is delivered. */
  async function simulatePay(b: Body): Promise<SandboxResponse> {
    const o = [...orders.values()].find((x) => x.request.out_trade_no === b.out_trade_no && (!b.mchid || b.mchid === x.mchid || b.mchid === x.sub_mchid));
    if (!o) return control(404, { error: `no order ${String(b.out_trade_no)} in the sandbox; place it first` });
    if (b.result === 'PAYERROR') {
      if (o.trade_state !== 'NOTPAY') return control(409, { error: `order is ${o.trade_state}` });
      o.trade_state = 'PAYERROR'; // failures are not notified (protocols §2)
      return control(200, { out_trade_no: o.request.out_trade_no, transaction_id: null, notify: null });
    }
    if (o.trade_state === 'NOTPAY') {
      const expires = o.request.time_expire ? Date.parse(o.request.time_expire) : o.created_at + 7 * 86400_000;
      if (Date.now() > expires) return control(409, { error: 'order expired (time_expire has passed)' });
      o.trade_state = 'SUCCESS';
      o.transaction_id = `4200${digits(24)}`;
      o.success_time = rfc3339();
    } else if (o.trade_state !== 'SUCCESS') {
      return control(409, { error: `order is ${o.trade_state}` });
    }
    const d = await notify(o.request.notify_url, merchants.get(o.mchid)!, {
      type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      original: 'transaction',
      resource: transaction(o),
    });
    return control(200, { out_trade_no: o.request.out_trade_no, transaction_id: o.transaction_id, notify: d });
  }

  /** `POST /refund {out_refund_no, mchid?, result?}`: the refund ends; REFUND.<status> is delivered. */
  async function completeRefund(b: Body): Promise<SandboxResponse> {
    const rf = [...refunds.values()].find((x) => x.out_refund_no === b.out_refund_no && (!b.mchid || b.mchid === x.mchid || b.mchid === x.sub_mchid));
    if (!rf) return control(404, { error: `no refund ${String(b.out_refund_no)} in the sandbox` });
    const o = orders.get(key(payee(rf), rf.out_trade_no))!;
    if (rf.status === 'PROCESSING') {
      rf.status = b.result === 'CLOSED' || b.result === 'ABNORMAL' ? b.result : 'SUCCESS';
      if (rf.status === 'SUCCESS') rf.success_time = rfc3339();
      // Only a closed refund gives the amount back; an abnormal one has left the merchant's account.
      if (rf.status === 'CLOSED') o.refunded -= rf.refund;
    }
    const status = rf.status as Exclude<RefundStatus, 'PROCESSING'>;
    const resource = JSON.parse(
      JSON.stringify({
        ...(rf.sub_mchid ? { sp_mchid: rf.mchid, sub_mchid: rf.sub_mchid } : { mchid: rf.mchid }),
        out_trade_no: rf.out_trade_no,
        transaction_id: o.transaction_id,
        out_refund_no: rf.out_refund_no,
        refund_id: rf.refund_id,
        refund_status: rf.status,
        success_time: rf.success_time,
        user_received_account: '支付用户零钱',
        amount: { total: rf.total, refund: rf.refund, payer_total: rf.total, payer_refund: rf.refund },
      }),
    );
    const d = await notify(rf.notify_url ?? o.request.notify_url, merchants.get(rf.mchid)!, {
      type: `REFUND.${status}`,
      summary: REFUND_SUMMARY[status],
      original: 'refund',
      resource,
    });
    return control(200, { out_refund_no: rf.out_refund_no, refund_status: rf.status, notify: d });
  }


  return {
    name: 'wechatpay-v3',
    addMerchant(m) {
      if (Buffer.byteLength(m.apiv3Key, 'utf8') !== 32) throw new Error(`the APIv3 key of ${m.mchid} must be 32 bytes`);
      merchants.set(m.mchid, { ...m, key: publicKeyOf(m.merchantPublicKeyPem) });
    },
    setFault(kind, count = 1) {
      fault = kind ? { kind, left: count } : null;
    },
    order: (mchid, no) => orders.get(key(mchid, no)),
    refund: (mchid, no) => refunds.get(key(mchid, no)),

    async handle(req) {
      const route = req.path.split('?')[0];
      if (['/pay', '/refund', '/rotate', '/faults'].includes(route)) {
        if (req.method !== 'POST') return control(405, { error: 'POST only' });
        const b = jsonBody(req);
        if (route === '/pay') return simulatePay(b);
        if (route === '/refund') return completeRefund(b);
        if (route === '/rotate') {
          platform.rotate();
          return control(200, { current: platform.current().serial, serials: platform.certificates().map((c) => c.serial) });
        }
        const mode = b.mode as V3Fault | undefined;
        if (mode && !FAULTS.includes(mode)) return control(400, { error: `mode must be one of ${FAULTS.join(', ')}` });
        fault = mode ? { kind: mode, left: typeof b.count === 'number' ? b.count : 1 } : null;
        return control(200, { fault });
      }

      const f = takeFault();
      if (f === '5xx') return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' };
      if (f === 'timeout') {
        await new Promise((r) => setTimeout(r, opts.stallMs ?? 15_000).unref());
        return { status: 504, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>504 Gateway Time-out</h1></body></html>' };
      }
      let m: V3SandboxMerchant | undefined;
      try {
        m = authenticate(req);
        const [status, value] = api(m, req);
        return answer(status, value, m, f);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        // Errors before the signer is known are signed in certificate mode.
        const signerOf = m ?? merchants.get(/mchid="([^"]*)"/.exec(String(req.headers.authorization ?? ''))?.[1] ?? '');
        return answer(err.status, { code: err.code, message: err.message, ...(err.detail ? { detail: err.detail } : {}) }, signerOf, f);
      }
    },
  };
}
