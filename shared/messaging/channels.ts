import { invalidInput } from '../core/errors';
import type { OpenApi } from '../runtime/port';
import type { Template, TemplateConfig } from '../config/template';
import type { UnionPayApp } from '../config/contract';
import { callWechatApi, type TokenDeps } from './access-token';
import { callUnionPay } from '../providers/unionpay/client';
import type { UnionPayDeps } from '../providers/unionpay/backend-token';
import { unionpayRefusal, wechatRefusal, type Refusal, type SendContext } from './outcomes';

/** One message, ready for its channel: the template's data already checked and formatted. */
export interface Outbound {
  template: Template;
  to: string;
  data: Record<string, string>;
  client_msg_id: string;
  /** The page it opens (the caller's, else the template's). */
  page?: string;
}

export type ChannelAnswer = { ok: true; msgid?: string } | { ok: false; refusal: Refusal };

const wxData = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, value]) => [k, { value }]));

/** The mini-program an official-account template's page opens, if any. */
const miniprogramOf = (config: TemplateConfig, t: Template) => t.miniprogram_appid ?? config.official_account?.miniprogram_appid;

/** Refuses a page the template's channel cannot open (an official-account template bound to no mini-program). */
export function checkPage(config: TemplateConfig, t: Template, page: string | undefined): void {
  if (page && t.channel === 'official_account' && !miniprogramOf(config, t)) {
    throw invalidInput(`page: template ${t.name} opens no mini-program; set config/template.official_account.miniprogram_appid to open pages`);
  }
}

/** The body of `/cgi-bin/message/template/send` (protocols §3.1): `miniprogram.pagepath`, not `path`. */
export function templateSendBody(config: TemplateConfig, m: Outbound): Record<string, unknown> {
  const body: Record<string, unknown> = { touser: m.to, template_id: m.template.template_id };
  if (m.template.url) body.url = m.template.url;
  if (m.page) {
    checkPage(config, m.template, m.page);
    body.miniprogram = { appid: miniprogramOf(config, m.template)!, pagepath: m.page };
  }
  body.client_msg_id = m.client_msg_id;
  body.data = wxData(m.data);
  return body;
}

/** Official-account template message, with the account's shared access token. */
export async function sendOfficialAccount(deps: TokenDeps, config: TemplateConfig, m: Outbound, c: SendContext): Promise<ChannelAnswer> {
  const app = config.official_account!;
  const answer = await callWechatApi(deps, { appid: app.appid, secret: app.secret, api_base: app.api_base }, '/cgi-bin/message/template/send', templateSendBody(config, m));
  const code = Number(answer.errcode ?? 0);
  if (code === 0) return { ok: true, msgid: answer.msgid === undefined ? undefined : String(answer.msgid) };
  return { ok: false, refusal: wechatRefusal(code, String(answer.errmsg ?? ''), c) };
}

/** Mini-program subscribe message through `cloud.openapi` (camelCase; the permission is in config.json). */
export async function sendSubscribe(openapi: OpenApi, m: Outbound, c: SendContext): Promise<ChannelAnswer> {
  const r = await openapi.subscribeMessage.send({
    touser: m.to,
    templateId: m.template.template_id,
    ...(m.page ? { page: m.page } : {}),
    data: wxData(m.data),
    ...(m.template.miniprogram_state ? { miniprogramState: m.template.miniprogram_state } : {}),
    ...(m.template.lang ? { lang: m.template.lang } : {}),
  });
  if (r.errCode === 0) return { ok: true };
  return { ok: false, refusal: wechatRefusal(r.errCode, r.errMsg, c) };
}

/** The parameters of UnionPay's `1.0/applet.msg` (protocols unionpay §1.6); appId and backendToken are added by callUnionPay. */
export function appletMsgParams(mpId: string, m: Outbound): Record<string, unknown> {
  const destType = m.template.dest_type ?? 'applet';
  return {
    openId: m.to,
    mpId,
    templateId: m.template.template_id,
    desc: m.template.desc ?? m.template.title ?? m.template.name,
    isPush: '1',
    uiType: '1',
    destType,
    destInfo: destType === 'applet' ? mpId : m.template.dest_info,
    valueList: Object.entries(m.data).map(([key, value]) => ({ key, value })),
  };
}

/** UnionPay mini-program template message, with the backendToken shared with the contract function. */
export async function sendUnionPay(deps: UnionPayDeps, app: UnionPayApp, mpId: string, m: Outbound, c: SendContext): Promise<ChannelAnswer> {
  const answer = await callUnionPay(deps, app, '1.0/applet.msg', appletMsgParams(mpId, m));
  if (answer.resp === '00') return { ok: true, msgid: typeof answer.params.msgId === 'string' ? answer.params.msgId : undefined };
  return { ok: false, refusal: unionpayRefusal(answer.resp, answer.msg, c) };
}
