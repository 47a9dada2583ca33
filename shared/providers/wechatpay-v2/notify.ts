import { aes256EcbDecrypt } from '../../crypto/aes';
import { md5Hex } from '../../crypto/hash';
import { buildFlatXml, parseFlatXml, XmlError } from '../../crypto/xml';
import { NotificationRejected, type NotifyEvent, type NotifyHint, type NotifyReply, type NotifyRequest } from '../types';
import { verifyV2 } from './sign';
import { paymentReport, refundNotifyReport } from './transform';
import type { V2Fields, V2Merchant } from './wire';

function parse(xml: string, roots?: string[]): V2Fields {
  try {
    return parseFlatXml(xml, roots);
  } catch (err) {
    throw new NotificationRejected(`malformed XML: ${(err as XmlError).message}`);
  }
}

function parseBody(req: NotifyRequest): V2Fields {
  if (req.body.length === 0) throw new NotificationRejected('empty body');
  return parse(req.body.toString('utf8'));
}

export function peek(req: NotifyRequest): NotifyHint {
  const f = parseBody(req);
  return { appids: [f.sub_appid, f.appid].filter((a): a is string => !!a), mchid: f.mch_id, out_trade_no: f.out_trade_no || undefined };
}

/** `req_info`: base64, AES-256-ECB keyed by the 32 ASCII bytes of lower-case md5(key). */
export function decryptReqInfo(reqInfo: string, key: string): V2Fields {
  let plain: Buffer;
  try {
    plain = aes256EcbDecrypt(Buffer.from(reqInfo, 'base64'), Buffer.from(md5Hex(key), 'ascii'));
  } catch {
    throw new NotificationRejected('req_info does not decrypt with this merchant key');
  }
  return parse(plain.toString('utf8'), ['root', 'xml']);
}

/**
 * Verifies a v2 notification with the merchant's key. A pay notification must carry a valid `sign`; a refund
 * notification has none, and is proven by `req_info` decrypting under the key. The merchant ids it names
 * must be this merchant's (the caller checks them against the order too).
 */
export function verify(m: V2Merchant, req: NotifyRequest): NotifyEvent {
  const f = parseBody(req);
  if (f.return_code !== 'SUCCESS') throw new NotificationRejected(`return_code is ${JSON.stringify(f.return_code)}`);
  if (f.mch_id !== m.mchid) throw new NotificationRejected('mch_id is not this merchant');

  if (f.req_info !== undefined) {
    const plain = decryptReqInfo(f.req_info, m.key);
    const report = refundNotifyReport(plain, f);
    if (!report.out_refund_no || !report.out_trade_no) throw new NotificationRejected('req_info lacks out_refund_no or out_trade_no');
    return {
      kind: 'refund',
      dedupe_key: `v2:refund:${report.out_refund_no}:${report.provider_state}`,
      report,
      fields: { notification: { ...f, req_info: undefined }, refund: plain },
    };
  }

  if (!verifyV2(f, m.key)) throw new NotificationRejected('bad sign');
  if (!f.out_trade_no) throw new NotificationRejected('out_trade_no is missing');
  const paid = f.result_code === 'SUCCESS';
  const report = paymentReport(f, paid ? 'PAID' : 'FAILED');
  if (paid && (report.amount === undefined || !report.transaction_id)) {
    throw new NotificationRejected('a SUCCESS notification without total_fee or transaction_id');
  }
  return {
    kind: 'payment',
    dedupe_key: `v2:payment:${f.out_trade_no}:${f.transaction_id ?? ''}:${f.result_code}`,
    report,
    fields: f,
  };
}

/** The exact acks WeChat Pay expects (HTTP 200 either way; FAIL asks for another delivery). */
export function reply(ok: boolean, message = 'OK'): NotifyReply {
  return {
    statusCode: 200,
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    body: buildFlatXml(ok ? { return_code: 'SUCCESS', return_msg: 'OK' } : { return_code: 'FAIL', return_msg: message }),
  };
}
