/**
 * A WeChat Pay API v2 sandbox written from protocols/wechatpay.md §1: it checks every request's sign with
 * the merchant's key, signs every answer, keeps orders and refunds in memory, and plays the payer and the
 * refund desk by delivering signed notifications (encrypted req_info for refunds) to the order's notify_url.
 */
import { randomBytes } from 'crypto';
import { aes256EcbEncrypt } from '../../shared/crypto/aes';
import { md5Hex } from '../../shared/crypto/hash';
import { buildFlatXml, parseFlatXml } from '../../shared/crypto/xml';
import { signV2, verifyV2, type V2SignType } from '../../shared/providers/wechatpay-v2/sign';
import { deliver } from './deliver';
import { json, type Sandbox, type SandboxRequest, type SandboxResponse, jsonBody } from './types';

export interface V2SandboxMerchant {
  mchid: string;
  key: string;
}

interface SbOrder {
  mchid: string;
  fields: Record<string, string>;
  sign_type: V2SignType;
  prepay_id: string;
  state: 'NOTPAY' | 'SUCCESS' | 'CLOSED' | 'PAYERROR' | 'REFUND';
  transaction_id?: string;
  time_end?: string;
  refunded: number;
}

interface SbRefund {
  mchid: string;
  out_trade_no: string;
  out_refund_no: string;
  refund_id: string;
  refund_fee: number;
  total_fee: number;
  status: 'PROCESSING' | 'SUCCESS' | 'REFUNDCLOSE' | 'CHANGE';
  notify_url?: string;
  success_time?: string;
}

/** Faults the next API answers carry, for tests of what the functions do when WeChat misbehaves. */
type Fault = '5xx' | 'timeout' | 'badsign' | 'garbage';

const digits = (n: number) => Array.from(randomBytes(n), (b) => String(b % 10)).join('');
const cstNow = (fmt: 'compact' | 'dash') => {
  const d = new Date(Date.now() + 8 * 3600_000).toISOString();
  return fmt === 'compact' ? d.slice(0, 19).replace(/[-T:]/g, '') : d.slice(0, 19).replace('T', ' ');
};
const xml = (status: number, body: string): SandboxResponse => ({ status, headers: { 'content-type': 'text/xml; charset=utf-8' }, body });

export function wechatPayV2Sandbox(opts: { timeoutMs?: number } = {}): Sandbox & {
  addMerchant(m: V2SandboxMerchant): void;
  setFault(f: Fault | null, count?: number): void;
  order(mchid: string, outTradeNo: string): SbOrder | undefined;
} {
  const merchants = new Map<string, V2SandboxMerchant>();
  const orders = new Map<string, SbOrder>();
  const refunds = new Map<string, SbRefund>();
  let fault: { kind: Fault; left: number } | null = null;
  const key = (mchid: string, no: string) => `${mchid}/${no}`;

  /** A signed SUCCESS answer (result SUCCESS unless an err_code is given). */
  function answer(m: V2SandboxMerchant, type: V2SignType, req: Record<string, string>, fields: Record<string, string | undefined>, errCode?: string, errDes?: string) {
    const f: Record<string, string> = { return_code: 'SUCCESS', return_msg: 'OK', appid: req.appid, mch_id: req.mch_id, nonce_str: randomBytes(8).toString('hex') };
    if (req.sub_mch_id) f.sub_mch_id = req.sub_mch_id;
    if (req.sub_appid) f.sub_appid = req.sub_appid;
    f.result_code = errCode ? 'FAIL' : 'SUCCESS';
    if (errCode) {
      f.err_code = errCode;
      f.err_code_des = errDes ?? errCode;
    }
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) f[k] = v;
    f.sign = signV2(f, m.key, type);
    if (fault?.kind === 'badsign') f.sign = signV2(f, 'X'.repeat(32), type);
    return xml(200, buildFlatXml(f));
  }
  const transportFail = (msg: string) => xml(200, buildFlatXml({ return_code: 'FAIL', return_msg: msg }));

  function payNotifyFields(o: SbOrder, resultCode: 'SUCCESS' | 'FAIL'): Record<string, string> {
    const r = o.fields;
    const f: Record<string, string> = {
      return_code: 'SUCCESS',
      appid: r.appid,
      mch_id: r.mch_id,
      nonce_str: randomBytes(8).toString('hex'),
      result_code: resultCode,
      trade_type: 'JSAPI',
      bank_type: 'OTHERS',
      total_fee: r.total_fee,
      fee_type: r.fee_type || 'CNY',
      cash_fee: r.total_fee,
      out_trade_no: r.out_trade_no,
      is_subscribe: 'N',
    };
    if (resultCode === 'FAIL') {
      f.err_code = 'PAYERROR';
      f.err_code_des = 'payment failed';
    } else {
      f.transaction_id = o.transaction_id!;
      f.time_end = o.time_end!;
    }
    if (r.openid) f.openid = r.openid;
    if (r.sub_mch_id) f.sub_mch_id = r.sub_mch_id;
    if (r.sub_appid) f.sub_appid = r.sub_appid;
    if (r.sub_openid) f.sub_openid = r.sub_openid;
    if (r.attach) f.attach = r.attach;
    // Real notifications often omit sign_type even for HMAC-SHA256 merchants; the sign length tells.
    f.sign = signV2(f, merchants.get(o.mchid)!.key, o.sign_type);
    return f;
  }

  async function api(name: string, req: SandboxRequest): Promise<SandboxResponse> {
    let r: Record<string, string>;
    try {
      r = parseFlatXml(req.body.toString('utf8'));
    } catch {
      return transportFail('XML格式错误');
    }
    const m = merchants.get(r.mch_id);
    if (!m) return transportFail('mch_id参数格式错误');
    if (!r.appid || !r.nonce_str) return transportFail('appid and nonce_str are required');
    if (!verifyV2(r, m.key)) return transportFail('签名错误');
    const type: V2SignType = r.sign_type === 'HMAC-SHA256' ? 'HMAC-SHA256' : 'MD5';
    if ((r.sign.length === 64) !== (type === 'HMAC-SHA256')) return transportFail('签名错误: sign_type does not match the sign');
    const o = r.out_trade_no ? orders.get(key(m.mchid, r.out_trade_no)) : undefined;

    switch (name) {
      case 'pay/unifiedorder': {
        for (const f of ['body', 'out_trade_no', 'total_fee', 'spbill_create_ip', 'notify_url', 'trade_type']) {
          if (!r[f]) return answer(m, type, r, {}, 'PARAM_ERROR', `${f} is required`);
        }
        if (!/^[0-9A-Za-z_\-|*]{6,32}$/.test(r.out_trade_no)) return answer(m, type, r, {}, 'PARAM_ERROR', 'out_trade_no format');
        if (!/^[1-9][0-9]*$/.test(r.total_fee)) return answer(m, type, r, {}, 'PARAM_ERROR', 'total_fee must be a positive integer');
        if (r.trade_type !== 'JSAPI') return answer(m, type, r, {}, 'PARAM_ERROR', 'only JSAPI here');
        if (!r.openid && !(r.sub_openid && r.sub_appid)) return answer(m, type, r, {}, 'PARAM_ERROR', 'JSAPI needs openid, or sub_openid with sub_appid');
        if (/[?#]/.test(r.notify_url)) return answer(m, type, r, {}, 'PARAM_ERROR', 'notify_url must not carry a query');
        if (o) {
          if (o.state === 'SUCCESS' || o.state === 'REFUND') return answer(m, type, r, {}, 'ORDERPAID', '该订单已支付');
          if (o.state === 'CLOSED') return answer(m, type, r, {}, 'ORDERCLOSED', '该订单已关闭');
          const same = ['total_fee', 'body', 'openid', 'sub_openid', 'notify_url'].every((f) => o.fields[f] === r[f]);
          if (!same) return answer(m, type, r, {}, 'INVALID_REQUEST', '商户订单号重复 (OUT_TRADE_NO_USED)');
          return answer(m, type, r, { trade_type: 'JSAPI', prepay_id: o.prepay_id });
        }
        const created: SbOrder = { mchid: m.mchid, fields: r, sign_type: type, prepay_id: `wx${digits(30)}`, state: 'NOTPAY', refunded: 0 };
        orders.set(key(m.mchid, r.out_trade_no), created);
        return answer(m, type, r, { trade_type: 'JSAPI', prepay_id: created.prepay_id });
      }
      case 'pay/orderquery': {
        const found = o ?? [...orders.values()].find((x) => x.mchid === m.mchid && x.transaction_id && x.transaction_id === r.transaction_id);
        if (!found) return answer(m, type, r, {}, 'ORDERNOTEXIST', '订单不存在');
        const f = found.fields;
        return answer(m, type, r, {
          trade_state: found.state,
          out_trade_no: f.out_trade_no,
          total_fee: f.total_fee,
          fee_type: f.fee_type || 'CNY',
          openid: f.openid,
          sub_openid: f.sub_openid,
          transaction_id: found.transaction_id,
          time_end: found.time_end,
          trade_type: 'JSAPI',
        });
      }
      case 'pay/closeorder': {
        if (!o) return answer(m, type, r, {}, 'ORDERNOTEXIST', '订单不存在');
        if (o.state === 'SUCCESS' || o.state === 'REFUND') return answer(m, type, r, {}, 'ORDERPAID', '订单已支付');
        if (o.state === 'CLOSED') return answer(m, type, r, {}, 'ORDERCLOSED', '订单已关闭');
        o.state = 'CLOSED';
        return answer(m, type, r, {});
      }
      case 'secapi/pay/refund': {
        // Mutual TLS: over the TLS listener the client certificate must be one issued for this merchant.
        if (req.tls && req.clientCertCn !== m.mchid) return transportFail('证书错误: no client certificate issued for this merchant');
        const target = o ?? [...orders.values()].find((x) => x.mchid === m.mchid && x.transaction_id === r.transaction_id);
        if (!target || (target.state !== 'SUCCESS' && target.state !== 'REFUND')) return answer(m, type, r, {}, 'ERROR', '订单未支付或不存在');
        if (!r.out_refund_no) return answer(m, type, r, {}, 'PARAM_ERROR', 'out_refund_no is required');
        const existing = refunds.get(key(m.mchid, r.out_refund_no));
        const fee = Number(r.refund_fee);
        if (existing) {
          if (existing.refund_fee !== fee || existing.out_trade_no !== target.fields.out_trade_no) return answer(m, type, r, {}, 'INVALID_REQUEST', '退款单号重复');
        } else {
          if (String(r.total_fee) !== target.fields.total_fee) return answer(m, type, r, {}, 'INVALID_REQUEST', '订单金额不一致');
          if (!(fee > 0) || fee > Number(target.fields.total_fee) - target.refunded) return answer(m, type, r, {}, 'INVALID_REQUEST', '退款金额大于可退金额');
          target.refunded += fee;
          target.state = 'REFUND';
          refunds.set(key(m.mchid, r.out_refund_no), {
            mchid: m.mchid,
            out_trade_no: target.fields.out_trade_no,
            out_refund_no: r.out_refund_no,
            refund_id: `50${digits(26)}`,
            refund_fee: fee,
            total_fee: Number(target.fields.total_fee),
            status: 'PROCESSING',
            notify_url: r.notify_url,
          });
        }
        const rf = refunds.get(key(m.mchid, r.out_refund_no))!;
        return answer(m, type, r, {
          transaction_id: target.transaction_id,
          out_trade_no: rf.out_trade_no,
          out_refund_no: rf.out_refund_no,
          refund_id: rf.refund_id,
          refund_fee: String(rf.refund_fee),
          total_fee: String(rf.total_fee),
          cash_fee: String(rf.total_fee),
        });
      }
      case 'pay/refundquery': {
        const list = [...refunds.values()].filter(
          (x) => x.mchid === m.mchid && ((r.out_refund_no && x.out_refund_no === r.out_refund_no) || (r.out_trade_no && x.out_trade_no === r.out_trade_no)),
        );
        if (list.length === 0) return answer(m, type, r, {}, 'REFUNDNOTEXIST', '退款订单查询失败');
        const f: Record<string, string | undefined> = { out_trade_no: list[0].out_trade_no, total_fee: String(list[0].total_fee), refund_count: String(list.length) };
        list.forEach((x, i) => {
          f[`out_refund_no_${i}`] = x.out_refund_no;
          f[`refund_id_${i}`] = x.refund_id;
          f[`refund_fee_${i}`] = String(x.refund_fee);
          f[`refund_status_${i}`] = x.status;
          f[`refund_success_time_${i}`] = x.success_time;
        });
        return answer(m, type, r, f);
      }
      default:
        return xml(404, buildFlatXml({ return_code: 'FAIL', return_msg: `no API ${name}` }));
    }
  }

  /** `POST /pay {out_trade_no, mch_id?, result?}`: the payer pays (or fails); the notification is delivered. */
  async function simulatePay(body: Record<string, unknown>): Promise<SandboxResponse> {
    const o = [...orders.values()].find((x) => x.fields.out_trade_no === body.out_trade_no && (!body.mch_id || x.mchid === body.mch_id));
    if (!o) return json(404, { error: `no order ${String(body.out_trade_no)} in the sandbox; call unifiedorder first` });
    const result = body.result === 'FAIL' ? 'FAIL' : 'SUCCESS';
    if (result === 'SUCCESS') {
      if (o.state !== 'NOTPAY' && o.state !== 'SUCCESS') return json(409, { error: `order is ${o.state}` });
      o.state = 'SUCCESS';
      o.transaction_id ??= `4200${digits(24)}`;
      o.time_end ??= cstNow('compact');
    } else if (o.state === 'NOTPAY') {
      o.state = 'PAYERROR';
    }
    const d = await deliver(o.fields.notify_url, buildFlatXml(payNotifyFields(o, result)), { 'content-type': 'text/xml' });
    return json(200, { out_trade_no: o.fields.out_trade_no, transaction_id: o.transaction_id ?? null, notify: d });
  }

  /** `POST /refund {out_refund_no, mch_id?, result?}`: the refund ends; the encrypted notification is delivered. */
  async function completeRefund(body: Record<string, unknown>): Promise<SandboxResponse> {
    const rf = [...refunds.values()].find((x) => x.out_refund_no === body.out_refund_no && (!body.mch_id || x.mchid === body.mch_id));
    if (!rf) return json(404, { error: `no refund ${String(body.out_refund_no)} in the sandbox` });
    const status = body.result === 'REFUNDCLOSE' || body.result === 'CHANGE' ? body.result : 'SUCCESS';
    if (rf.status === 'PROCESSING') {
      rf.status = status;
      rf.success_time = status === 'SUCCESS' ? cstNow('dash') : undefined;
      // Only a closed refund gives the amount back; CHANGE (abnormal) has left the merchant's account.
      if (status === 'REFUNDCLOSE') orders.get(key(rf.mchid, rf.out_trade_no))!.refunded -= rf.refund_fee;
    }
    const o = orders.get(key(rf.mchid, rf.out_trade_no))!;
    const m = merchants.get(rf.mchid)!;
    const plain = buildFlatXml(
      {
        transaction_id: o.transaction_id,
        out_trade_no: rf.out_trade_no,
        refund_id: rf.refund_id,
        out_refund_no: rf.out_refund_no,
        total_fee: rf.total_fee,
        settlement_total_fee: rf.total_fee,
        refund_fee: rf.refund_fee,
        settlement_refund_fee: rf.refund_fee,
        refund_status: rf.status,
        success_time: rf.success_time,
        refund_recv_accout: '支付用户零钱',
        refund_account: 'REFUND_SOURCE_RECHARGE_FUNDS',
        refund_request_source: 'API',
      },
      'root',
    );
    const reqInfo = aes256EcbEncrypt(Buffer.from(plain, 'utf8'), Buffer.from(md5Hex(m.key), 'ascii')).toString('base64');
    const outer: Record<string, string> = { return_code: 'SUCCESS', appid: o.fields.appid, mch_id: rf.mchid, nonce_str: randomBytes(8).toString('hex'), req_info: reqInfo };
    if (o.fields.sub_mch_id) outer.sub_mch_id = o.fields.sub_mch_id;
    if (o.fields.sub_appid) outer.sub_appid = o.fields.sub_appid;
    const url = rf.notify_url ?? o.fields.notify_url;
    const d = await deliver(url, buildFlatXml(outer), { 'content-type': 'text/xml' });
    return json(200, { out_refund_no: rf.out_refund_no, refund_status: rf.status, notify: d });
  }


  return {
    name: 'wechatpay-v2',
    addMerchant: (m) => merchants.set(m.mchid, m),
    setFault: (f, count = 1) => {
      fault = f ? { kind: f, left: count } : null;
    },
    order: (mchid, no) => orders.get(key(mchid, no)),
    async handle(req) {
      const name = req.path.replace(/^\/+/, '');
      if (req.method !== 'POST') return json(405, { error: 'POST only' });
      if (name === 'pay') return simulatePay(jsonBody(req));
      if (name === 'refund') return completeRefund(jsonBody(req));
      if (name === 'faults') {
        const b = jsonBody(req);
        fault = b.mode ? { kind: b.mode as Fault, left: typeof b.count === 'number' ? b.count : 1 } : null;
        return json(200, { fault });
      }
      const active = fault;
      if (active) {
        if (--active.left <= 0) fault = null;
        if (active.kind === '5xx') return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html>502 Bad Gateway</html>' };
        if (active.kind === 'garbage') return xml(200, '<xml><return_code>SUCC');
        if (active.kind === 'timeout') {
          await new Promise((r) => setTimeout(r, opts.timeoutMs ?? 15_000).unref());
          return xml(504, '');
        }
        if (active.kind === 'badsign') {
          fault = active; // `answer` reads it while signing
          try {
            return await api(name, req);
          } finally {
            fault = active.left > 0 ? active : null;
          }
        }
      }
      return api(name, req);
    },
  };
}
