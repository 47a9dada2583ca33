import { systemClock } from '../core/clock';
import { jsonLogger, type Logger } from '../core/logger';
import { createHttpClient } from '../http/client';
import type { Cloud, CloudPay, DocStore, Filter, OpenApi, OpenApiResult, Patch, WxContext } from './port';

/*
 * The subset of wx-server-sdk this adapter uses, typed structurally so that this file never imports the SDK
 * (only functions/<name>/index.ts does). The SDK's own index.d.ts types every call as `Promise<T> | void |
 * string`, so the entry point passes it in as `cloud as unknown as WxSdk`.
 */

/** `db.command`: the values it returns are opaque to us and only ever handed back to the SDK. */
export interface WxCommand {
  in(values: unknown[]): unknown;
  nin(values: unknown[]): unknown;
  neq(value: unknown): unknown;
  lt(value: unknown): unknown;
  lte(value: unknown): unknown;
  gt(value: unknown): unknown;
  gte(value: unknown): unknown;
  exists(value: boolean): unknown;
  set(value: unknown): unknown;
}

export type WxData = Record<string, unknown>;

export interface WxQuery {
  orderBy(field: string, order: 'asc' | 'desc'): WxQuery;
  limit(n: number): WxQuery;
  get(): Promise<{ data: unknown[] }>;
  update(options: { data: WxData }): Promise<{ stats: { updated: number } }>;
}

export interface WxDocument {
  get(): Promise<{ data: unknown }>;
  remove(): Promise<{ stats: { removed: number } }>;
}

export interface WxCollection {
  doc(id: string): WxDocument;
  add(options: { data: WxData }): Promise<unknown>;
  where(condition: WxData): WxQuery;
}

export interface WxDatabase {
  collection(name: string): WxCollection;
  readonly command: WxCommand;
}

export interface WxSdk {
  database(options?: { throwOnNotFound?: boolean }): WxDatabase;
  getWXContext(): WxContext;
  callFunction(param: { name: string; data?: unknown }): Promise<{ result?: unknown }>;
  cloudPay: CloudPay;
  openapi: { subscribeMessage: { send(params: Record<string, unknown>): Promise<{ errCode?: number; errMsg?: string }> } };
}

const MAX_PAGE = 100;

/**
 * `doc(id).get()` on a missing document with throwOnNotFound (the default, and the behaviour of SDKs before
 * 3.0.4 whatever the option). errCode -1 alone is not enough: the SDK gives -1 to any plain Error too.
 */
function isNotFound(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { errCode?: unknown; errMsg?: unknown; message?: unknown };
  const text = `${typeof e.errMsg === 'string' ? e.errMsg : ''} ${typeof e.message === 'string' ? e.message : ''}`;
  return e.errCode === -1 && /document with _id .* does not exist/.test(text);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null; // any realm's Object.prototype
}

function mapFilter(_: WxCommand, filter: Filter): WxData {
  const out: WxData = {};
  for (const [field, cond] of Object.entries(filter)) {
    if (typeof cond !== 'object') {
      out[field] = cond;
      continue;
    }
    const ops = Object.keys(cond);
    if (ops.length !== 1) throw new Error(`filter on ${field}: expected one operator, got ${ops.join(',') || 'none'}`);
    if ('$in' in cond) out[field] = _.in(cond.$in);
    else if ('$nin' in cond) out[field] = _.nin(cond.$nin);
    else if ('$ne' in cond) out[field] = _.neq(cond.$ne);
    else if ('$lt' in cond) out[field] = _.lt(cond.$lt);
    else if ('$lte' in cond) out[field] = _.lte(cond.$lte);
    else if ('$gt' in cond) out[field] = _.gt(cond.$gt);
    else if ('$gte' in cond) out[field] = _.gte(cond.$gte);
    else if ('$exists' in cond) out[field] = _.exists(cond.$exists);
    else throw new Error(`filter on ${field}: unsupported operator ${ops[0]}`);
  }
  return out;
}

/** The SDK merges nested objects in update data field by field; the port replaces them, hence `set`. */
function mapPatch(_: WxCommand, patch: Patch): WxData {
  const out: WxData = {};
  for (const [path, value] of Object.entries(patch)) {
    out[path] = isPlainObject(value) || Array.isArray(value) ? _.set(value) : value;
  }
  return out;
}

export function wxStore(db: WxDatabase): DocStore {
  const store: DocStore = {
    async get<T>(c: string, id: string): Promise<T | null> {
      try {
        const { data } = await db.collection(c).doc(id).get();
        return (data ?? null) as T | null;
      } catch (err) {
        if (isNotFound(err)) return null;
        throw err;
      }
    },
    async insert(c, id, doc) {
      try {
        await db.collection(c).add({ data: { ...doc, _id: id } });
        return 'created';
      } catch (err) {
        // The duplicate-key error text is not reliable, so ask whether the document is there now.
        const existing = await store.get(c, id).catch(() => null);
        if (existing !== null) return 'exists';
        throw err;
      }
    },
    async update(c, id, when, patch) {
      if (Object.keys(patch).length === 0) throw new Error('update needs a non-empty patch');
      const res = await db
        .collection(c)
        .where({ ...mapFilter(db.command, when), _id: id })
        .update({ data: mapPatch(db.command, patch) });
      return res.stats.updated === 1;
    },
    async find<T>(c: string, where: Filter, opts: { limit?: number; orderBy?: [string, 'asc' | 'desc'] } = {}) {
      let q = db.collection(c).where(mapFilter(db.command, where));
      if (opts.orderBy) q = q.orderBy(opts.orderBy[0], opts.orderBy[1]);
      const { data } = await q.limit(Math.min(opts.limit ?? MAX_PAGE, MAX_PAGE)).get();
      return data as T[];
    },
    async remove(c, id) {
      const res = await db.collection(c).doc(id).remove();
      return res.stats.removed === 1;
    },
  };
  return store;
}

/**
 * `cloud.openapi` resolves `{errCode: 0, errMsg}` on success and rejects with WeChat's errcode as `errCode`
 * (43101, 47003, -604101 for a permission config.json does not declare, ...): the port resolves both. The SDK
 * gives its own failures codes too (-1 for a plain Error, -501002 / -604102 for timeouts): outcomes.ts reads
 * those as "no answer". A rejection without a numeric errCode is rethrown.
 */
export function wxOpenApi(sdk: Pick<WxSdk, 'openapi'>): OpenApi {
  const outcome = async (call: () => Promise<{ errCode?: number; errMsg?: string }>): Promise<OpenApiResult> => {
    try {
      const r = await call();
      return { errCode: Number(r?.errCode ?? 0), errMsg: String(r?.errMsg ?? 'ok') };
    } catch (err) {
      const e = err as { errCode?: unknown; errMsg?: unknown; message?: unknown };
      if (typeof e?.errCode !== 'number') throw err;
      return { errCode: e.errCode, errMsg: String(e.errMsg ?? e.message ?? '') };
    }
  };
  return {
    subscribeMessage: { send: (params) => outcome(() => sdk.openapi.subscribeMessage.send({ ...params })) },
  };
}

export function wxCloud(sdk: WxSdk, deps: { log?: Logger } = {}): Cloud {
  const log = deps.log ?? jsonLogger();
  let store: DocStore | undefined;
  // Created on first use so that a handler that never touches the database never initialises it.
  const lazyStore = (): DocStore => (store ??= wxStore(sdk.database({ throwOnNotFound: false })));
  return {
    store: {
      get: (c, id) => lazyStore().get(c, id),
      insert: (c, id, doc) => lazyStore().insert(c, id, doc),
      update: (c, id, when, patch) => lazyStore().update(c, id, when, patch),
      find: (c, where, opts) => lazyStore().find(c, where, opts),
      remove: (c, id) => lazyStore().remove(c, id),
    },
    // getWXContext() reads the current invocation, so it is called each time, never cached.
    context: () => sdk.getWXContext(),
    openapi: wxOpenApi(sdk),
    cloudPay: sdk.cloudPay,
    async callFunction(name, data) {
      const res = await sdk.callFunction({ name, data });
      return res.result;
    },
    http: createHttpClient(log),
    clock: systemClock,
    log,
  };
}

/**
 * What each `functions/<name>/index.ts` does with the SDK module: init on the environment the function runs
 * in (DYNAMIC_CURRENT_ENV is a Symbol the SDK's typings do not admit), then bind the port.
 */
export function bindWxSdk(sdk: unknown): Cloud {
  const s = sdk as WxSdk & { init(opts: { env: unknown }): void; DYNAMIC_CURRENT_ENV: unknown };
  s.init({ env: s.DYNAMIC_CURRENT_ENV });
  return wxCloud(s);
}
