/**
 * The WeChat server-API sandbox (`/sandbox/wechat-api/...`): the access-token service, and the APIs the
 * functions call with a token. Each API family is a module of routes keyed `METHOD /path`; an API route
 * that takes `?access_token=` gets the appid the token belongs to, or WeChat's token errcode is answered.
 */
import { json, type Sandbox, type SandboxRequest, type SandboxResponse } from '../types';
import { tokenService, wxError, type TokenServiceOptions } from './tokens';
import { messagesFamily } from './messages';
import { faceSandbox, type FaceSandboxOptions } from './face';

/** An API that needs an access token: called with the appid the token was issued to. */
export type TokenRoute = (req: SandboxRequest, appid: string) => Promise<SandboxResponse>;

export function wechatApiSandbox(opts: TokenServiceOptions & { face?: FaceSandboxOptions } = {}) {
  const tokens = tokenService(opts);
  const apiRoutes: Record<string, TokenRoute> = {};
  /** Test-control routes of an API family (choose an outcome, inspect state): no access token. */
  const controlRoutes: Record<string, (req: SandboxRequest) => Promise<SandboxResponse>> = {};
  const messages = messagesFamily({ now: opts.now });
  Object.assign(apiRoutes, messages.api);
  Object.assign(controlRoutes, messages.control);
  // Face verification (人脸核身), v1 and v2.
  const face = faceSandbox({ now: opts.now, ...opts.face });
  Object.assign(apiRoutes, face.api);
  Object.assign(controlRoutes, face.control);

  return {
    name: 'wechat-api',
    tokens,
    face,
    addApp: tokens.addApp,
    /** Template and subscribe messages (messages.ts). */
    messages,
    /** Adds an API family: its token-checked routes and its control routes, each keyed `METHOD /path`. */
    mount(family: { api?: Record<string, TokenRoute>; control?: Record<string, (req: SandboxRequest) => Promise<SandboxResponse>> }) {
      Object.assign(apiRoutes, family.api ?? {});
      Object.assign(controlRoutes, family.control ?? {});
    },
    async handle(req: SandboxRequest): Promise<SandboxResponse> {
      const url = new URL(req.path, 'http://sandbox');
      const key = `${req.method.toUpperCase()} ${url.pathname}`;
      const open = tokens.routes[key as keyof typeof tokens.routes] ?? controlRoutes[key];
      if (open) return open(req);
      const api = apiRoutes[key];
      if (!api) return json(404, { errcode: 404, errmsg: `no route ${key}; routes: ${[...Object.keys(tokens.routes), ...Object.keys(controlRoutes), ...Object.keys(apiRoutes)].join(', ')}` });
      const who = tokens.check(url.searchParams.get('access_token'));
      if ('errcode' in who) return wxError(who.errcode, who.errmsg);
      return api(req, who.appid);
    },
  } satisfies Sandbox & Record<string, unknown>;
}

export type WechatApiSandbox = ReturnType<typeof wechatApiSandbox>;
