/**
 * The `notify` function through the emulator's HTTP trigger route (/http/notify/v2): every notification is
 * verified, applied once, and recorded; anything forged, malformed or inconsistent changes nothing.
 */
import { aes256EcbEncrypt } from '../../shared/crypto/aes';
import { md5Hex } from '../../shared/crypto/hash';
import { buildFlatXml } from '../../shared/crypto/xml';
import { signV2 } from '../../shared/providers/wechatpay-v2/sign';
import { DEMO_APPID, DEMO_MCHID, randomKey } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

let hookRuns = 0;
let hookFailuresLeft = 0;
let emu: TestEmulator;
let baseConfig: Record<string, any>;
let key: string;
beforeAll(async () => {
  emu = await testEmulator({
    tls: true, // refunds go over mutual TLS
    functions: {
      'paid-hook': async () => {
        hookRuns++;
        if (hookFailuresLeft > 0) {
          hookFailuresLeft--;
          throw new Error('downstream system is down');
        }
        return { ok: true };
      },
    },
  });
  baseConfig = (await emu.db('config', 'payment'))!;
  key = baseConfig.v2.key;
  await emu.put('config', 'payment', { ...baseConfig, on_paid: { set_status: 'paid', call_function: 'paid-hook' } });
});
afterAll(() => emu.stop());
beforeEach(() => {
  hookRuns = 0;
  hookFailuresLeft = 0;
});

let seq = 0;
async function createOrder(amount = 300) {
  const id = `n-biz-${++seq}`;
  await emu.put('orders', id, { _openid: 'o-payer', amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-payer', appid: DEMO_APPID });
  return { bizId: id, no: r.data.out_trade_no as string };
}

function payFields(no: string, over: Record<string, string> = {}, signKey = key): Record<string, string> {
  const f: Record<string, string> = {
    return_code: 'SUCCESS',
    appid: DEMO_APPID,
    mch_id: DEMO_MCHID,
    nonce_str: `n${Date.now()}${seq}`,
    result_code: 'SUCCESS',
    openid: 'o-payer',
    trade_type: 'JSAPI',
    bank_type: 'OTHERS',
    total_fee: '300',
    fee_type: 'CNY',
    cash_fee: '300',
    transaction_id: `4200000000${String(++seq).padStart(18, '0')}`,
    out_trade_no: no,
    time_end: '20261122120000',
    ...over,
  };
  return { ...f, sign: signV2(f, signKey, 'MD5') };
}

async function notify(body: string | Buffer, path = '/http/notify/v2', method = 'POST') {
  const res = await fetch(`${emu.url}${path}`, { method, headers: { 'content-type': 'text/xml' }, body: method === 'GET' ? undefined : body });
  return { status: res.status, body: await res.text() };
}
const SUCCESS = '<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>';

/** Orders and refunds as stored: what a rejected notification must leave exactly as it was. */
async function state() {
  return JSON.stringify([await emu.store.find('pay_orders', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('pay_refunds', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('orders', {}, { orderBy: ['_id', 'asc'] })]);
}
async function lastEvent() {
  const [e] = await emu.store.find<any>('pay_events', {}, { orderBy: ['received_at', 'desc'], limit: 1 });
  return e;
}

describe('a genuine pay notification', () => {
  it('is applied once, acked with the exact SUCCESS XML, recorded, and runs the hook once', async () => {
    const { bizId, no } = await createOrder();
    const xml = buildFlatXml(payFields(no));
    const first = await notify(xml);
    expect(first).toEqual({ status: 200, body: SUCCESS });
    const second = await notify(xml);
    expect(second.body).toBe(SUCCESS);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 300 });
    expect((await emu.db('orders', bizId)).status).toBe('paid');
    expect(hookRuns).toBe(1);
    const events = await emu.store.find<any>('pay_events', { out_trade_no: no }, { orderBy: ['received_at', 'asc'] });
    expect(events.map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);
    expect(events[0].fields).toContain('"sign":"[redacted]"');
  });

  it('a storm of 50 identical deliveries makes exactly one transition and one hook run', async () => {
    const { no } = await createOrder();
    const xml = buildFlatXml(payFields(no));
    const replies = await Promise.all(Array.from({ length: 50 }, () => notify(xml)));
    // A delivery that arrives while the winner is still running the hook is asked to come again.
    expect(replies.every((r) => r.body === SUCCESS || r.body.includes('processing not complete'))).toBe(true);
    expect(replies.some((r) => r.body === SUCCESS)).toBe(true);
    const events = await emu.store.find<any>('pay_events', { out_trade_no: no }, { limit: 100 });
    expect(events).toHaveLength(50);
    expect(events.filter((e) => e.outcome === 'applied')).toHaveLength(1);
    expect(hookRuns).toBe(1);
    expect((await emu.db('pay_orders', no)).hooks.on_paid).toMatchObject({ state: 'done', attempts: 1 });
  });

  it('an HMAC-SHA256 sign without sign_type is recognised by its length', async () => {
    const { no } = await createOrder();
    const f = payFields(no);
    delete f.sign;
    const xml = buildFlatXml({ ...f, sign: signV2(f, key, 'HMAC-SHA256') });
    expect((await notify(xml)).body).toBe(SUCCESS);
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  });

  it('a base64 body from the HTTP trigger is decoded before parsing', async () => {
    const { no } = await createOrder();
    const body = Buffer.from(buildFlatXml(payFields(no))).toString('base64');
    const out: any = await emu.invoke('notify', { path: '/notify/v2', httpMethod: 'POST', headers: { 'Content-Type': 'text/xml' }, body, isBase64Encoded: true });
    expect(out).toMatchObject({ statusCode: 200, body: SUCCESS });
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  });

  it('a failed hook asks for redelivery (FAIL), and the redelivery completes it', async () => {
    const { no } = await createOrder();
    hookFailuresLeft = 1;
    const xml = buildFlatXml(payFields(no));
    const first = await notify(xml);
    expect(first.body).toContain('FAIL');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', hooks: { on_paid: { state: 'failed', attempts: 1, last_error: 'downstream system is down' } } });
    expect((await notify(xml)).body).toBe(SUCCESS);
    expect((await emu.db('pay_orders', no)).hooks.on_paid).toMatchObject({ state: 'done', attempts: 2 });
    expect(hookRuns).toBe(2);
  });

  it('a FAIL result marks an unpaid order FAILED; a later success still applies', async () => {
    const { no } = await createOrder();
    const { transaction_id, time_end, ...failed } = payFields(no, { result_code: 'FAIL', err_code: 'PAYERROR' });
    void transaction_id;
    void time_end;
    delete failed.sign;
    expect((await notify(buildFlatXml({ ...failed, sign: signV2(failed, key, 'MD5') }))).body).toBe(SUCCESS);
    expect((await emu.db('pay_orders', no)).status).toBe('FAILED');
    expect((await notify(buildFlatXml(payFields(no)))).body).toBe(SUCCESS);
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  });
});

describe('notifications that change nothing', () => {
  const cases: [string, (no: string) => string | Buffer, string][] = [
    ['a bad sign', (no) => buildFlatXml({ ...payFields(no), sign: 'A'.repeat(32) }), 'bad sign'],
    ['a sign made with another key', (no) => buildFlatXml(payFields(no, {}, randomKey())), 'bad sign'],
    ['a wrong amount (correctly signed)', (no) => buildFlatXml(payFields(no, { total_fee: '1', cash_fee: '1' })), 'amount 1 differs'],
    ['another currency', (no) => buildFlatXml(payFields(no, { fee_type: 'USD' })), 'currency'],
    ['another appid (same merchant, correctly signed)', (no) => buildFlatXml(payFields(no, { appid: 'wx9999999999999999' })), 'appid'],
    ['another merchant', (no) => buildFlatXml(payFields(no, { mch_id: '1900000999' })), 'no config holds this merchant'],
    ['an unknown order', () => buildFlatXml(payFields('NOSUCHORDER123')), 'unknown order'],
    ['broken XML', () => '<xml><return_code>SUCCESS</return_code><out_trade_no>', 'malformed XML'],
    ['an XML entity attack', () => '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><return_code>&x;</return_code></xml>', 'DOCTYPE'],
    ['an empty body', () => '', 'empty body'],
    ['JSON instead of XML', () => '{"return_code":"SUCCESS"}', 'malformed XML'],
    ['return_code FAIL', (no) => buildFlatXml(payFields(no, { return_code: 'FAIL' })), 'return_code'],
  ];

  it.each(cases)('%s → FAIL, state untouched, recorded as rejected', async (_name, body, reason) => {
    const { no } = await createOrder();
    const before = await state();
    const r = await notify(body(no));
    expect(r.status).toBe(200);
    expect(r.body).toContain('<return_code><![CDATA[FAIL]]></return_code>');
    expect(await state()).toBe(before);
    expect(hookRuns).toBe(0);
    const e = await lastEvent();
    expect(e.outcome).toBe('rejected');
    expect(e.reason).toContain(reason);
  });

  it('a GET is refused; a path without a provider falls back to pay_sp', async () => {
    expect((await notify('', '/http/notify/v2', 'GET')).status).toBe(405);
    const { no } = await createOrder();
    expect((await notify(buildFlatXml(payFields(no)), '/http/notify')).body).toBe(SUCCESS);
  });

  it('a non-HTTP event is answered 400 with what notify expects', async () => {
    const out: any = await emu.invoke('notify', { action: 'notify' });
    expect(out.statusCode).toBe(400);
    expect(out.body).toContain('HTTP-trigger');
  });
});

describe('refund notifications', () => {
  async function refunding() {
    const { no } = await createOrder(500);
    await emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: no }); // the provider must know it paid to refund it
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 200 }, { source: 'wx_client,scf' });
    expect(r.data.status).toBe('PROCESSING');
    return { no, outRefundNo: r.data.out_refund_no as string, refundId: r.data.refund_id as string };
  }
  function refundXml(no: string, outRefundNo: string, status: string, refundFee = '200', encKey = key) {
    const plain = buildFlatXml({ out_trade_no: no, out_refund_no: outRefundNo, refund_id: '50000000001', total_fee: '500', refund_fee: refundFee, refund_status: status, success_time: '2026-11-22 12:00:00' }, 'root');
    const reqInfo = aes256EcbEncrypt(Buffer.from(plain), Buffer.from(md5Hex(encKey), 'ascii')).toString('base64');
    return buildFlatXml({ return_code: 'SUCCESS', appid: DEMO_APPID, mch_id: DEMO_MCHID, nonce_str: 'abc', req_info: reqInfo });
  }

  it('SUCCESS completes the refund once', async () => {
    const { no, outRefundNo } = await refunding();
    const xml = refundXml(no, outRefundNo, 'SUCCESS');
    expect((await notify(xml)).body).toBe(SUCCESS);
    expect((await notify(xml)).body).toBe(SUCCESS);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 200 });
    expect((await emu.db('pay_refunds', outRefundNo)).status).toBe('SUCCESS');
    const events = await emu.store.find<any>('pay_events', { out_refund_no: outRefundNo });
    expect(events.map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);
  });

  it('REFUNDCLOSE puts the order back to PAID', async () => {
    const { no, outRefundNo } = await refunding();
    expect((await notify(refundXml(no, outRefundNo, 'REFUNDCLOSE'))).body).toBe(SUCCESS);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0, refunding: null });
    expect((await emu.db('pay_refunds', outRefundNo)).status).toBe('CLOSED');
  });

  it.each([
    ['encrypted with another key', (no: string, r: string) => refundXml(no, r, 'SUCCESS', '200', randomKey()), 'does not decrypt'],
    ['for another amount', (no: string, r: string) => refundXml(no, r, 'SUCCESS', '201'), 'refund amount 201'],
    ['for an unknown refund', (no: string) => refundXml(no, 'NOSUCHREFUND', 'SUCCESS'), 'unknown refund'],
  ])('%s → FAIL, nothing changes', async (_n, make, reason) => {
    const { no, outRefundNo } = await refunding();
    const before = await state();
    const r = await notify(make(no, outRefundNo));
    expect(r.body).toContain('FAIL');
    expect(await state()).toBe(before);
    expect((await lastEvent()).reason).toContain(reason);
  });
});
