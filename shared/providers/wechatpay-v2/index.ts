import { configInvalid, configMissing, providerRejected, providerUnavailable } from '../../core/errors';
import { nonce } from '../../crypto/nonce';
import { buildFlatXml, parseFlatXml } from '../../crypto/xml';
import { TlsCredentialError, type TlsOptions } from '../../http/client';
import type { PaymentProvider, ProviderCtx, RefundReport } from '../types';
import * as notify from './notify';
import { signV2, verifyV2 } from './sign';
import * as t from './transform';
import { RETRYABLE_ERRORS, V2_DEFAULT_BASE, V2_PATHS, type V2Api, type V2Fields, type V2Merchant } from './wire';

type Ctx = ProviderCtx<V2Merchant>;

/** The client certificate refunds need (mutual TLS); its absence is a config error named for the operator. */
function refundTls(m: V2Merchant, section: string): TlsOptions {
  const ca = m.tls_ca;
  if (m.cert_pem && m.key_pem) return { cert: m.cert_pem, key: m.key_pem, ca };
  if (m.p12_base64) return { pfx: Buffer.from(m.p12_base64, 'base64'), passphrase: m.p12_passphrase ?? m.mchid, ca };
  throw configMissing(
    `refunds need the merchant API certificate: set config/payment.${section}.cert_pem and key_pem (apiclient_cert.pem, apiclient_key.pem) or p12_base64`,
  );
}

/**
 * One signed call: XML out, XML back, the answer's sign verified before anything in it is believed.
 * Returns the fields when `result_code` is SUCCESS or its `err_code` is one the caller handles.
 */
async function call(ctx: Ctx, section: string, api: V2Api, fields: V2Fields, handled: readonly string[] = [], tls?: TlsOptions): Promise<V2Fields> {
  const m = ctx.config;
  const req: V2Fields = { ...fields, nonce_str: nonce(32) };
  if (m.sign_type === 'HMAC-SHA256') req.sign_type = 'HMAC-SHA256';
  req.sign = signV2(req, m.key, m.sign_type);

  const res = await ctx.http
    .request({
      method: 'POST',
      url: `${m.api_base ?? V2_DEFAULT_BASE}${V2_PATHS[api]}`,
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: buildFlatXml(req),
      tls: tls ?? (m.tls_ca ? { ca: m.tls_ca } : undefined),
    })
    .catch((err: unknown) => {
      if (err instanceof TlsCredentialError) {
        throw configInvalid(`${err.message}: check that config/payment.${section}.cert_pem and key_pem belong together, or p12_base64 and p12_passphrase`);
      }
      throw err;
    });
  if (res.status !== 200) throw providerUnavailable(`WeChat Pay ${api} answered HTTP ${res.status}; try again`);
  let f: V2Fields;
  try {
    f = parseFlatXml(res.body);
  } catch {
    throw providerUnavailable(`WeChat Pay ${api} answered with unreadable XML; try again`);
  }
  if (f.return_code !== 'SUCCESS') {
    // Transport failures are unsigned; "签名错误" here almost always means a wrong key in the config.
    throw providerRejected(f.return_code ?? 'FAIL', `WeChat Pay ${api} refused the request: ${f.return_msg ?? 'no reason given'}`);
  }
  if (!verifyV2(f, m.key)) {
    throw providerUnavailable(`WeChat Pay ${api} answer failed signature verification; nothing was changed`);
  }
  if (f.result_code === 'SUCCESS' || handled.includes(f.err_code)) return f;
  if (RETRYABLE_ERRORS.includes(f.err_code)) {
    throw providerUnavailable(`WeChat Pay ${api}: ${f.err_code} ${f.err_code_des ?? ''}; try again with the same order number`.trim());
  }
  throw providerRejected(f.err_code ?? 'FAIL', `WeChat Pay ${api}: ${f.err_code_des ?? f.err_code ?? 'failed'}`);
}

/** WeChat Pay API v2 as a direct merchant (`v2`) or as a service provider for a sub-merchant (`v2sp`). */
export function wechatPayV2(id: 'v2' | 'v2sp'): PaymentProvider<V2Merchant> {
  return {
    id,
    currencies: ['CNY'],
    methods: ['wechat'],
    maxAmount: 2 ** 31 - 1, // total_fee is an Int
    merchantIds: t.merchantIds,

    async create(ctx, input) {
      const fields = t.unifiedOrderFields(ctx.config, input, ctx.notifyUrl);
      const f = await call(ctx, id, 'unifiedorder', fields, ['ORDERPAID', 'ORDERCLOSED']);
      if (f.err_code === 'ORDERPAID') return { kind: 'already_paid' };
      if (f.err_code === 'ORDERCLOSED') return { kind: 'already_closed' };
      if (!f.prepay_id) throw providerUnavailable('WeChat Pay unifiedorder answered without prepay_id; try again');
      const now = ctx.clock.now();
      return {
        kind: 'pay',
        prepay_id: f.prepay_id,
        prepay_expires_at: now + 2 * 3600_000, // prepay_id lives 2 hours
        payment: t.requestPayment(ctx.config, f.prepay_id, nonce(32), now),
      };
    },

    repay: (ctx, prepayId) => t.requestPayment(ctx.config, prepayId, nonce(32), ctx.clock.now()),

    async query(ctx, outTradeNo) {
      const f = await call(ctx, id, 'orderquery', { ...t.merchantFields(ctx.config), out_trade_no: outTradeNo }, ['ORDERNOTEXIST']);
      if (f.err_code === 'ORDERNOTEXIST') return { out_trade_no: outTradeNo, state: 'NOT_FOUND' };
      return t.tradeStateReport(f);
    },

    async close(ctx, outTradeNo) {
      // ORDERNOTEXIST: the order never reached WeChat, so nothing can be paid under it: as good as closed.
      const f = await call(ctx, id, 'closeorder', { ...t.merchantFields(ctx.config), out_trade_no: outTradeNo }, [
        'ORDERPAID',
        'ORDERCLOSED',
        'ORDERNOTEXIST',
      ]);
      return f.err_code === 'ORDERPAID' ? 'PAID' : 'CLOSED';
    },

    async refund(ctx, input): Promise<RefundReport> {
      const tls = refundTls(ctx.config, id);
      const fields: V2Fields = {
        ...t.merchantFields(ctx.config),
        out_trade_no: input.out_trade_no,
        out_refund_no: input.out_refund_no,
        total_fee: String(input.total),
        refund_fee: String(input.amount),
        refund_fee_type: input.currency,
        notify_url: ctx.notifyUrl,
      };
      if (input.transaction_id) fields.transaction_id = input.transaction_id;
      if (input.reason) fields.refund_desc = input.reason.slice(0, 80);
      const f = await call(ctx, id, 'refund', fields, [], tls);
      return {
        out_refund_no: input.out_refund_no,
        out_trade_no: input.out_trade_no,
        state: 'PROCESSING', // accepted only: the notification or refundquery is final
        refund_id: f.refund_id,
        amount: t.toInt(f.refund_fee),
      };
    },

    async queryRefund(ctx, outRefundNo) {
      const f = await call(ctx, id, 'refundquery', { ...t.merchantFields(ctx.config), out_refund_no: outRefundNo }, [
        'REFUNDNOTEXIST',
      ]);
      if (f.err_code === 'REFUNDNOTEXIST') return { out_refund_no: outRefundNo, state: 'NOT_FOUND' };
      return t.refundQueryReport(f, outRefundNo);
    },

    notify: {
      peek: notify.peek,
      verify: async (ctx, req) => notify.verify(ctx.config, req),
      reply: notify.reply,
    },
  };
}
