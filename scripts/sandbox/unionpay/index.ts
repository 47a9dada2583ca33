/**
 * The UnionPay QuickPass open-platform sandbox (`/sandbox/unionpay/...`), written from
 * protocols/unionpay.md: backendToken (SHA-256 signature, expiry, `a10` for a token it does not hold), the
 * 无感支付 signing page (redirects back with a single-use code), 1.0/token, contract.apply / relieve / info
 * (info answers from a 5-minute cache, as UnionPay's does), and the charge and its query at the default paths
 * of config/contract.deduction (both RSA-signed by the merchant). Control routes deliver RSA-signed payment
 * results and termination notices to `<notify_url>/unionpay` and report counters, so tests can prove the
 * 5-minute rule and the query spacing. Its signing key pair is made at start (kept in the data folder).
 */
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'crypto';
import { existsSync, readFileSync, writeFileSync } from 'fs';
import { des3EcbEncrypt } from '../../../shared/crypto/des3';
import { unionpaySign, unionpayVerify, unionpaySignString } from '../../../shared/providers/unionpay/sign';
import { formatCstCompact } from '../../../shared/core/clock';
import { deliver, type Delivery } from '../deliver';
import { json, jsonBody, jsonObject, type SandboxRequest, type SandboxResponse } from '../types';

export interface UnionPayApp {
  appId: string;
  secret: string;
  planId: string;
  /** The merchant's public key (from config/contract's private_key): it verifies signed charges and queries. */
  merchantPublicKeyPem: string;
  symmetricKey: string;
  notifyUrl: string;
}

export interface UnionPaySandboxOptions {
  now?: () => number;
  /** Where the sandbox's own key pair is kept across restarts. */
  keyFile?: string;
  tokenTtlMs?: number;
  /** How long the `timeout` fault holds its answer (longer than the functions' HTTP timeout). */
  stallMs?: number;
}

const INFO_CACHE_MS = 5 * 60_000;
const id = (prefix: string) => `${prefix}${randomBytes(12).toString('hex')}`;
const up = (resp: string, msg: string, params: Record<string, unknown> = {}) => json(200, { resp, msg, params });

function identity(keyFile?: string): { privateKeyPem: string; publicKeyPem: string } {
  if (keyFile && existsSync(keyFile)) return JSON.parse(readFileSync(keyFile, 'utf8'));
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pair = {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  if (keyFile) writeFileSync(keyFile, JSON.stringify(pair), { mode: 0o600 });
  return pair;
}

interface Txn {
  appId: string;
  orderId: string;
  txnTime: string;
  txnAmt: string;
  contractId: string;
  openId: string;
  state: 'accepted' | 'paid' | 'failed';
  queryId: string;
}

export function unionpaySandbox(opts: UnionPaySandboxOptions = {}) {
  const now = opts.now ?? Date.now;
  const ttlMs = opts.tokenTtlMs ?? 7200_000;
  const keys = identity(opts.keyFile);
  const apps = new Map<string, UnionPayApp>();
  const tokens = new Map<string, { appId: string; expires_at: number }>();
  const tokenFetches = new Map<string, number>();
  const codes = new Map<string, { appId: string; openId: string }>();
  const accessTokens = new Map<string, { appId: string; openId: string; expires_at: number }>();
  const contracts = new Map<string, { appId: string; openId: string; planId: string; contractCode: string; status: '1' | '3' }>();
  const infoCache = new Map<string, { at: number; params: Record<string, unknown> }>();
  let infoCalls = 0;
  const txns = new Map<string, Txn>();
  const queries = new Map<string, number[]>();
  /** Mini-program template messages (1.0/applet.msg) delivered, and the resp forced per recipient openId. */
  const messages: Array<Record<string, unknown> & { appId: string; openId: string; msgId: string }> = [];
  const msgFaults = new Map<string, string>();
  /** The next charges misbehave: `refuse` (a business refusal), `timeout` (taken, but answered too late). */
  let fault: { mode: 'refuse' | 'timeout'; count: number } | null = null;


  /** The app of a token-carrying API call, or the envelope UnionPay answers. */
  function authorise(b: Record<string, unknown> | undefined): { app: UnionPayApp } | { refuse: SandboxResponse } {
    if (!b) return { refuse: up('BC0024', 'illegal request: the body must be JSON') };
    const app = typeof b.appId === 'string' ? apps.get(b.appId) : undefined;
    if (!app) return { refuse: up('BC2126', 'appId not cached') };
    const t = typeof b.backendToken === 'string' ? tokens.get(b.backendToken) : undefined;
    if (!t || t.appId !== app.appId || now() >= t.expires_at) return { refuse: up('a10', 'backendToken invalid or expired') };
    return { app };
  }

  /** Charge and query carry the merchant's SHA256withRSA signature over the sorted body. */
  const merchantSigned = (app: UnionPayApp, b: Record<string, unknown>) => unionpayVerify(b, app.merchantPublicKeyPem);

  const api: Record<string, (app: UnionPayApp, b: Record<string, unknown>) => SandboxResponse> = {
    'POST /1.0/token': (app, b) => {
      const c = typeof b.code === 'string' ? codes.get(b.code) : undefined;
      if (b.grantType !== 'authorization_code') return up('BC0024', 'grantType must be authorization_code');
      if (!c || c.appId !== app.appId) return up('a31', 'code invalid or expired');
      codes.delete(b.code as string); // single use
      const accessToken = id('UPAT');
      accessTokens.set(accessToken, { appId: app.appId, openId: c.openId, expires_at: now() + 3600_000 });
      return up('00', 'success', { accessToken, expiresIn: 3600, openId: c.openId, scope: 'upapi_contract', unionId: `U${c.openId}` });
    },
    'POST /1.0/contract.apply': (app, b) => {
      const at = typeof b.accessToken === 'string' ? accessTokens.get(b.accessToken) : undefined;
      if (!b.contractCode) return up('N62113', 'contractCode empty');
      if (!b.planId) return up('N62114', 'planId empty');
      if (b.planId !== app.planId) return up('N62137', 'sign merchant info error');
      if (!at || at.appId !== app.appId || at.openId !== b.openId || now() >= at.expires_at) return up('N62109', 'accessToken invalid');
      const existing = [...contracts.entries()].find(([, c]) => c.appId === app.appId && c.contractCode === b.contractCode);
      const contractId = existing?.[0] ?? id('CT');
      if (!existing) contracts.set(contractId, { appId: app.appId, openId: at.openId, planId: app.planId, contractCode: String(b.contractCode), status: '1' });
      return up('00', 'success', { contractCode: b.contractCode, planId: app.planId, openId: at.openId, contractId, operationTime: formatCstCompact(now()) });
    },
    'POST /1.0/contract.relieve': (app, b) => {
      if (!b.contractId) return up('N62115', 'contractId empty');
      const c = contracts.get(String(b.contractId));
      if (!c || c.appId !== app.appId || c.openId !== b.openId || c.planId !== b.planId || c.contractCode !== b.contractCode) return up('CT0001', 'no such contract');
      c.status = '3';
      return up('00', 'success', { contractCode: c.contractCode, operateTime: formatCstCompact(now()) });
    },
    'POST /1.0/contract.info': (app, b) => {
      infoCalls++;
      if (!b.openId) return up('N62110', 'openId empty');
      const key = `${app.appId}|${b.openId}|${b.planId}`;
      const hit = infoCache.get(key);
      if (hit && now() - hit.at < INFO_CACHE_MS) return up('00', 'success', hit.params);
      const c = [...contracts.entries()].filter(([, v]) => v.appId === app.appId && v.openId === b.openId && v.planId === b.planId).pop();
      const params = c ? { contractId: c[0], contractStatus: c[1].status } : { contractStatus: '0' };
      infoCache.set(key, { at: now(), params });
      return up('00', 'success', params);
    },
    // protocols/unionpay.md §1.6: backendToken only; valueList keys are the template's field codes.
    'POST /1.0/applet.msg': (app, b) => {
      if (typeof b.openId !== 'string' || !b.openId) return up('N62110', 'openId empty');
      const forced = msgFaults.get(b.openId);
      if (forced) return up(forced, 'forced by the sandbox');
      if (typeof b.mpId !== 'string' || !b.mpId || typeof b.templateId !== 'string' || !b.templateId) return up('BC0024', 'mpId and templateId are required');
      if (!['applet', 'rn', 'html', 'native'].includes(String(b.destType)) || typeof b.destInfo !== 'string' || !b.destInfo) return up('BC0024', 'destType must be applet, rn, html or native, with destInfo');
      if (typeof b.desc !== 'string' || [...b.desc].length > 200) return up('BC0024', 'desc must be at most 200 characters');
      const list = b.valueList;
      if (!Array.isArray(list) || list.length === 0 || !list.every((v) => v && typeof v.key === 'string' && typeof v.value === 'string' && v.value !== '')) {
        return up('BC0024', 'valueList must be [{key, value}] with non-empty values');
      }
      const msgId = id('MSG');
      const { backendToken: _token, ...fields } = b;
      void _token;
      messages.push({ ...fields, appId: app.appId, openId: b.openId, msgId });
      return up('00', 'success', { msgId });
    },
    'POST /1.0/contract.deduct': (app, b) => {
      if (!merchantSigned(app, b)) return up('BC0025', 'signature verify failed');
      const c = contracts.get(String(b.contractId ?? ''));
      if (!c || c.appId !== app.appId || c.planId !== b.planId) return up('N62115', 'contractId invalid');
      if (c.status !== '1') return up('CT0003', 'contract relieved');
      if (!/^[A-Za-z0-9]{8,40}$/.test(String(b.orderId)) || !/^\d{14}$/.test(String(b.txnTime)) || !/^[1-9]\d*$/.test(String(b.txnAmt))) {
        return up('BC0024', 'orderId, txnTime or txnAmt malformed');
      }
      if (b.txnType !== '01' || b.currencyCode !== '156') return up('BC0024', 'txnType must be 01 and currencyCode 156');
      const known = txns.get(String(b.orderId));
      if (known && (known.txnTime !== b.txnTime || known.txnAmt !== b.txnAmt)) return up('CT0004', 'orderId already used');
      const txn = known ?? { appId: app.appId, orderId: String(b.orderId), txnTime: String(b.txnTime), txnAmt: String(b.txnAmt), contractId: String(b.contractId), openId: c.openId, state: 'accepted' as const, queryId: id('Q') };
      txns.set(txn.orderId, txn);
      return up('00', 'accepted', { orderId: txn.orderId, txnTime: txn.txnTime, respCode: '00' });
    },
    'POST /1.0/contract.query': (app, b) => {
      if (!merchantSigned(app, b)) return up('BC0025', 'signature verify failed');
      const orderId = String(b.orderId ?? '');
      queries.set(orderId, [...(queries.get(orderId) ?? []), now()]);
      const t = txns.get(orderId);
      if (!t || t.appId !== app.appId || t.txnTime !== b.txnTime) return up('00', 'success', { orderId, origRespCode: '34', origRespMsg: 'no such transaction' });
      const origRespCode = t.state === 'paid' ? '00' : t.state === 'failed' ? '11' : '05';
      return up('00', 'success', { orderId, txnTime: t.txnTime, txnAmt: t.txnAmt, queryId: t.queryId, origRespCode, origRespMsg: t.state });
    },
  };

  async function notifyApp(app: UnionPayApp, fields: Record<string, string>): Promise<{ delivery: Delivery; form: string }> {
    const signed = { ...fields, signature: unionpaySign(fields, keys.privateKeyPem) };
    const form = new URLSearchParams(signed).toString();
    const delivery = await deliver(`${app.notifyUrl.replace(/\/+$/, '')}/unionpay`, form, { 'content-type': 'application/x-www-form-urlencoded' });
    return { delivery, form };
  }

  const control: Record<string, (req: SandboxRequest) => Promise<SandboxResponse>> = {
    /** The user signs: `?…&user=<QuickPass openId>` picks who (a new one otherwise); `&refuse=1` cancels. */
    'GET /s/open/noPwd/html/open.html': async (req) => {
      const q = new URL(req.path, 'http://sandbox').searchParams;
      const app = apps.get(q.get('appId') ?? '');
      const redirect = q.get('redirectUri');
      const state = q.get('state') ?? '';
      if (!app || !redirect) return json(400, { error: 'appId unknown or redirectUri missing' });
      if (q.get('scope') !== 'upapi_contract' || q.get('planId') !== app.planId || q.get('responseType') !== 'code') {
        return { status: 302, headers: { location: `${redirect}?state=${state}&errorcode=N62137&errmsg=plan` }, body: '' };
      }
      if (q.get('refuse')) return { status: 302, headers: { location: `${redirect}?state=${state}&errorcode=cancel&errmsg=user+cancelled` }, body: '' };
      const code = `${randomBytes(9).toString('base64')}+/=`; // codes arrive URL-encoded and may hold + / =
      codes.set(code, { appId: app.appId, openId: q.get('user') ?? id('up') });
      const sep = redirect.includes('?') ? '&' : '?';
      return { status: 302, headers: { location: `${redirect}${sep}code=${encodeURIComponent(code)}&state=${state}` }, body: '' };
    },
    /** `{orderId, result?: "fail", txnAmt?}`: UnionPay settles the charge and notifies (txnAmt overrides the amount told). */
    'POST /pay': async (req) => {
      const b = jsonBody(req);
      const t = txns.get(String(b.orderId ?? ''));
      if (!t) return json(404, { error: 'no charge with this orderId reached the sandbox' });
      const app = apps.get(t.appId)!;
      t.state = b.result === 'fail' ? 'failed' : 'paid';
      const fields: Record<string, string> = {
        appId: t.appId,
        orderId: t.orderId,
        txnTime: t.txnTime,
        txnAmt: typeof b.txnAmt === 'string' ? b.txnAmt : t.txnAmt,
        currencyCode: '156',
        respCode: t.state === 'paid' ? '00' : '11',
        respMsg: t.state === 'paid' ? 'success' : 'insufficient balance',
        queryId: t.queryId,
        contractId: t.contractId,
        openId: t.openId,
        accNo: des3EcbEncrypt('6216610000000001234', app.symmetricKey),
      };
      return json(200, await notifyApp(app, fields));
    },
    /** `{contractId, deliver?: false}`: the user terminates in the QuickPass app; the termination notice is delivered (unless `deliver: false`). */
    'POST /terminate': async (req) => {
      const b = jsonBody(req);
      const c = contracts.get(String(b.contractId ?? ''));
      const app = c ? apps.get(c.appId) : typeof b.appId === 'string' ? apps.get(b.appId) : undefined;
      if (!app) return json(404, { error: 'no such contract (pass appId to notify about an unknown one)' });
      if (c) c.status = '3';
      if (b.deliver === false) return json(200, { relieved: b.contractId });
      const fields = { appId: app.appId, contractId: String(b.contractId), contractCode: c?.contractCode ?? 'unknown', planId: app.planId, openId: c?.openId ?? 'unknown', contractStatus: '3', operateTime: formatCstCompact(now()) };
      return json(200, await notifyApp(app, fields));
    },
    /** `{mode: "refuse" | "timeout", count?}`: the next charges are refused, or taken and answered too late. */
    'POST /faults': async (req) => {
      const b = jsonBody(req);
      fault = b.mode === 'refuse' || b.mode === 'timeout' ? { mode: b.mode, count: typeof b.count === 'number' ? b.count : 1 } : null;
      return json(200, { fault });
    },
    /** `{openId, resp}`: mini-program messages to this openId are answered `resp` (an empty resp clears). */
    'POST /msg-faults': async (req) => {
      const b = jsonBody(req);
      if (typeof b.openId !== 'string') return json(400, { error: 'send {openId, resp}' });
      if (typeof b.resp === 'string' && b.resp) msgFaults.set(b.openId, b.resp);
      else msgFaults.delete(b.openId);
      return json(200, { openId: b.openId, resp: b.resp ?? null });
    },
    /** `?openId=`: the mini-program messages delivered (to that user). */
    'GET /messages': async (req) => {
      const openId = new URL(req.path, 'http://sandbox').searchParams.get('openId');
      return json(200, { messages: messages.filter((m) => !openId || m.openId === openId) });
    },
    /** `{appId}`: every backendToken of the app stops working (UnionPay then answers a10). */
    'POST /expire-tokens': async (req) => {
      const appId = String(jsonBody(req).appId ?? '');
      for (const t of tokens.values()) if (t.appId === appId) t.expires_at = now() - 1;
      return json(200, { expired: appId });
    },
  };

  return {
    name: 'unionpay',
    publicKeyPem: keys.publicKeyPem,
    privateKeyPem: keys.privateKeyPem,
    addApp(app: UnionPayApp) {
      // A key that does not parse is a config the functions refuse anyway: the sandbox does not know that app.
      try {
        createPublicKey(app.merchantPublicKeyPem);
      } catch {
        return;
      }
      apps.set(app.appId, app);
    },
    tokenFetches: (appId: string) => tokenFetches.get(appId) ?? 0,
    /** When each query of this order reached the sandbox. */
    queryTimes: (orderId: string) => [...(queries.get(orderId) ?? [])],
    infoCalls: () => infoCalls,
    /** Mini-program template messages delivered (to that openId). */
    messages: (openId?: string) => messages.filter((m) => !openId || m.openId === openId).map((m) => ({ ...m })),
    /** The charge as the sandbox holds it (one per orderId, however often it was sent). */
    charge: (orderId: string) => txns.get(orderId),
    contractStatus: (contractId: string) => contracts.get(contractId)?.status,
    async handle(req: SandboxRequest): Promise<SandboxResponse> {
      const url = new URL(req.path, 'http://sandbox');
      const key = `${req.method.toUpperCase()} ${url.pathname}`;
      if (control[key]) return control[key](req);
      if (key === 'POST /1.0/backendToken') {
        const b = jsonObject(req);
        const app = b && typeof b.appId === 'string' ? apps.get(b.appId) : undefined;
        if (!b || !app) return up('BC2126', 'appId not cached');
        const ts = Number(b.timestamp);
        if (!Number.isInteger(ts) || Math.abs(ts * 1000 - now()) > 300_000) return up('BC0024', 'illegal request: timestamp');
        const expected = createHash('sha256').update(unionpaySignString({ appId: b.appId, nonceStr: b.nonceStr, secret: app.secret, timestamp: b.timestamp })).digest('hex');
        if (b.signature !== expected || 'secret' in b) return up('BC0025', 'signature verify failed');
        tokenFetches.set(app.appId, (tokenFetches.get(app.appId) ?? 0) + 1);
        const token = id('UPBT');
        tokens.set(token, { appId: app.appId, expires_at: now() + ttlMs });
        return up('00', 'success', { backendToken: token, expiresIn: Math.round(ttlMs / 1000) });
      }
      const route = api[key];
      if (route && key === 'POST /1.0/contract.deduct' && fault && fault.count > 0) {
        fault.count--;
        if (fault.mode === 'refuse') return up('CT0009', 'insufficient balance on the bound card');
        const answer = (() => {
          const b = jsonObject(req);
          const who = authorise(b);
          return 'refuse' in who ? who.refuse : route(who.app, b!);
        })();
        await new Promise((r) => setTimeout(r, opts.stallMs ?? 2500));
        return answer;
      }
      if (!route) return json(404, { resp: '404', msg: `no route ${key}; routes: POST /1.0/backendToken, ${[...Object.keys(api), ...Object.keys(control)].join(', ')}` });
      const b = jsonObject(req);
      const who = authorise(b);
      if ('refuse' in who) return who.refuse;
      return route(who.app, b!);
    },
  };
}

export type UnionPaySandbox = ReturnType<typeof unionpaySandbox>;
