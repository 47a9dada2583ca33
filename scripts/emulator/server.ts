import http, { type IncomingMessage, type ServerResponse } from 'http';
import https from 'https';
import type { TLSSocket } from 'tls';
import { rmSync } from 'fs';
import { join } from 'path';
import type { AddressInfo } from 'net';
import { systemClock, type Clock } from '../../shared/core/clock';
import { jsonLogger, memoryLogger, type Logger } from '../../shared/core/logger';
import { createHttpClient } from '../../shared/http/client';
import { localCloud, localOpenApi, localStore } from '../../shared/runtime/local';
import type { Cloud, DocStore, OpenApi, WxContext } from '../../shared/runtime/port';
import { clearConfigCaches } from '../../shared/config/caches';
import { wechatPayV2Sandbox } from '../sandbox/wechatpay-v2';
import { wechatPayV3Sandbox } from '../sandbox/wechatpay-v3';
import { platformIdentity } from '../sandbox/wechatpay-v3-platform';
import { cloudPaySandbox } from '../sandbox/cloudpay';
import { twoPayNowSandbox } from '../sandbox/twopaynow';
import { vrSandbox } from '../sandbox/vr';
import { yabandSandbox } from '../sandbox/yaband';
import { suPaySandbox } from '../sandbox/supay';
import { wechatApiSandbox } from '../sandbox/wechat-api';
import { unionpaySandbox } from '../sandbox/unionpay';
import { publicKeyOf } from '../../shared/crypto/rsa';
import { sandboxTls } from '../sandbox/tls';
import type { Sandbox, SandboxRequest } from '../sandbox/types';
import { FUNCTIONS } from './functions';
import { seedIfEmpty, seedContractIfEmpty, seedFaceIfEmpty, seedTemplateIfEmpty, DEMO_APPID, DEMO_APP_SECRET, DEMO_TEMPLATES } from './seed';

export interface EmulatorOptions {
  port?: number;
  host?: string;
  /** Where the embedded store lives; undefined keeps it in memory. */
  dataDir?: string;
  reset?: boolean;
  /** Also serve the sandboxes over HTTPS with client-certificate checks (port + 1, or any free port with port 0). */
  tls?: boolean;
  /** Seed an empty store with a working sandbox config. */
  seed?: boolean;
  quiet?: boolean;
  clock?: Clock;
  /** Outbound HTTP timeout of the functions (the sandbox fault tests shorten it). */
  httpTimeoutMs?: number;
  /** How long the sandbox's `timeout` fault stalls. */
  sandboxStallMs?: number;
  /** More functions to serve beside the bundle's own (tests register hook targets here). */
  functions?: Record<string, (event: unknown, cloud: Cloud) => Promise<unknown>>;
}

export interface Emulator {
  url: string;
  tlsUrl?: string;
  store: DocStore;
  log: Logger & { lines?: string[] };
  sandboxes: {
    'wechatpay-v2': ReturnType<typeof wechatPayV2Sandbox>;
    'wechatpay-v3': ReturnType<typeof wechatPayV3Sandbox>;
    cloudpay: ReturnType<typeof cloudPaySandbox>;
    '2paynow': ReturnType<typeof twoPayNowSandbox>;
    vr: ReturnType<typeof vrSandbox>;
    yaband: ReturnType<typeof yabandSandbox>;
    supay: ReturnType<typeof suPaySandbox>;
    'wechat-api': ReturnType<typeof wechatApiSandbox>;
    unionpay: ReturnType<typeof unionpaySandbox>;
  };
  /** The v3 sandbox's platform identity (its certificates and WeChat Pay public key). */
  v3Platform: ReturnType<typeof platformIdentity>;
  tls?: ReturnType<typeof sandboxTls>;
  /** Runs a function as `POST /fn/:name` does, in-process. */
  invoke(name: string, event: unknown, context?: WxContext): Promise<unknown>;
  close(): Promise<void>;
}

const MAX_BODY = 1 << 20;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body larger than 1 MiB'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

const header = (req: IncomingMessage, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The local cloud: functions, HTTP triggers, the database console and the provider sandboxes on one port. */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  if (opts.reset && opts.dataDir) rmSync(opts.dataDir, { recursive: true, force: true });
  const store = localStore(opts.dataDir);
  const log = opts.quiet ? memoryLogger() : jsonLogger();
  const clock = opts.clock ?? systemClock;
  const httpClient = createHttpClient(log, { timeoutMs: opts.httpTimeoutMs });
  const v2 = wechatPayV2Sandbox({ timeoutMs: opts.sandboxStallMs });
  const v3Platform = platformIdentity(opts.dataDir ? join(opts.dataDir, 'sandbox-wechatpay-v3.json') : undefined);
  const v3 = wechatPayV3Sandbox({ platform: v3Platform, stallMs: opts.sandboxStallMs });
  // cloudPay delivers results as a plain call of the configured function, as the platform does.
  const cloudpay = cloudPaySandbox((fn, event) => invoke(fn, event, { SOURCE: 'wx_paycallback' }));
  const twoPayNow = twoPayNowSandbox({ stallMs: opts.sandboxStallMs });
  const vr = vrSandbox({ stallMs: opts.sandboxStallMs });
  const yaband = yabandSandbox({ stallMs: opts.sandboxStallMs });
  const supay = suPaySandbox({ stallMs: opts.sandboxStallMs });
  // WeChat pushes v1's face_identify event; cloud development delivers it to the function with the user's context.
  const wechatApi = wechatApiSandbox({ face: { push: (event, ctx) => invoke('face-verify', event, ctx) } });
  const unionpay = unionpaySandbox({ now: () => clock.now(), stallMs: opts.sandboxStallMs, keyFile: opts.dataDir ? join(opts.dataDir, 'sandbox-unionpay.json') : undefined });
  const sandboxes: Record<string, Sandbox> = { 'wechatpay-v2': v2, 'wechatpay-v3': v3, cloudpay, '2paynow': twoPayNow, vr, yaband, supay, 'wechat-api': wechatApi, unionpay };
  const functions = { ...FUNCTIONS, ...opts.functions };
  const tls = opts.tls ? sandboxTls(opts.dataDir ? join(opts.dataDir, 'sandbox-tls.json') : undefined) : undefined;

  const v3Known = new Map<string, string>();
  /** The sandboxes know the merchants of the config documents, as WeChat knows its registered merchants. */
  async function syncMerchants() {
    for (const doc of await store.find<Record<string, unknown>>('config', {})) {
      const sections = [doc.v2, doc.v2sp, doc];
      for (const s of sections as { mchid?: unknown; key?: unknown }[]) {
        if (s && typeof s.mchid === 'string' && typeof s.key === 'string') v2.addMerchant({ mchid: s.mchid, key: s.key });
      }
      for (const s of [doc.v3, doc.v3sp] as Record<string, unknown>[]) {
        const mchid = s?.mchid ?? s?.sp_mchid;
        if (typeof mchid !== 'string' || typeof s.private_key !== 'string' || typeof s.serial_no !== 'string' || typeof s.apiv3_key !== 'string') continue;
        const known = `${mchid}|${s.serial_no}|${s.private_key}|${s.apiv3_key}|${s.public_key_id}`;
        if (v3Known.get(mchid) === known) continue;
        try {
          v3.addMerchant({
            mchid,
            merchantPublicKeyPem: publicKeyOf(s.private_key).export({ type: 'spki', format: 'pem' }).toString(),
            serialNo: s.serial_no,
            apiv3Key: s.apiv3_key,
            mode: s.public_key_id ? 'public_key' : 'certificate',
          });
          v3Known.set(mchid, known);
        } catch {
          // a section the functions will reject anyway (bad key): the sandbox does not know that merchant
        }
      }
      const vs = doc.vr as { space_id?: unknown; user_id?: unknown; auth_key?: unknown } | undefined;
      if (vs && typeof vs.space_id === 'number' && typeof vs.user_id === 'number' && typeof vs.auth_key === 'string') {
        vr.addMerchant({ space_id: vs.space_id, user_id: vs.user_id, auth_key: vs.auth_key });
      }
      const yb = doc.yaband as { user?: unknown; secret?: unknown } | undefined;
      if (yb && typeof yb.user === 'string' && typeof yb.secret === 'string') yaband.addMerchant({ user: yb.user, secret: yb.secret });
      const sp = doc.supay as { mch_id?: unknown; key?: unknown; recevice_id?: unknown; currencies?: unknown } | undefined;
      if (sp && typeof sp.mch_id === 'string' && typeof sp.key === 'string') {
        supay.addMerchant({
          mch_id: sp.mch_id,
          key: sp.key,
          recevice_id: typeof sp.recevice_id === 'string' ? sp.recevice_id : undefined,
          currencies: Array.isArray(sp.currencies) ? sp.currencies.filter((c): c is string => typeof c === 'string') : undefined,
        });
      }
      const tp = doc['2paynow'] as { mid?: unknown; key?: unknown } | undefined;
      if (tp && typeof tp.mid === 'string' && typeof tp.key === 'string') twoPayNow.addMerchant({ mid: tp.mid, key: tp.key });
      // UnionPay knows the applications of config/contract's parameter sets.
      if (doc._id === 'contract') {
        for (const s of [doc.test, doc.production] as Record<string, unknown>[]) {
          if (!s || typeof s.app_id !== 'string' || typeof s.secret !== 'string' || typeof s.private_key !== 'string') continue;
          if (typeof s.plan_id !== 'string' || typeof s.symmetric_key !== 'string' || typeof s.notify_url !== 'string') continue;
          try {
            const merchantPublicKeyPem = publicKeyOf(s.private_key).export({ type: 'spki', format: 'pem' }).toString();
            unionpay.addApp({ appId: s.app_id, secret: s.secret, planId: s.plan_id, merchantPublicKeyPem, symmetricKey: s.symmetric_key, notifyUrl: s.notify_url });
          } catch {
            // a key the functions will reject anyway: the sandbox does not know that application
          }
        }
      }
      // WeChat knows every app (mini-program, official account) a config document holds an appid and secret of.
      for (const s of [doc, ...Object.values(doc)] as { appid?: unknown; secret?: unknown }[]) {
        if (s && typeof s === 'object' && typeof s.appid === 'string' && typeof s.secret === 'string') wechatApi.addApp(s.appid, s.secret);
      }
    }
  }

  /** `cloud.openapi` as the platform runs it for the demo mini-program (set once the port is known). */
  let openapi: OpenApi | undefined;

  async function invoke(name: string, event: unknown, context: WxContext = {}): Promise<unknown> {
    const fn = functions[name];
    if (!fn) throw Object.assign(new Error(`no function ${name}`), { status: 404 });
    const cloud = localCloud({
      store,
      context,
      http: httpClient,
      cloudPay: cloudpay.cloudPay,
      openapi: openapi!,
      clock,
      log,
      callFunction: (callee, data, caller) => invoke(callee, data, { ...caller, SOURCE: `${caller.SOURCE ?? 'wx_unknown'},scf` }),
    });
    return fn(event, cloud);
  }

  async function route(req: IncomingMessage, res: ServerResponse, overTls: boolean) {
    const url = new URL(req.url ?? '/', 'http://local');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const body = await readBody(req);
    const method = req.method ?? 'GET';

    if (parts[0] === 'sandbox' && parts[1]) {
      const sb = sandboxes[parts[1]];
      if (!sb) return send(res, 404, { error: `no sandbox ${parts[1]}; sandboxes: ${Object.keys(sandboxes).join(', ')}` });
      await syncMerchants();
      const socket = req.socket as TLSSocket;
      const peer = overTls && socket.authorized ? socket.getPeerCertificate() : undefined;
      // The raw path and query below /sandbox/<name>: v3 signatures cover them exactly as sent.
      const raw = (req.url ?? '/').slice(`/sandbox/${parts[1]}`.length) || '/';
      const sreq: SandboxRequest = {
        method,
        path: raw,
        headers: req.headers,
        body,
        tls: overTls,
        clientCertCn: peer?.subject?.CN as string | undefined,
      };
      const r = await sb.handle(sreq);
      return send(res, r.status, r.body, r.headers);
    }

    if (overTls) return send(res, 404, { error: 'the TLS port serves the sandboxes only' });

    if (parts[0] === 'fn' && parts.length === 2) {
      if (method !== 'POST') return send(res, 405, { error: 'POST the event as JSON' });
      if (!functions[parts[1]]) return send(res, 404, { error: `no function ${parts[1]}; functions: ${Object.keys(functions).join(', ')}` });
      let event: unknown;
      try {
        event = body.length ? JSON.parse(body.toString('utf8')) : {};
      } catch (err) {
        return send(res, 400, { ok: false, error: { code: 'INVALID_INPUT', message: `the body is not JSON: ${(err as Error).message}` } });
      }
      const context: WxContext = {
        OPENID: header(req, 'x-wx-openid'),
        APPID: header(req, 'x-wx-appid'),
        UNIONID: header(req, 'x-wx-unionid'),
        // cloud environment sharing (环境共享): the calling mini-program's user and appid
        FROM_OPENID: header(req, 'x-wx-from-openid'),
        FROM_APPID: header(req, 'x-wx-from-appid'),
        SOURCE: header(req, 'x-wx-source') ?? 'wx_client',
        CLIENTIP: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
      };
      return send(res, 200, await invoke(parts[1], event, context));
    }

    if (parts[0] === 'http' && parts[1]) {
      if (!functions[parts[1]]) return send(res, 404, { error: `no function ${parts[1]}` });
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      const isText = /^(text\/|application\/(json|xml|x-www-form-urlencoded))/.test(headers['content-type'] ?? 'text/plain');
      const event = {
        path: `/${parts.slice(1).join('/')}`,
        httpMethod: method,
        headers,
        queryStringParameters: Object.fromEntries(url.searchParams),
        body: isText ? body.toString('utf8') : body.toString('base64'),
        isBase64Encoded: !isText,
        requestContext: { requestId: `${Date.now()}`, envId: 'local', appId: '', uin: '' },
      };
      const out = (await invoke(parts[1], event, { SOURCE: 'wx_http' })) as { statusCode?: number; headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean } | string;
      if (out && typeof out === 'object' && typeof out.statusCode === 'number') {
        const b = out.isBase64Encoded ? Buffer.from(out.body ?? '', 'base64') : out.body ?? '';
        res.writeHead(out.statusCode, out.headers ?? {});
        return res.end(b);
      }
      return typeof out === 'string' ? send(res, 200, out, { 'content-type': 'text/plain; charset=utf-8' }) : send(res, 200, out);
    }

    if (parts[0] === 'db' && parts[1] && parts.length <= 3) {
      const coll = parts[1];
      if (parts.length === 2) {
        if (method !== 'GET') return send(res, 405, { error: 'GET a collection; PUT or DELETE a document' });
        return send(res, 200, await store.find(coll, {}, { limit: 100 }));
      }
      const id = parts[2];
      if (method === 'GET') {
        const doc = await store.get(coll, id);
        return doc ? send(res, 200, doc) : send(res, 404, { error: `no document ${coll}/${id}` });
      }
      if (method === 'DELETE') {
        const removed = await store.remove(coll, id);
        if (coll === 'config') clearConfigCaches();
        return send(res, 200, { removed });
      }
      if (method === 'PUT') {
        let doc: unknown;
        try {
          doc = JSON.parse(body.toString('utf8'));
        } catch (err) {
          return send(res, 400, { error: `the body is not JSON: ${(err as Error).message}` });
        }
        if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return send(res, 400, { error: 'a document is a JSON object' });
        const { _id, ...fields } = doc as Record<string, unknown>;
        void _id;
        await store.remove(coll, id);
        await store.insert(coll, id, fields);
        if (coll === 'config') clearConfigCaches();
        return send(res, 200, await store.get(coll, id));
      }
      return send(res, 405, { error: 'GET, PUT or DELETE' });
    }

    return send(res, 404, { error: 'routes: POST /fn/:name, ANY /http/:name/*, /db/:collection[/:id], /sandbox/:provider/*' });
  }

  const handler = (overTls: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    route(req, res, overTls).catch((err: Error & { status?: number }) => {
      log.error('emulator route failed', { error: err.message, stack: err.stack });
      if (!res.headersSent) send(res, err.status ?? 500, { error: err.message });
      else res.end();
    });
  };

  const host = opts.host ?? '127.0.0.1';
  const listen = (server: http.Server | https.Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });

  const server = http.createServer(handler(false));
  const port = await listen(server, opts.port ?? 8787);
  const url = `http://${host}:${port}`;
  let tlsServer: https.Server | undefined;
  let tlsUrl: string | undefined;
  if (tls) {
    tlsServer = https.createServer(
      { key: tls.serverKeyPem, cert: tls.serverCertPem, ca: tls.caPem, requestCert: true, rejectUnauthorized: false },
      handler(true),
    );
    tlsUrl = `https://${host}:${await listen(tlsServer, opts.port ? opts.port + 1 : 0)}`;
  }

  // The platform holds the mini-program's credentials: its cloud calls use its own token from the sandbox.
  wechatApi.addApp(DEMO_APPID, DEMO_APP_SECRET);
  openapi = localOpenApi({ app: { appid: DEMO_APPID, secret: DEMO_APP_SECRET, api_base: `${url}/sandbox/wechat-api` }, store, http: httpClient, clock, log });

  if (opts.seed !== false) await seedIfEmpty(store, { baseUrl: url, tlsBaseUrl: tlsUrl, tls, v3Platform });
  if (opts.seed !== false) await seedContractIfEmpty(store, { baseUrl: url, unionpayPublicKeyPem: unionpay.publicKeyPem });
  if (opts.seed !== false) await seedFaceIfEmpty(store, { baseUrl: url });
  if (opts.seed !== false) await seedTemplateIfEmpty(store, { baseUrl: url });
  for (const t of DEMO_TEMPLATES) wechatApi.messages.addTemplate(t.appid, t.kind, t.id, [...t.keys]);
  await syncMerchants();

  return {
    url,
    tlsUrl,
    store,
    log,
    sandboxes: { 'wechatpay-v2': v2, 'wechatpay-v3': v3, cloudpay, '2paynow': twoPayNow, vr, yaband, supay, 'wechat-api': wechatApi, unionpay },
    v3Platform,
    tls,
    invoke,
    async close() {
      const stop = (s?: http.Server | https.Server) =>
        new Promise<void>((resolve) => {
          if (!s) return resolve();
          s.closeAllConnections?.();
          s.close(() => resolve());
        });
      await Promise.all([stop(server), stop(tlsServer)]);
      await store.close();
    },
  };
}
