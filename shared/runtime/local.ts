import Datastore from '@seald-io/nedb';
import { mkdirSync } from 'fs';
import { join } from 'path';
import type { Clock } from '../core/clock';
import type { Logger } from '../core/logger';
import type { HttpClient } from '../http/client';
import type { Cloud, CloudPay, DocStore, Filter, OpenApi, WxContext } from './port';
import { callWechatApi, type WechatApp } from '../messaging/access-token';
import { sharedCache } from '../store/shared-cache';

const COLLECTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/**
 * The embedded document store of the emulator and the tests: one NeDB datafile per collection in `dataDir`
 * (persisted, reloaded on start), or in memory when `dataDir` is undefined. NeDB runs one operation at a
 * time per collection, so `update` with the filter is an atomic compare-and-set, as the cloud database's
 * `where({_id, ...}).update()` is.
 */
export function localStore(dataDir?: string): DocStore & { close(): Promise<void> } {
  const collections = new Map<string, Datastore>();
  const persisted = dataDir !== undefined;
  if (dataDir) mkdirSync(dataDir, { recursive: true });

  const coll = (name: string): Datastore => {
    if (!COLLECTION_NAME.test(name)) throw new Error(`invalid collection name ${JSON.stringify(name)}`);
    let ds = collections.get(name);
    if (!ds) {
      ds = new Datastore(dataDir ? { filename: join(dataDir, `${name}.db`), autoload: true } : { inMemoryOnly: true });
      collections.set(name, ds);
    }
    return ds;
  };
  const ready = async (name: string) => {
    const ds = coll(name);
    if (ds.autoloadPromise) await ds.autoloadPromise;
    return ds;
  };

  return {
    async get<T>(c: string, id: string) {
      return ((await (await ready(c)).findOneAsync({ _id: id })) as T | null) ?? null;
    },
    async insert(c, id, doc) {
      try {
        await (await ready(c)).insertAsync({ ...doc, _id: id });
        return 'created';
      } catch (err) {
        if ((err as { errorType?: string }).errorType === 'uniqueViolated') return 'exists';
        throw err;
      }
    },
    async update(c, id, when: Filter, patch) {
      if (Object.keys(patch).length === 0) throw new Error('update needs a non-empty patch');
      const n = await (await ready(c)).updateAsync({ ...when, _id: id }, { $set: patch }, {});
      return n.numAffected === 1;
    },
    async find<T>(c: string, where: Filter, opts: { limit?: number; orderBy?: [string, 'asc' | 'desc'] } = {}) {
      let cursor = (await ready(c)).findAsync(where);
      if (opts.orderBy) cursor = cursor.sort({ [opts.orderBy[0]]: opts.orderBy[1] === 'asc' ? 1 : -1 });
      cursor = cursor.limit(Math.min(opts.limit ?? 100, 100));
      return (await cursor) as T[];
    },
    async remove(c, id) {
      return (await (await ready(c)).removeAsync({ _id: id }, {})) === 1;
    },
    async close() {
      for (const ds of collections.values()) {
        if (ds.autoloadPromise) await ds.autoloadPromise.catch(() => undefined);
        if (persisted) await ds.compactDatafileAsync();
      }
      collections.clear();
    },
  };
}

/** The Cloud port over the local store, for the emulator and tests: the caller's context is given per call. */
export function localCloud(deps: {
  store: DocStore;
  context: WxContext;
  callFunction: (name: string, data: unknown, caller: WxContext) => Promise<unknown>;
  cloudPay: CloudPay;
  openapi: OpenApi;
  http: HttpClient;
  clock: Clock;
  log: Logger;
}): Cloud {
  return {
    store: deps.store,
    context: () => ({ ...deps.context }),
    openapi: deps.openapi,
    callFunction: (name, data) => deps.callFunction(name, data, deps.context),
    cloudPay: deps.cloudPay,
    http: deps.http,
    clock: deps.clock,
    log: deps.log,
  };
}

/**
 * The local `cloud.openapi`: what the platform does for a cloud call, done against the wechat-api sandbox with
 * the mini-program's own access token (the shared token cache in the store). Parameters go from the cloud
 * call's camelCase to the HTTP API's snake_case; WeChat's errcode comes back as errCode.
 */
export function localOpenApi(deps: { app: WechatApp; store: DocStore; http: HttpClient; clock: Clock; log: Logger }): OpenApi {
  const tokenDeps = { cache: sharedCache(deps.store, deps.clock), http: deps.http, clock: deps.clock, log: deps.log };
  return {
    subscribeMessage: {
      async send(p) {
        const body = { touser: p.touser, template_id: p.templateId, page: p.page, data: p.data, miniprogram_state: p.miniprogramState, lang: p.lang };
        const answer = await callWechatApi(tokenDeps, deps.app, '/cgi-bin/message/subscribe/send', body);
        const errCode = Number(answer.errcode ?? 0);
        return { errCode, errMsg: errCode ? `openapi.subscribeMessage.send:fail ${errCode} ${answer.errmsg ?? ''}`.trim() : 'openapi.subscribeMessage.send:ok' };
      },
    },
  };
}
