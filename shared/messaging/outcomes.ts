import { AppError, configInvalid, providerRejected, providerUnavailable } from '../core/errors';
import type { Channel } from '../config/template';
import { nextCstMidnight } from '../core/clock';

/**
 * What a refusal means for the sender (protocols §3.1, §3.2, pain points §4): whether sending again can help,
 * and when. 43101 / 43004 are routine user choices: final, never retried. 45009 is the daily quota: it
 * helps only tomorrow (China time).
 */
export interface Refusal {
  error: AppError;
  retryable: boolean;
  /** Epoch ms after which a retry may succeed. */
  retry_after?: number;
  /** No real answer came (a timeout or failure on the platform's side): the message may have been delivered. */
  unknown?: boolean;
}

export interface SendContext {
  channel: Channel;
  template: string;
  template_id: string;
  to: string;
  /** The app whose token sent it (the official account's or the mini-program's appid; the UnionPay appId). */
  appid: string;
  now: number;
}

export const IP_WHITELIST_HELP =
  "add the cloud environment's fixed egress IP to the account's IP whitelist (official account: 设置与开发 → 基本配置 → IP白名单; mini-program: 开发管理 → 开发设置), or turn the whitelist off; cloud functions without a fixed egress IP change address between calls";

/** A WeChat errcode (template send, subscribe send) in the sender's terms. */
export function wechatRefusal(code: number, errmsg: string, c: SendContext): Refusal {
  const where = `config/template.templates.${c.template}`;
  const final = (error: AppError): Refusal => ({ error, retryable: false });
  const msg = errmsg.slice(0, 200);
  switch (code) {
    case 43101:
      return final(
        providerRejected(
          '43101',
          c.channel === 'subscribe'
            ? `${c.to} has not accepted template ${c.template}, has used up the one-time credit, or turned it off (43101): not retried; the mini-program must ask again with wx.requestSubscribeMessage`
            : `${c.to} refuses messages from the official account (43101): not retried`,
        ),
      );
    case 43004:
      return final(providerRejected('43004', `${c.to} does not follow the official account ${c.appid} (43004): not retried; the user has to follow it first`));
    case 43019:
      return final(providerRejected('43019', `${c.to} is on the blacklist of ${c.appid} (43019): not retried`));
    case 40003:
      return final(
        providerRejected(
          '40003',
          `to: ${c.to} is not an openid of ${c.appid} (40003)${c.channel === 'official_account' ? ": an official-account message needs the user's official-account openid, not the mini-program's (map users by unionid)" : ': it must be an openid of this mini-program'}`,
        ),
      );
    case 40037:
      return final(
        configInvalid(
          `${where}.template_id ${c.template_id} is not a template of ${c.appid} (40037): copy the id from the ${c.channel === 'subscribe' ? 'mini-program' : 'official-account'} console; a library number such as OPENTM405545802 is not an id`,
        ),
      );
    case 47003:
      return final(providerRejected('47003', `WeChat refused a value of template ${c.template} (47003 ${msg}): fix the value it names`));
    case 41030:
      return final(configInvalid(`the page of template ${c.template} is not in the released mini-program (41030): fix ${where}.page or the page sent`));
    case 43116:
      return final(configInvalid(`template ${c.template_id} (${c.template}) has been banned by WeChat (43116): choose another template in the console and update ${where}.template_id`));
    case 40164:
      return final(providerRejected('40164', `WeChat refused the call because the calling IP is not whitelisted for ${c.appid} (40164): ${IP_WHITELIST_HELP}`));
    case -604101:
      return final(configInvalid(`the function may not call openapi.subscribeMessage.send (-604101): declare it in functions/template-msg/config.json (permissions.openapi) and upload the function again`));
    case 45009:
      return {
        error: providerRejected('45009', `the daily quota of ${c.appid} for these messages is used up (45009): retry after ${new Date(nextCstMidnight(c.now)).toISOString()} (midnight China time)`),
        retryable: true,
        retry_after: nextCstMidnight(c.now),
      };
    case -1:
      // WeChat's "system busy"; wx-server-sdk also gives -1 to any failure without a code of its own (a network error).
      return { error: providerUnavailable(`no usable answer from WeChat (-1 ${msg}); try again`), retryable: true, unknown: true };
    case 40001:
    case 42001:
    case 40014:
      // A token refused twice: a transient state on WeChat's side.
      return { error: providerUnavailable(`WeChat could not take the message now (${code} ${msg}); try again`), retryable: true };
    default:
      // -5xxxxx (CloudBase) and -6xxxxx (WeChat's cloud-call gateway) are wx-server-sdk's own codes for
      // timeouts and system errors (-501002, -601008, -604102, -604103, ...): no answer from WeChat, not a
      // refusal; final only for the permission (-604101, above).
      if (code <= -500_000 && code > -700_000) {
        return { error: providerUnavailable(`the cloud call did not complete (${code} ${msg}); try again`.trim()), retryable: true, unknown: true };
      }
      return final(providerRejected(String(code), `WeChat refused template ${c.template}: ${code} ${msg}`.trim()));
  }
}

/** UnionPay config errors: the operator has to fix config/contract or config/template. */
const UNIONPAY_CONFIG: Record<string, string> = {
  BC2126: 'UnionPay does not know the appId: check the parameter set of config/contract',
  BC2133: 'UnionPay says the merchant information is wrong: check app_id in config/contract',
  N62131: 'this application lacks the permission for 1.0/applet.msg: ask UnionPay to enable mini-program messages',
  S52131: 'this application lacks the permission for 1.0/applet.msg: ask UnionPay to enable mini-program messages',
};

/** A UnionPay `resp` other than 00 for 1.0/applet.msg. */
export function unionpayRefusal(resp: string, msg: string, c: SendContext): Refusal {
  if (UNIONPAY_CONFIG[resp]) return { error: configInvalid(`${UNIONPAY_CONFIG[resp]} (${resp})`), retryable: false };
  if (resp === 'a10') return { error: providerUnavailable('UnionPay refused the backendToken twice (a10); try again'), retryable: true };
  if (resp === 'N62110') return { error: providerRejected(resp, `to: ${c.to} is not a UnionPay openId of ${c.appid} (N62110)`), retryable: false };
  return { error: providerRejected(resp, `UnionPay refused template ${c.template}: ${resp} ${msg.slice(0, 120)}`.trim()), retryable: false };
}
