/**
 * WeChat Pay v3 and v3sp end to end through the emulator: the v3 sandbox verifies our signatures and signs
 * its answers; notifications are verified over the raw body and decrypted; every forged or inconsistent one
 * changes nothing and gets the failure status.
 */
import { createPublicKey, randomBytes } from 'crypto';
import { manualClock } from '../../shared/core/clock';
import { aes256GcmEncrypt } from '../../shared/crypto/aes-gcm';
import { rsaSha256Sign, rsaSha256Verify } from '../../shared/crypto/rsa';
import { DEMO_APPID, DEMO_MCHID } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

const clock = manualClock(Date.now());
let emu: TestEmulator;
let base: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator({ clock });
  base = (await emu.db('config', 'payment'))!;
});
afterAll(() => emu.stop());
afterEach(() => emu.sandboxes['wechatpay-v3'].setFault(null));

const TRUSTED = { source: 'wx_client,scf' };
let seq = 0;
async function useProvider(sp: 'v3' | 'v3sp', over: Record<string, unknown> = {}) {
  await emu.put('config', 'payment', { ...base, pay_sp: sp, ...over });
}
async function order(openid = 'o-v3', amount = 300) {
  const id = `v3-biz-${++seq}`;
  await emu.put('orders', id, { _openid: openid, amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid, appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  return { bizId: id, no: r.data.out_trade_no as string, res: r };
}
const pay = (no: string) => emu.post('/sandbox/wechatpay-v3/pay', { out_trade_no: no });
const state = async () => JSON.stringify([await emu.store.find('pay_orders', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('pay_refunds', {}, { orderBy: ['_id', 'asc'] })]);

describe.each(['v3', 'v3sp'] as const)('%s end to end', (sp) => {
  beforeEach(() => useProvider(sp));

  it('orders with an RSA paySign, is paid by a verified notification (204), refunds in parts', async () => {
    const { bizId, no, res } = await order();
    const p = res.data.payment;
    expect(p.signType).toBe('RSA');
    expect(p.appId).toBe(DEMO_APPID);
    const section = (await emu.db('config', 'payment'))[sp];
    const message = `${p.appId}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`;
    expect(rsaSha256Verify(message, p.paySign, createPublicKey(section.private_key))).toBe(true);
    if (sp === 'v3sp') expect(emu.sandboxes['wechatpay-v3'].order(DEMO_MCHID, no)!.request.payer).toEqual({ sub_openid: 'o-v3' });

    const delivered = await pay(no);
    expect(delivered.body.notify.status).toBe(204);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 300, provider: sp });
    expect((await emu.db('orders', bizId)).status).toBe('paid');
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-v3' })).data.status).toBe('PAID');

    const r1 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
    expect(r1.data).toMatchObject({ status: 'PROCESSING', amount: 100 });
    const done = await emu.post('/sandbox/wechatpay-v3/refund', { out_refund_no: r1.data.out_refund_no });
    expect(done.body.notify.status).toBe(204);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100 });
    const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: r2.data.out_refund_no }, TRUSTED)).data.status).toBe('PROCESSING');
    await emu.post('/sandbox/wechatpay-v3/refund', { out_refund_no: r2.data.out_refund_no });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 300 });
  });

  it('closes after five minutes (204), and a paid order answers ORDERPAID as paid', async () => {
    const a = await order();
    const b = await order();
    await pay(b.no);
    // Six minutes old, and b's notification lost. (The clock itself stays: v3 signatures carry real time.)
    const aged = async (no: string, patch: Record<string, unknown> = {}) =>
      emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), created_at: clock.now() - 6 * 60_000, ...patch });
    await aged(a.no);
    await aged(b.no, { status: 'CREATED' });
    expect((await emu.fn('pay', { action: 'closeorder', out_trade_no: a.no }, { openid: 'o-v3' })).data.status).toBe('CLOSED');
    expect(emu.sandboxes['wechatpay-v3'].order(DEMO_MCHID, a.no)!.trade_state).toBe('CLOSED');
    expect((await emu.fn('pay', { action: 'closeorder', out_trade_no: b.no }, { openid: 'o-v3' })).data.status).toBe('PAID');
  });
});

describe('answers that are not believed', () => {
  beforeEach(() => useProvider('v3'));
  it.each(['nosign', 'badsign', 'stale', 'signtest', '5xx'] as const)('%s → PROVIDER_UNAVAILABLE, nothing changes', async (fault) => {
    const { no } = await order();
    const before = await state();
    emu.sandboxes['wechatpay-v3'].setFault(fault);
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-v3' });
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(await state()).toBe(before);
  });
});

describe('notifications that change nothing', () => {
  beforeEach(() => useProvider('v3'));

  /** A notification as WeChat would send it for an order, signed with the sandbox's platform key. */
  function notification(resource: Record<string, unknown>, opts: { apiv3?: string; event?: string; serial?: string; key?: string; timestamp?: number; signature?: string } = {}) {
    const cfg = base.v3;
    const nonce = randomBytes(6).toString('hex');
    const body = JSON.stringify({
      id: `EV-${seq++}`,
      create_time: '2026-11-22T12:00:00+08:00',
      resource_type: 'encrypt-resource',
      event_type: opts.event ?? 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: { original_type: 'transaction', algorithm: 'AEAD_AES_256_GCM', ciphertext: aes256GcmEncrypt(JSON.stringify(resource), opts.apiv3 ?? cfg.apiv3_key, nonce, 'transaction'), associated_data: 'transaction', nonce },
    });
    const cert = emu.v3Platform.current();
    const ts = String(opts.timestamp ?? Math.floor(clock.now() / 1000));
    const n = randomBytes(8).toString('hex');
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'wechatpay-timestamp': ts,
        'wechatpay-nonce': n,
        'wechatpay-serial': opts.serial ?? cert.serial,
        'wechatpay-signature': opts.signature ?? rsaSha256Sign(`${ts}\n${n}\n${body}\n`, opts.key ?? cert.privateKey),
        'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
      },
    };
  }
  const tx = (no: string, over: Record<string, unknown> = {}) => ({
    appid: DEMO_APPID, mchid: DEMO_MCHID, out_trade_no: no, transaction_id: `4200${Date.now()}${seq}`, trade_type: 'JSAPI', trade_state: 'SUCCESS',
    success_time: '2026-11-22T12:00:00+08:00', payer: { openid: 'o-v3' }, amount: { total: 300, payer_total: 300, currency: 'CNY', payer_currency: 'CNY' }, ...over,
  });
  const send = async (n: { body: string; headers: Record<string, string> }) => {
    const res = await fetch(`${emu.url}/http/notify/v3`, { method: 'POST', headers: n.headers, body: n.body });
    return { status: res.status, body: await res.text() };
  };

  it('a genuine one is applied with 204; its duplicate changes nothing and is acknowledged too', async () => {
    const { no } = await order();
    const n = notification(tx(no));
    expect((await send(n)).status).toBe(204);
    expect((await send(n)).status).toBe(204);
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
    expect((await emu.store.find<any>('pay_events', { out_trade_no: no })).map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);
  });

  it('a refund notification without amount is only a hint: the refund is queried, and follows the provider', async () => {
    const { no } = await order();
    await pay(no);
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
    const n = notification({ mchid: DEMO_MCHID, out_trade_no: no, out_refund_no: r.data.out_refund_no, refund_id: '50', refund_status: 'SUCCESS' }, { event: 'REFUND.SUCCESS' });
    expect((await send(n)).status).toBe(204);
    // The sandbox still has it PROCESSING: nothing is taken from the unsigned-amount claim.
    expect((await emu.db('pay_refunds', r.data.out_refund_no)).status).toBe('PROCESSING');
    expect((await emu.db('pay_orders', no)).status).toBe('REFUNDING');
  });

  it('a base64 body from the HTTP trigger is verified over its decoded bytes', async () => {
    const { no } = await order();
    const n = notification(tx(no));
    const out: any = await emu.invoke('notify', { path: '/notify/v3', httpMethod: 'POST', headers: n.headers, body: Buffer.from(n.body).toString('base64'), isBase64Encoded: true });
    expect(out.statusCode).toBe(204);
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  });

  const otherKey = () => require('crypto').generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const cases: [string, (no: string) => { body: string; headers: Record<string, string> }, string][] = [
    ['signed by another key', (no) => notification(tx(no), { key: otherKey() }), 'does not verify'],
    ['signed under an unknown serial', (no) => notification(tx(no), { serial: 'ABCDEF0123456789ABCDEF0123456789ABCDEF01' }), 'no platform key'],
    ['a stale timestamp', (no) => notification(tx(no), { timestamp: Math.floor(clock.now() / 1000) - 400 }), '300 s'],
    // Junk is refused on its headers before any key is looked up (no certificate download for it).
    ['an unknown serial with a stale timestamp', (no) => notification(tx(no), { serial: 'FEED'.repeat(10), timestamp: 1 }), '300 s'],
    ['a SIGNTEST probe', (no) => notification(tx(no), { signature: 'WECHATPAY/SIGNTEST/' + randomBytes(64).toString('base64') }), 'SIGNTEST'],
    ['a ciphertext under another APIv3 key', (no) => notification(tx(no), { apiv3: 'Z'.repeat(32) }), 'does not decrypt'],
    ['a tampered body with the signature of the original', (no) => {
      const n = notification(tx(no));
      return { ...n, body: n.body.replace('"summary":"支付成功"', '"summary":"支付成功 "') };
    }, 'does not verify'],
    ['a wrong amount (correctly signed)', (no) => notification(tx(no, { amount: { total: 1, currency: 'CNY' } })), 'amount 1 differs'],
    ['another appid (correctly signed)', (no) => notification(tx(no, { appid: 'wx9999999999999999' })), 'appid'],
    ['another mchid (correctly signed)', (no) => notification(tx(no, { mchid: '1900000999' })), 'mchid'],
    ['an unknown order', () => notification(tx('NOSUCHORDER9')), 'unknown order'],
    ['a refund notification for an unknown refund', (no) => notification({ mchid: DEMO_MCHID, out_trade_no: no, out_refund_no: 'NOSUCHREFUND', refund_id: '50', refund_status: 'SUCCESS', amount: { refund: 1, total: 300 } }, { event: 'REFUND.SUCCESS' }), 'unknown refund'],
    ['malformed JSON', () => ({ body: '{"event_type":', headers: { 'content-type': 'application/json' } }), 'malformed JSON'],
    ['an empty body', () => ({ body: '', headers: { 'content-type': 'application/json' } }), 'empty body'],
  ];

  it.each(cases)('%s → 5xx {"code":"FAIL"}, state untouched, recorded as rejected', async (_n, make, reason) => {
    const { no } = await order();
    const before = await state();
    const seen = new Set((await emu.store.find<any>('pay_events', {}, { limit: 100 })).map((e) => e._id));
    const r = await send(make(no));
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(JSON.parse(r.body).code).toBe('FAIL');
    expect(await state()).toBe(before);
    const fresh = (await emu.store.find<any>('pay_events', {}, { limit: 100 })).filter((e) => !seen.has(e._id));
    expect(fresh).toHaveLength(1);
    expect(fresh[0].outcome).toBe('rejected');
    expect(fresh[0].reason).toContain(reason);
  });
});

describe('v3 config and recovery', () => {
  it('a v3 section without its private key is a config error naming the field, before anything is written', async () => {
    const { private_key, ...noKey } = base.v3;
    void private_key;
    await useProvider('v3', { v3: noKey });
    const id = `v3-biz-${++seq}`;
    await emu.put('orders', id, { _openid: 'o-v3', amount: 5, status: 'unpaid' });
    const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-v3' });
    expect(r.error).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(r.error.message).toContain('config/payment.v3.private_key is missing');
    expect(await emu.store.find('pay_orders', { 'business.id': id })).toHaveLength(0);
  });

  it('reconcile completes a v3 order whose notification never arrived', async () => {
    await useProvider('v3', { notify_url: 'http://127.0.0.1:9/nowhere' });
    const { no } = await order();
    expect((await pay(no)).body.notify.status).not.toBe(204); // WeChat could not reach us
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
    await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), created_at: clock.now() - 60_000 });
    const run: any = await emu.invoke('pay', { action: 'reconcile', older_than_minutes: 0, spacing_ms: 0 }, { SOURCE: 'wx_client,scf' });
    expect(run.ok).toBe(true);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', hooks: { on_paid: { state: 'done' } } });
  });
});
