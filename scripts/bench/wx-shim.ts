/**
 * For the cold-start children of the bench only: replaces the module `wx-server-sdk` with a thin wrapper of
 * the REAL one (required here, so its load cost is paid) whose `database()` reads and writes the emulator's
 * store over its `/db` console routes, and whose `getWXContext()` returns a fixed caller. It covers only the
 * subset shared/runtime/wx.ts uses. `where().update()` is get + compare + PUT: not atomic, which is fine for
 * one process making one call at a time.
 *
 * The bench compiles this file to plain JavaScript in a temp folder; the child requires it before its timer
 * starts and calls `installShim` after.
 */
import Module from 'module';
import { join } from 'path';
import { httpRequest } from './http';

export interface ShimOptions {
  /** The project root: the real wx-server-sdk is resolved from there. */
  root: string;
  emulatorUrl: string;
  context: Record<string, string>;
}

type Doc = Record<string, unknown>;

/** What `db.command` returns: markers this adapter understands. */
class Cmd {
  constructor(
    readonly op: 'in' | 'nin' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'exists' | 'set',
    readonly value: unknown,
  ) {}
}

const request = (base: string, method: string, path: string, body?: unknown) =>
  httpRequest(new URL(path, base).toString(), method, body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'content-type': 'application/json' });

const isPlainObject = (v: unknown): v is Doc =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Cmd) && Object.getPrototypeOf(v) === Object.prototype;

function getPath(doc: Doc, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Doc)[k] : undefined), doc);
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = doc;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(cur[k])) cur[k] = {};
    cur = cur[k] as Doc;
  }
  cur[keys[keys.length - 1]] = value;
}

const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function matches(doc: Doc, cond: Doc): boolean {
  for (const [path, c] of Object.entries(cond)) {
    const v = getPath(doc, path);
    if (c instanceof Cmd) {
      const x = c.value as number;
      const ok =
        c.op === 'in' ? (c.value as unknown[]).some((e) => same(e, v))
        : c.op === 'nin' ? !(c.value as unknown[]).some((e) => same(e, v))
        : c.op === 'neq' ? !same(v, c.value)
        : c.op === 'lt' ? typeof v === 'number' && v < x
        : c.op === 'lte' ? typeof v === 'number' && v <= x
        : c.op === 'gt' ? typeof v === 'number' && v > x
        : c.op === 'gte' ? typeof v === 'number' && v >= x
        : c.op === 'exists' ? (v !== undefined) === Boolean(c.value)
        : false;
      if (!ok) return false;
    } else if (!same(v, c)) return false;
  }
  return true;
}

/** The SDK's update semantics: plain objects merge field by field, `command.set` replaces. */
function applyPatch(doc: Doc, patch: Doc, prefix = ''): void {
  for (const [k, value] of Object.entries(patch)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (value instanceof Cmd) {
      if (value.op !== 'set') throw new Error(`update: command ${value.op} is not supported by the bench shim`);
      setPath(doc, path, clone(value.value));
    } else if (isPlainObject(value)) applyPatch(doc, value, path);
    else setPath(doc, path, clone(value));
  }
}

function notFoundError(c: string, id: string) {
  return Object.assign(new Error(`document with _id ${id} does not exist in ${c}`), { errCode: -1, errMsg: `document.get:fail document with _id ${id} does not exist` });
}

export function shimDatabase(base: string, throwOnNotFound: boolean) {
  const enc = encodeURIComponent;
  async function getDoc(c: string, id: string): Promise<Doc | null> {
    const r = await request(base, 'GET', `/db/${enc(c)}/${enc(id)}`);
    if (r.status === 404) return null;
    if (r.status !== 200) throw new Error(`GET /db/${c}/${id}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
    return JSON.parse(r.body) as Doc;
  }
  async function putDoc(c: string, id: string, doc: Doc): Promise<void> {
    const r = await request(base, 'PUT', `/db/${enc(c)}/${enc(id)}`, doc);
    if (r.status !== 200) throw new Error(`PUT /db/${c}/${id}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  }
  async function candidates(c: string, cond: Doc): Promise<Doc[]> {
    if (typeof cond._id === 'string') {
      const d = await getDoc(c, cond._id);
      return d && matches(d, cond) ? [d] : [];
    }
    const r = await request(base, 'GET', `/db/${enc(c)}`);
    if (r.status !== 200) throw new Error(`GET /db/${c}: HTTP ${r.status}`);
    return (JSON.parse(r.body) as Doc[]).filter((d) => matches(d, cond));
  }

  function query(c: string, cond: Doc, sort?: [string, 'asc' | 'desc'], limit?: number) {
    return {
      orderBy: (field: string, order: 'asc' | 'desc') => query(c, cond, [field, order], limit),
      limit: (n: number) => query(c, cond, sort, n),
      async get() {
        let data = await candidates(c, cond);
        if (sort) {
          const [f, o] = sort;
          const k = o === 'asc' ? 1 : -1;
          data = data.sort((a, b) => {
            const x = getPath(a, f) as number | string;
            const y = getPath(b, f) as number | string;
            return x < y ? -k : x > y ? k : 0;
          });
        }
        return { data: limit === undefined ? data : data.slice(0, limit) };
      },
      async update({ data }: { data: Doc }) {
        let updated = 0;
        for (const d of await candidates(c, cond)) {
          const next = clone(d);
          applyPatch(next, data);
          // The cloud database counts only documents that changed.
          if (same(next, d)) continue;
          const { _id, ...fields } = next;
          await putDoc(c, String(_id), fields);
          updated++;
        }
        return { stats: { updated } };
      },
    };
  }

  const command = {
    in: (v: unknown[]) => new Cmd('in', v),
    nin: (v: unknown[]) => new Cmd('nin', v),
    neq: (v: unknown) => new Cmd('neq', v),
    lt: (v: unknown) => new Cmd('lt', v),
    lte: (v: unknown) => new Cmd('lte', v),
    gt: (v: unknown) => new Cmd('gt', v),
    gte: (v: unknown) => new Cmd('gte', v),
    exists: (v: boolean) => new Cmd('exists', v),
    set: (v: unknown) => new Cmd('set', v),
  };

  return {
    command,
    collection(c: string) {
      return {
        doc(id: string) {
          return {
            async get() {
              const d = await getDoc(c, id);
              if (!d && throwOnNotFound) throw notFoundError(c, id);
              return { data: d };
            },
            async remove() {
              const r = await request(base, 'DELETE', `/db/${enc(c)}/${enc(id)}`);
              if (r.status !== 200) throw new Error(`DELETE /db/${c}/${id}: HTTP ${r.status}`);
              return { stats: { removed: (JSON.parse(r.body) as { removed: boolean }).removed ? 1 : 0 } };
            },
          };
        },
        async add({ data }: { data: Doc }) {
          const { _id, ...fields } = data;
          const id = typeof _id === 'string' ? _id : `${Date.now()}${Math.random().toString(36).slice(2, 10)}`;
          if (await getDoc(c, id)) throw Object.assign(new Error(`duplicate key _id ${id} in ${c}`), { errCode: -502001 });
          await putDoc(c, id, clone(fields));
          return { _id: id };
        },
        where: (cond: Doc) => query(c, cond),
      };
    },
  };
}

const SHIM_ID = '__bench_wx_server_sdk_shim__.js';

/** Requires the real SDK, then makes every later `require('wx-server-sdk')` give the wrapper. */
export function installShim(opts: ShimOptions): unknown {
  const real = require(require.resolve('wx-server-sdk', { paths: [opts.root] })) as object;
  const shim = Object.assign(Object.create(real) as object, {
    database: (o?: { throwOnNotFound?: boolean }) => shimDatabase(opts.emulatorUrl, o?.throwOnNotFound !== false),
    getWXContext: () => ({ ...opts.context }),
  });
  const id = join(opts.root, SHIM_ID);
  const mod = new Module(id);
  mod.filename = id;
  mod.loaded = true;
  mod.exports = shim;
  require.cache[id] = mod;
  const M = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const original = M._resolveFilename;
  M._resolveFilename = function (this: unknown, req: string, ...rest: unknown[]) {
    return req === 'wx-server-sdk' ? id : original.call(this, req, ...rest);
  };
  return shim;
}
