import { AppError } from '../../core/errors';
import { HttpUnavailableError } from '../../http/client';
import { NotificationRejected, type NotifyEvent, type NotifyHint, type NotifyReply, type NotifyRequest, type ProviderCtx } from '../types';
import { queryOrder } from './client';
import { verifyNotifySign } from './sign';
import { paymentReport, refundReport, str } from './transform';
import type { YabandFields, YabandMerchant } from './wire';

interface Notification {
  sign: unknown;
  data: YabandFields;
}

/** The notification: a raw JSON body `{sign, data}`, or the form field `resultData=<urlencoded JSON>`. */
export function parseNotification(body: Buffer): Notification {
  let text = body.toString('utf8').trim();
  if (!text) throw new NotificationRejected('empty body');
  if (!text.startsWith('{')) {
    const field = new URLSearchParams(text).get('resultData');
    if (!field) throw new NotificationRejected('neither a JSON body nor a resultData form field');
    text = field.trim();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new NotificationRejected('malformed JSON');
  }
  const n = parsed as Partial<Notification> | null;
  if (!n || typeof n !== 'object' || !n.data || typeof n.data !== 'object' || Array.isArray(n.data)) {
    throw new NotificationRejected('no data object');
  }
  return { sign: n.sign, data: n.data };
}

export function peek(req: NotifyRequest): NotifyHint {
  const { data } = parseNotification(req.body);
  return { appids: [], out_trade_no: str(data, 'order_id') };
}

/** Asks Yaband about the trade; not being able to ask is a reason to hear the notification again later. */
async function queryTrade(ctx: ProviderCtx<YabandMerchant>, tradeId: string): Promise<YabandFields> {
  try {
    return await queryOrder(ctx, tradeId);
  } catch (err) {
    if (err instanceof HttpUnavailableError || err instanceof AppError) {
      throw new NotificationRejected(`v3.QueryOrder could not confirm trade ${tradeId}: ${err.message}`);
    }
    throw err;
  }
}

const major = (f: YabandFields) => `${str(f, 'amount') ?? '?'} ${str(f, 'currency') ?? '?'}`;

/**
 * Verifies the sign over `data` with this account's secret, then confirms with `v3.QueryOrder` (Yaband's
 * notification state is not trusted alone): the trade must be the notified order, and a paid claim must match
 * the query's amount and currency. What gets applied is the query's answer. A refund notification (it names
 * `m_refund_id`; Yaband has no single-refund query, only a refund list) is applied from its signed data once
 * the query shows the trade is that order's and was paid.
 */
export async function verify(ctx: ProviderCtx<YabandMerchant>, req: NotifyRequest): Promise<NotifyEvent> {
  const m = ctx.config;
  const { sign, data } = parseNotification(req.body);
  if (!verifyNotifySign(data, sign, m.secret)) throw new NotificationRejected('bad sign');
  const orderId = str(data, 'order_id');
  const tradeId = str(data, 'trade_id');
  if (!orderId || !tradeId) throw new NotificationRejected('order_id or trade_id is missing');

  const trade = await queryTrade(ctx, tradeId);
  const queried = paymentReport(m, trade, orderId);
  if (queried.out_trade_no !== orderId) throw new NotificationRejected(`trade ${tradeId} is order ${queried.out_trade_no} at YabandPay, not ${orderId}`);

  const refundNo = str(data, 'm_refund_id');
  if (refundNo) {
    if (queried.state !== 'PAID') throw new NotificationRejected(`a refund notification for trade ${tradeId}, which v3.QueryOrder reports ${queried.provider_state}`);
    const report = refundReport(m, data, orderId);
    return { kind: 'refund', dedupe_key: `yaband:refund:${refundNo}:${report.provider_state ?? ''}`, report, fields: { notification: data } };
  }

  // A notification older than the trade's state (e.g. `pending` after the payment) gets the query's state
  // applied; a paid claim must agree with the query on state, amount and currency.
  const told = paymentReport(m, data, orderId);
  // A paid claim the query does not (yet) confirm is answered `bad`, so Yaband delivers it again later.
  if (told.state === 'PAID' && queried.state !== 'PAID') {
    throw new NotificationRejected(`the notification says ${told.provider_state} but v3.QueryOrder says ${queried.provider_state}`);
  }
  if (told.state === 'PAID' && (told.amount !== queried.amount || told.currency !== queried.currency)) {
    throw new NotificationRejected(`the notification's amount ${major(data)} differs from v3.QueryOrder's ${major(trade)}`);
  }
  return {
    kind: 'payment',
    dedupe_key: `yaband:payment:${orderId}:${tradeId}:${told.provider_state ?? ''}`,
    // The settlement as v3.QueryOrder reports it, else as the (signed) notification does.
    report: { ...queried, settlement: queried.settlement ?? told.settlement },
    fields: { notification: data, queried_state: queried.provider_state },
  };
}

/** The official library's acks: plain text `ok`, or `bad` to have the notification delivered again [I]. */
export function reply(ok: boolean): NotifyReply {
  return { statusCode: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: ok ? 'ok' : 'bad' };
}
