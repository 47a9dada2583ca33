/** The emulator's store is on disk: what was paid is still paid after a restart, and the seed is not redone. */
import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { startEmulator } from '../../scripts/emulator/server';
import { DEMO_OPENID } from '../../scripts/emulator/seed';
import { clearConfigCaches } from '../../shared/config/caches';

const post = async (url: string, body: unknown, headers: Record<string, string> = {}) =>
  (await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) })).json() as Promise<any>;

it('orders, config and the seeded key survive a restart on the same data folder; --reset starts afresh', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wxpay-persist-'));
  try {
    const first = await startEmulator({ port: 0, quiet: true, dataDir, tls: false });
    const r = await post(`${first.url}/fn/pay`, { action: 'unifiedorder', order_id: 'demo-order-1' }, { 'x-wx-openid': DEMO_OPENID });
    const no = r.data.out_trade_no;
    await post(`${first.url}/sandbox/wechatpay-v2/pay`, { out_trade_no: no });
    const key = ((await first.store.get<any>('config', 'payment'))!).v2.key;
    await first.close();
    clearConfigCaches();

    const second = await startEmulator({ port: 0, quiet: true, dataDir, tls: false });
    expect((await second.store.get<any>('pay_orders', no))!.status).toBe('PAID');
    expect((await second.store.get<any>('config', 'payment'))!.v2.key).toBe(key);
    expect((await second.store.get<any>('orders', 'demo-order-1'))!.status).toBe('paid');
    await second.close();

    const third = await startEmulator({ port: 0, quiet: true, dataDir, tls: false, reset: true });
    expect(await third.store.get('pay_orders', no)).toBeNull();
    expect((await third.store.get<any>('config', 'payment'))!.v2.key).not.toBe(key);
    await third.close();
  } finally {
    clearConfigCaches();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
