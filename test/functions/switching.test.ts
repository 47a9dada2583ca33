/**
 * Switching `pay_sp` while orders are open: each order keeps the provider (and config) it was created with
 * for queries, notifications, refunds and reconcile; only new orders go to the new provider.
 */
import { DEMO_APPID } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let base: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator({ tls: true });
  base = (await emu.db('config', 'payment'))!;
});
afterAll(() => emu.stop());

const TRUSTED = { source: 'wx_client,scf' };
let seq = 0;
async function order(openid: string) {
  const id = `sw-${++seq}`;
  await emu.put('orders', id, { _openid: openid, amount: 200, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid, appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  return r.data.out_trade_no as string;
}

it('v2 orders stay on v2 and v3 orders on v3 while pay_sp moves between them', async () => {
  await emu.put('config', 'payment', { ...base, pay_sp: 'v2' });
  const onV2 = await order('o-sw');
  await emu.put('config', 'payment', { ...base, pay_sp: 'v3' });
  const onV3 = await order('o-sw');
  expect((await emu.db('pay_orders', onV2)).provider).toBe('v2');
  expect((await emu.db('pay_orders', onV3)).provider).toBe('v3');

  // pay_sp is v3 now: the v2 order is still paid by a v2 notification, queried and refunded over v2.
  expect((await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: onV2 })).body.notify.body).toContain('SUCCESS');
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: onV2 }, { openid: 'o-sw' })).data).toMatchObject({ status: 'PAID', provider: 'v2' });
  const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: onV2 }, TRUSTED);
  expect(r2.data.status).toBe('PROCESSING');
  await emu.post('/sandbox/wechatpay-v2/refund', { out_refund_no: r2.data.out_refund_no });
  expect((await emu.db('pay_orders', onV2)).status).toBe('REFUNDED');

  // Back to v2: the v3 order is notified, queried and refunded over v3.
  await emu.put('config', 'payment', { ...base, pay_sp: 'v2' });
  expect((await emu.post('/sandbox/wechatpay-v3/pay', { out_trade_no: onV3 })).body.notify.status).toBe(204);
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: onV3 }, { openid: 'o-sw' })).data).toMatchObject({ status: 'PAID', provider: 'v3' });
  const r3 = await emu.fn('pay', { action: 'refund', out_trade_no: onV3 }, TRUSTED);
  await emu.post('/sandbox/wechatpay-v3/refund', { out_refund_no: r3.data.out_refund_no });
  expect((await emu.db('pay_orders', onV3)).status).toBe('REFUNDED');
});

it('a notification for an old order arriving at the new provider’s path is refused, not misapplied', async () => {
  await emu.put('config', 'payment', { ...base, pay_sp: 'v3' });
  const onV3 = await order('o-sw2');
  await emu.put('config', 'payment', { ...base, pay_sp: 'v2' });
  const before = JSON.stringify(await emu.db('pay_orders', onV3));
  // The v2 sandbox knows nothing of it; a v2-shaped forgery at /v2 naming the v3 order is refused.
  const res = await fetch(`${emu.url}/http/notify/v2`, { method: 'POST', body: `<xml><return_code>SUCCESS</return_code><out_trade_no>${onV3}</out_trade_no></xml>` });
  expect(await res.text()).toContain('FAIL');
  expect(JSON.stringify(await emu.db('pay_orders', onV3))).toBe(before);
});
