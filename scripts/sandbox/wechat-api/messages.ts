/**
 * The message family of the WeChat API sandbox, written from protocols/wechat-messaging-and-face.md §3.1–3.2:
 * official-account template send (`client_msg_id` de-duplication within 10 minutes, `miniprogram.pagepath`)
 * and mini-program subscribe send, with WeChat's checks and errcodes: 47001 body not JSON, 40003 openid,
 * 40037 a template id the app does not own, 47003 a value that is missing or breaks its key's limit, and any
 * errcode a test forces for one recipient (43101, 43004, 45009, ...). Delivered messages can be listed; they
 * hold the template's own keys only (WeChat drops `first` / `remark` since May 2023).
 */
import { randomInt } from 'crypto';
import { json, jsonBody, jsonObject, type SandboxRequest, type SandboxResponse } from '../types';
import { wxError } from './tokens';
import type { TokenRoute } from './index';

export type MessageKind = 'template' | 'subscribe';

export interface Delivered {
  appid: string;
  kind: MessageKind;
  touser: string;
  template_id: string;
  data: Record<string, string>;
  msgid: number;
  at: number;
  client_msg_id?: string;
  url?: string;
  miniprogram?: { appid: string; pagepath: string };
  page?: string;
  miniprogram_state?: string;
  lang?: string;
}

const OPENID = /^o[A-Za-z0-9_-]{5,63}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
const DEDUPE_MS = 10 * 60_000;

/** WeChat's limit for a typed key (thing1, amount3, ...); classic keys (keyword1, first, remark) have none published. */
function valueProblem(key: string, value: string): boolean {
  const kind = /^([a-z_]+?)\d+$/.exec(key)?.[1];
  const n = [...value].length;
  if (CONTROL.test(value)) return true;
  switch (kind) {
    case 'thing':
      return n > 20;
    case 'character_string':
    case 'letter':
      return n > 32 || !/^[\x21-\x7e]+$/.test(value);
    case 'number':
      return !/^-?\d+(\.\d+)?$/.test(value) || value.replace(/\D/g, '').length > 32;
    case 'phrase':
      return !/^\p{Script=Han}{1,5}$/u.test(value);
    case 'amount':
      return !/^[^\d\s.-]?\d+(\.\d+)?元?$/.test(value) || value.replace(/\D/g, '').length > 10;
    case 'phone_number':
      return n > 17;
    case 'car_number':
      return n > 8;
    case 'name':
      return /\p{Script=Han}/u.test(value) ? n > 10 : n > 20;
    default:
      return false;
  }
}

export function messagesFamily(opts: { now?: () => number } = {}) {
  const now = opts.now ?? Date.now;
  /** `appid|kind|template_id` → the template's keys. */
  const templates = new Map<string, string[]>();
  const delivered: Delivered[] = [];
  const recent = new Map<string, { msgid: number; at: number }>();
  /** Recipient → the errcode the next sends to it get (`count` times; -1 for ever). */
  const forced = new Map<string, { errcode: number; count: number }>();


  /** The checks both kinds share; the data as plain strings when they pass. */
  function check(appid: string, kind: MessageKind, b: Record<string, unknown> | undefined): { refuse: SandboxResponse } | { data: Record<string, string> } {
    if (!b) return { refuse: wxError(47001, 'data format error: the body must be JSON') };
    const touser = String(b.touser ?? '');
    if (!OPENID.test(touser)) return { refuse: wxError(40003, 'invalid openid') };
    const keys = templates.get(`${appid}|${kind}|${String(b.template_id ?? '')}`);
    if (!keys) return { refuse: wxError(40037, 'invalid template_id') };
    const f = forced.get(touser);
    if (f && f.count !== 0) {
      if (f.count > 0) f.count--;
      const text: Record<number, string> = { 43101: 'user refuse to accept the msg', 43004: 'require subscribe', 45009: 'reach max api daily quota limit', 40003: 'invalid openid' };
      return { refuse: wxError(f.errcode, text[f.errcode] ?? 'forced by the sandbox') };
    }
    const data = b.data as Record<string, { value?: unknown }> | undefined;
    if (!data || typeof data !== 'object') return { refuse: wxError(47003, 'argument invalid! data is empty') };
    const out: Record<string, string> = {};
    for (const key of keys) {
      const v = data[key]?.value;
      if (typeof v !== 'string' || v === '') return { refuse: wxError(47003, `argument invalid! data.${key}.value is empty`) };
      if (valueProblem(key, v)) return { refuse: wxError(47003, `argument invalid! data.${key}.value invalid`) };
      out[key] = v;
    }
    return { data: out };
  }

  const api: Record<string, TokenRoute> = {
    'POST /cgi-bin/message/template/send': async (req, appid) => {
      const b = jsonObject(req);
      const c = check(appid, 'template', b);
      if ('refuse' in c) return c.refuse;
      const mp = b!.miniprogram as Record<string, unknown> | undefined;
      if (mp !== undefined && (typeof mp !== 'object' || typeof mp.appid !== 'string' || typeof mp.pagepath !== 'string')) {
        return wxError(47003, 'argument invalid! miniprogram needs appid and pagepath');
      }
      const touser = String(b!.touser);
      const cmi = typeof b!.client_msg_id === 'string' ? b!.client_msg_id : undefined;
      const dedupeKey = cmi && `${appid}|${touser}|${cmi}`;
      const seen = dedupeKey ? recent.get(dedupeKey) : undefined;
      if (seen && now() - seen.at < DEDUPE_MS) return json(200, { errcode: 0, errmsg: 'ok', msgid: seen.msgid });
      const msgid = randomInt(1, 2 ** 47);
      delivered.push({
        appid,
        kind: 'template',
        touser,
        template_id: String(b!.template_id),
        data: c.data,
        msgid,
        at: now(),
        ...(cmi ? { client_msg_id: cmi } : {}),
        ...(typeof b!.url === 'string' ? { url: b!.url } : {}),
        ...(mp ? { miniprogram: { appid: String(mp.appid), pagepath: String(mp.pagepath) } } : {}),
      });
      if (dedupeKey) recent.set(dedupeKey, { msgid, at: now() });
      return json(200, { errcode: 0, errmsg: 'ok', msgid });
    },
    'POST /cgi-bin/message/subscribe/send': async (req, appid) => {
      const b = jsonObject(req);
      const c = check(appid, 'subscribe', b);
      if ('refuse' in c) return c.refuse;
      if (b!.miniprogram_state !== undefined && !['developer', 'trial', 'formal'].includes(String(b!.miniprogram_state))) return wxError(47003, 'argument invalid! miniprogram_state');
      if (b!.lang !== undefined && !['zh_CN', 'en_US', 'zh_HK', 'zh_TW'].includes(String(b!.lang))) return wxError(47003, 'argument invalid! lang');
      if (b!.page !== undefined && (typeof b!.page !== 'string' || /\s/.test(b!.page))) return wxError(41030, 'invalid page');
      delivered.push({
        appid,
        kind: 'subscribe',
        touser: String(b!.touser),
        template_id: String(b!.template_id),
        data: c.data,
        msgid: randomInt(1, 2 ** 47),
        at: now(),
        ...(typeof b!.page === 'string' ? { page: b!.page } : {}),
        ...(typeof b!.miniprogram_state === 'string' ? { miniprogram_state: b!.miniprogram_state } : {}),
        ...(typeof b!.lang === 'string' ? { lang: b!.lang } : {}),
      });
      return json(200, { errcode: 0, errmsg: 'ok' });
    },
  };

  const family = {
    /** The app owns this template (an account adds it from the library in its console). */
    addTemplate(appid: string, kind: MessageKind, id: string, keys: string[]) {
      templates.set(`${appid}|${kind}|${id}`, [...keys]);
    },
    /** The next `count` sends to `openid` (all of them with -1) are answered `errcode`; 0 clears. */
    force(openid: string, errcode: number, count = -1) {
      if (errcode === 0) forced.delete(openid);
      else forced.set(openid, { errcode, count });
    },
    delivered: (touser?: string) => delivered.filter((m) => touser === undefined || m.touser === touser).map((m) => ({ ...m })),
    api,
    control: {
      /** `{openid, errcode, count?}`: force WeChat's answer for a recipient (errcode 0 clears). */
      'POST /messages/force': async (req: SandboxRequest) => {
        const b = jsonBody(req);
        if (typeof b.openid !== 'string' || typeof b.errcode !== 'number') return json(400, { error: 'send {openid, errcode, count?}' });
        family.force(b.openid, b.errcode, typeof b.count === 'number' ? b.count : -1);
        return json(200, { forced: b.openid, errcode: b.errcode });
      },
      /** `{appid, kind: "template" | "subscribe", template_id, keys}`: the app owns a template with these keys. */
      'POST /messages/templates': async (req: SandboxRequest) => {
        const b = jsonBody(req);
        if (typeof b.appid !== 'string' || (b.kind !== 'template' && b.kind !== 'subscribe') || typeof b.template_id !== 'string' || !Array.isArray(b.keys)) {
          return json(400, { error: 'send {appid, kind, template_id, keys}' });
        }
        family.addTemplate(b.appid, b.kind, b.template_id, b.keys.map(String));
        return json(200, { added: b.template_id });
      },
      /** `?touser=`: the messages delivered (to that user). */
      'GET /messages': async (req: SandboxRequest) => {
        const touser = new URL(req.path, 'http://sandbox').searchParams.get('touser') ?? undefined;
        return json(200, { messages: family.delivered(touser) });
      },
    },
  };
  return family;
}

export type MessagesFamily = ReturnType<typeof messagesFamily>;
