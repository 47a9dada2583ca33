import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../scripts/emulator/server';
import { clearConfigCaches } from '../../shared/config/caches';

export interface Ctx {
  openid?: string;
  appid?: string;
  source?: string;
  fromOpenid?: string;
  fromAppid?: string;
}

export interface TestEmulator extends Emulator {
  /** POST /fn/:name over loopback HTTP, with the WX context as the emulator's headers. */
  fn(name: string, event: unknown, ctx?: Ctx): Promise<any>;
  db<T = any>(coll: string, id: string): Promise<T | null>;
  put(coll: string, id: string, doc: unknown): Promise<void>;
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** An emulator on a free port with a fresh on-disk store, as `npm start` runs it. */
export async function testEmulator(opts: EmulatorOptions = {}): Promise<TestEmulator> {
  const dataDir = mkdtempSync(join(tmpdir(), 'wxpay-emu-'));
  clearConfigCaches();
  const emu = await startEmulator({ port: 0, quiet: true, dataDir, tls: false, httpTimeoutMs: 1500, sandboxStallMs: 2500, ...opts });
  const json = async (res: Response) => {
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  return Object.assign(emu, {
    async fn(name: string, event: unknown, ctx: Ctx = {}) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (ctx.openid) headers['x-wx-openid'] = ctx.openid;
      if (ctx.appid) headers['x-wx-appid'] = ctx.appid;
      if (ctx.source) headers['x-wx-source'] = ctx.source;
      if (ctx.fromOpenid) headers['x-wx-from-openid'] = ctx.fromOpenid;
      if (ctx.fromAppid) headers['x-wx-from-appid'] = ctx.fromAppid;
      return json(await fetch(`${emu.url}/fn/${name}`, { method: 'POST', headers, body: JSON.stringify(event) }));
    },
    async db(coll: string, id: string) {
      const res = await fetch(`${emu.url}/db/${coll}/${encodeURIComponent(id)}`);
      return res.status === 404 ? null : json(res);
    },
    async put(coll: string, id: string, doc: unknown) {
      const res = await fetch(`${emu.url}/db/${coll}/${encodeURIComponent(id)}`, { method: 'PUT', body: JSON.stringify(doc) });
      if (res.status !== 200) throw new Error(`PUT ${coll}/${id}: ${res.status} ${await res.text()}`);
      clearConfigCaches();
    },
    async post(path: string, body: unknown) {
      const res = await fetch(`${emu.url}${path}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: res.status, body: await json(res) };
    },
    async stop() {
      await emu.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
