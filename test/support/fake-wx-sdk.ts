import type { WxContext, CloudPay } from '../../shared/runtime/port';
import type { WxCollection, WxCommand, WxData, WxDatabase, WxDocument, WxQuery, WxSdk } from '../../shared/runtime/wx';

/*
 * An in-memory wx-server-sdk (the subset in shared/runtime/wx.ts) that keeps the documented behaviours
 * (protocols/wx-server-sdk.md §2.4-2.5): not-found get throws errCode -1 unless throwOnNotFound:false, a
 * duplicate _id on add fails with -502001/E11000, update on no match resolves stats.updated 0, nested objects
 * in update data merge while command.set replaces, query get() returns at most 100. Every call yields to the
 * event loop once, then reads, checks and writes in one synchronous block: the real database is atomic per
 * call, and racing callers interleave only between calls.
 */

type Doc = Record<string, unknown>;

/** The SDK's error shape (toSDKError): an Error with errCode, and errMsg equal to message. */
export type SdkError = Error & { errCode: number; errMsg: string };

const ERR_TEXT: Record<number, string> = {
  [-502001]: 'database request fail',
  [-502002]: 'database invalid command',
  [-502003]: 'database permission denied',
  [-502005]: 'database collection not exists',
  [-501000]: 'empty param',
};

export function sdkError(api: string, errCode: number, detail = ''): SdkError {
  const msg = errCode === -1 ? `${api}:fail ${detail}` : `${api}:fail ${errCode} ${ERR_TEXT[errCode] ?? ''}. ${detail}`;
  return Object.assign(new Error(msg), { errCode, errMsg: msg });
}

/** What db.command returns: a marker the fake interprets. */
class Command {
  constructor(
    readonly op: 'in' | 'nin' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'exists' | 'set',
    readonly value: unknown,
  ) {}
}

const command: WxCommand = {
  in: (v) => new Command('in', v),
  nin: (v) => new Command('nin', v),
  neq: (v) => new Command('neq', v),
  lt: (v) => new Command('lt', v),
  lte: (v) => new Command('lte', v),
  gt: (v) => new Command('gt', v),
  gte: (v) => new Command('gte', v),
  exists: (v) => new Command('exists', v),
  set: (v) => new Command('set', v),
};

const MAX_GET = 100;

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null; // any realm's Object.prototype
}

/** Deep copy of stored data (not structuredClone: under jest its objects come from another realm). */
function copy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(copy) as T;
  if (v instanceof Date) return new Date(v.getTime()) as T;
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copy(x)])) as T;
  return v;
}

function getPath(doc: Doc, path: string): unknown {
  let cur: unknown = doc;
  for (const key of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

function setPath(doc: Doc, path: string, value: unknown, api: string): void {
  const keys = path.split('.');
  let cur: Doc = doc;
  for (const key of keys.slice(0, -1)) {
    const next = cur[key];
    if (next === undefined || next === null) cur = cur[key] = {};
    else if (isPlainObject(next)) cur = next;
    else throw sdkError(api, -502001, `[FailedOperation] Cannot create field in element {${key}: ${String(next)}}`);
  }
  cur[keys[keys.length - 1]] = value;
}

function isEqual(a: unknown, b: unknown): boolean {
  if ((a === undefined || a === null) && b === null) return true; // Mongo: {f: null} matches a missing field
  return JSON.stringify(a) === JSON.stringify(b);
}

function compare(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined; // Mongo compares only within a type
}

/** Where conditions with nested plain objects flattened to dotted paths, as the SDK's query serializer does. */
function flatten(cond: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  return Object.entries(cond).flatMap(([k, v]): Array<[string, unknown]> =>
    isPlainObject(v) && Object.keys(v).length > 0 ? flatten(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]],
  );
}

function matches(doc: Doc, cond: WxData, api: string): boolean {
  return flatten(cond).every(([path, want]) => {
    const have = getPath(doc, path);
    if (!(want instanceof Command)) return isEqual(have, want);
    const v = want.value;
    switch (want.op) {
      case 'in':
        return Array.isArray(v) && v.some((x) => isEqual(have, x));
      case 'nin':
        return Array.isArray(v) && !v.some((x) => isEqual(have, x));
      case 'neq':
        return !isEqual(have, v);
      case 'lt':
      case 'lte':
      case 'gt':
      case 'gte': {
        const r = compare(have, v);
        if (r === undefined) return false;
        return want.op === 'lt' ? r < 0 : want.op === 'lte' ? r <= 0 : want.op === 'gt' ? r > 0 : r >= 0;
      }
      case 'exists':
        return (have !== undefined) === v;
      case 'set':
        throw sdkError(api, -502002, 'update command set used in a query');
    }
  });
}

/** Update data: plain objects merge path by path (dot-path semantics), command.set replaces the field. */
function applyUpdate(doc: Doc, data: WxData, api: string, prefix = ''): void {
  for (const [k, v] of Object.entries(data)) {
    const path = `${prefix}${k}`;
    if (v instanceof Command) {
      if (v.op !== 'set') throw sdkError(api, -502002, `query command ${v.op} used in update data`);
      setPath(doc, path, copy(v.value), api);
    } else if (isPlainObject(v) && Object.keys(v).length > 0) {
      applyUpdate(doc, v, api, `${path}.`);
    } else {
      setPath(doc, path, copy(v), api);
    }
  }
}

function checkData(data: unknown, api: string): asserts data is WxData {
  if (!isPlainObject(data) || Object.keys(data).length === 0) {
    throw sdkError(api, -501000, 'options.data must not be empty');
  }
}

function checkWhere(cond: unknown): asserts cond is WxData {
  // The SDK throws synchronously from where(), before any request.
  if (!isPlainObject(cond)) throw new Error('QueryParamTypeError: where() needs an object');
  const keys = Object.keys(cond);
  if (keys.length > 0 && keys.every((k) => cond[k] === undefined)) throw new Error('QueryParamValueError');
}

type Api =
  | 'document.get'
  | 'document.remove'
  | 'collection.add'
  | 'collection.get'
  | 'collection.update'
  | 'cloud.callFunction';

export interface FakeWxOptions {
  /** SDKs before 3.0.4 ignore throwOnNotFound:false; set false to reproduce that. Default true. */
  honourThrowOnNotFound?: boolean;
}

export class FakeWxSdk implements WxSdk {
  /** collection name -> _id -> document; shared by every database() handle, as the real environment is. */
  readonly collections = new Map<string, Map<string, Doc>>();
  /** The options of each database() call, in order. */
  readonly databaseCalls: Array<{ throwOnNotFound?: boolean } | undefined> = [];
  /** What getWXContext() returns (a copy of it); change it between calls to simulate invocations. */
  wxContext: WxContext = {};
  /** Cloud functions callFunction can reach. */
  readonly functions = new Map<string, (data: unknown) => unknown>();
  private readonly failures = new Map<Api, SdkError>();
  /** Every cloudPay call (api and params), and what each api answers. */
  readonly cloudPayCalls: Array<{ api: string; params: Record<string, unknown> }> = [];
  readonly cloudPayAnswers: Record<string, Record<string, unknown>> = {};
  readonly cloudPay: CloudPay = Object.fromEntries(
    (['unifiedOrder', 'queryOrder', 'closeOrder', 'refund', 'queryRefund'] as const).map((api) => [
      api,
      async (params: Record<string, unknown>) => {
        this.cloudPayCalls.push({ api, params: copy(params) });
        return { errMsg: `cloudPay.${api}:ok`, ...copy(this.cloudPayAnswers[api] ?? {}) };
      },
    ]),
  ) as unknown as CloudPay;

  /** Every openapi call (api and params); `openapiErrCode` makes the next ones reject as the SDK does. */
  readonly openapiCalls: Array<{ api: string; params: Record<string, unknown> }> = [];
  openapiErrCode = 0;
  readonly openapi = {
    subscribeMessage: {
      send: async (params: Record<string, unknown>): Promise<{ errCode: number; errMsg: string }> => {
        await tick();
        this.openapiCalls.push({ api: 'subscribeMessage.send', params: copy(params) });
        // The SDK rejects with WeChat's errcode as errCode (e.g. 43101), and -604101 without the permission.
        if (this.openapiErrCode) throw Object.assign(new Error(`errCode: ${this.openapiErrCode}`), { errCode: this.openapiErrCode, errMsg: `openapi.subscribeMessage.send:fail ${this.openapiErrCode}` });
        return { errCode: 0, errMsg: 'openapi.subscribeMessage.send:ok' };
      },
    },
  };

  constructor(private readonly options: FakeWxOptions = {}) {}

  /** Make every later call of `api` reject with this SDK error (until cleared with `clearFailure`). */
  failWith(api: Api, errCode: number, detail = ''): void {
    this.failures.set(api, sdkError(api, errCode, detail));
  }

  clearFailure(api: Api): void {
    this.failures.delete(api);
  }

  getWXContext(): WxContext {
    return copy(this.wxContext);
  }

  async callFunction(param: { name: string; data?: unknown }): Promise<{ result?: unknown; errMsg: string }> {
    await this.enter('cloud.callFunction');
    const fn = this.functions.get(param.name);
    if (!fn) {
      throw sdkError('cloud.callFunction', -501000, '[ResourceNotFound.FunctionName] FunctionName parameter could not be found');
    }
    return { result: copy(await fn(copy(param.data))), errMsg: 'cloud.callFunction:ok' };
  }

  database(options: { throwOnNotFound?: boolean } = {}): WxDatabase {
    this.databaseCalls.push(options);
    const throwOnNotFound = this.options.honourThrowOnNotFound === false || options.throwOnNotFound !== false;
    return { command, collection: (name) => this.collection(name, throwOnNotFound) };
  }

  /** The stored documents of a collection, copied (for assertions). */
  docs(coll: string): Doc[] {
    return [...(this.collections.get(coll)?.values() ?? [])].map(copy);
  }

  private async enter(api: Api): Promise<void> {
    await tick();
    const failure = this.failures.get(api);
    if (failure) throw failure;
  }

  private coll(name: string): Map<string, Doc> {
    let c = this.collections.get(name);
    if (!c) this.collections.set(name, (c = new Map()));
    return c;
  }

  private collection(name: string, throwOnNotFound: boolean): WxCollection {
    const doc = (id: string): WxDocument => ({
      get: async () => {
        await this.enter('document.get');
        const found = this.coll(name).get(id);
        if (found) return { data: copy(found), errMsg: 'document.get:ok' };
        if (throwOnNotFound) throw sdkError('document.get', -1, `document with _id ${id} does not exist`);
        return { data: null, errMsg: 'document.get:ok' };
      },
      remove: async () => {
        await this.enter('document.remove');
        const removed = this.coll(name).delete(id) ? 1 : 0;
        return { stats: { removed }, errMsg: 'document.remove:ok' };
      },
    });
    const add = async (options: { data: WxData }) => {
      await this.enter('collection.add');
      checkData(options?.data, 'collection.add');
      const c = this.coll(name);
      const given = options.data._id;
      const id = typeof given === 'string' || typeof given === 'number' ? String(given) : randomId();
      if (c.has(id)) {
        throw sdkError(
          'collection.add',
          -502001,
          `[FailedOperation] E11000 duplicate key error collection: ${name} index: _id_ dup key: { _id: "${id}" }`,
        );
      }
      c.set(id, copy({ ...options.data, _id: id }));
      return { _id: id, errMsg: 'collection.add:ok' };
    };
    return { doc, add, where: (cond) => this.query(name, cond, [], MAX_GET) };
  }

  private query(name: string, cond: WxData, order: Array<[string, 'asc' | 'desc']>, limit: number): WxQuery {
    checkWhere(cond);
    return {
      orderBy: (field, dir) => this.query(name, cond, [...order, [field, dir]], limit),
      limit: (n) => this.query(name, cond, order, n),
      get: async () => {
        await this.enter('collection.get');
        const found = [...this.coll(name).values()].filter((d) => matches(d, cond, 'collection.get'));
        found.sort((a, b) => {
          for (const [field, dir] of order) {
            const r = sortCompare(getPath(a, field), getPath(b, field));
            if (r !== 0) return dir === 'asc' ? r : -r;
          }
          return 0;
        });
        return { data: found.slice(0, Math.min(limit, MAX_GET)).map(copy), errMsg: 'collection.get:ok' };
      },
      update: async (options) => {
        await this.enter('collection.update');
        checkData(options?.data, 'collection.update');
        if ('_id' in options.data) throw sdkError('collection.update', -501000, 'cannot update _id');
        let updated = 0;
        const c = this.coll(name);
        for (const [id, d] of c) {
          if (!matches(d, cond, 'collection.update')) continue;
          // Applied to a copy so that a failing path leaves the document as it was.
          const next = copy(d);
          applyUpdate(next, options.data, 'collection.update');
          c.set(id, next);
          updated++;
        }
        return { stats: { updated }, errMsg: 'collection.update:ok' };
      },
    };
  }
}

/** Mongo's order across types, reduced to what the project stores: missing/null < numbers < strings < others. */
function sortCompare(a: unknown, b: unknown): number {
  const rank = (v: unknown) => (v === undefined || v === null ? 0 : typeof v === 'number' ? 1 : typeof v === 'string' ? 2 : 3);
  return rank(a) - rank(b) || (compare(a, b) ?? 0);
}

let nextId = 0;
function randomId(): string {
  return `fake${Date.now().toString(16)}${(nextId++).toString(16).padStart(6, '0')}`;
}

export function fakeWxSdk(options?: FakeWxOptions): FakeWxSdk {
  return new FakeWxSdk(options);
}
