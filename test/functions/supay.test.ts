/**
 * SuPay end to end through the emulator: the SuPay sandbox checks every request's MD5 sign and delivers
 * signed form-urlencoded notifications to `<notify_url>/supay`; every forged or inconsistent notification
 * changes nothing and is answered HTTP 500 `fail`.
 */
import { createHash } from 'crypto';
import { randomKey } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let base: Record<string, any>;
let supay: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator();
  base = (await emu.db('config', 'payment'))!;
  supay = base.supay;
  await emu.put('config', 'payment', { ...base, pay_sp: 'supay', currency: 'AUD' });
});
afterAll(() => emu.stop());
afterEach(() => emu.sandboxes.supay.setFault(null));

const TRUSTED = { source: 'wx_client,scf' };
let seq = 0;
async function order(amount = 1234, event: Record<string, unknown> = {}) {
  const id = `sp-biz-${++seq}`;
  await emu.put('orders', id, { _openid: 'o-sp', amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id, ...event }, { openid: 'o-sp' });
  return { bizId: id, no: r.data?.out_trade_no as string, res: r };
}
const trade = (no: string) => emu.sandboxes.supay.trade(supay.mch_id, no)!;
const state = async () => JSON.stringify([await emu.store.find('pay_orders', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('pay_refunds', {}, { orderBy: ['_id', 'asc'] })]);
const md5Upper = (s: string) => createHash('md5').update(s, 'utf8').digest('hex').toUpperCase();

/** A notification as SuPay would sign it: sorted non-empty fields but sign / sign_type, `&key=`, MD5. */
function signed(fields: Record<string, string>, key = supay.key as string): Record<string, string> {
  const text = Object.keys(fields).filter((k) => fields[k] !== '').sort().map((k) => `${k}=${fields[k]}`).join('&');
  return { ...fields, sign: md5Upper(`${text}&key=${key}`), sign_type: 'MD5' };
}
const payNotice = (no: string, over: Record<string, string> = {}) => ({
  notify_id: `n${++seq}`, notify_type: 'trade_status_sync', notify_time: '2026-01-01 10:00:00', outer_trade_no: no,
  inner_trade_no: `SP0000${seq}`, trade_amount: '12.34', currency: 'AUD', trade_status: 'TRADE_SUCCESS', ...over,
});
async function send(body: string) {
  const res = await fetch(`${emu.url}/http/notify/supay`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, body: await res.text() };
}
const form = (f: Record<string, string>) => new URLSearchParams(f).toString();

it('orders through JSAPI, is paid by a signed notification (success), queried, refunded in parts', async () => {
  const { bizId, no, res } = await order();
  expect(res.ok).toBe(true);
  const t = trade(no);
  expect(t.request).toMatchObject({
    service: 'create_instant_trade', mch_id: supay.mch_id, recevice_id: supay.mch_id, store_name: 'Demo store', pay_way: 'JSAPI', pay_channel: 'WXPAY',
    subOpenId: 'o-sp', currency: 'AUD', pay_amount: '12.34', goods_price: '12.34', quantity: '1', timeout_express: '30m', sign_type: 'MD5',
    call_back_url: `${emu.url}/http/notify/supay`,
  });
  // The requestPayment fields are SuPay's pay_info, passed on unchanged.
  expect(res.data.payment).toEqual(JSON.parse(t.pay_info));

  const paid = await emu.post('/sandbox/supay/pay', { out_trade_no: no });
  expect(paid.body.notify).toMatchObject({ status: 200, body: 'success' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 1234, currency: 'AUD', provider: 'supay', provider_trade_no: t.inner_trade_no });
  expect((await emu.db('orders', bizId)).status).toBe('paid');
  // SuPay delivers again until it reads `success`: the duplicate changes nothing and is acknowledged.
  expect((await emu.post('/sandbox/supay/pay', { out_trade_no: no })).body.notify.body).toBe('success');
  expect((await emu.store.find<any>('pay_events', { out_trade_no: no })).map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-sp' })).data.status).toBe('PAID');

  const r1 = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 234 }, TRUSTED);
  expect(r1.data).toMatchObject({ status: 'PROCESSING', amount: 234 });
  expect(emu.sandboxes.supay.refund(supay.mch_id, r1.data.out_refund_no)).toMatchObject({ orig_mch_order_no: no, refund_amount: '2.34' });
  const done = await emu.post('/sandbox/supay/refund', { out_refund_no: r1.data.out_refund_no });
  expect(done.body.notify).toMatchObject({ status: 200, body: 'success' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 234 });

  const r2 = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
  expect((await emu.fn('pay', { action: 'queryrefund', out_refund_no: r2.data.out_refund_no }, TRUSTED)).data.status).toBe('PROCESSING');
  await emu.post('/sandbox/supay/refund', { out_refund_no: r2.data.out_refund_no });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 1234 });
});

it('a failed refund ends CLOSED and gives the amount back to the order', async () => {
  const { no } = await order(500);
  await emu.post('/sandbox/supay/pay', { out_trade_no: no });
  const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
  expect((await emu.post('/sandbox/supay/refund', { out_refund_no: r.data.out_refund_no, result: 'REFUND_FAIL' })).body.notify.body).toBe('success');
  expect(await emu.db('pay_refunds', r.data.out_refund_no)).toMatchObject({ status: 'CLOSED' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', refunded_amount: 0 });
});

it('pay_method alipay returns the payment page url (pay_way H5, pay_channel ALIPAY)', async () => {
  const { no, res } = await order(990, { pay_method: 'alipay' });
  expect(res.ok).toBe(true);
  expect(res.data.payment).toBeUndefined();
  expect(trade(no).request).toMatchObject({ pay_way: 'H5', pay_channel: 'ALIPAY', pay_amount: '9.90' });
  expect(trade(no).request.subOpenId).toBeUndefined();
  const page = await fetch(res.data.url);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('ALIPAY AUD 9.90');
  await emu.post('/sandbox/supay/pay', { out_trade_no: no });
  expect((await emu.db('pay_orders', no)).status).toBe('PAID');
});

it('a method SuPay does not offer is NOT_SUPPORTED, named; so is a currency its config does not list', async () => {
  const { res } = await order(100, { pay_method: 'paypal' });
  expect(res.error.code).toBe('NOT_SUPPORTED');
  expect(res.error.message).toContain('"paypal"');
  expect(res.error.message).toContain('wechat, alipay');

  await emu.put('config', 'payment', { ...base, pay_sp: 'supay', currency: 'AUD', currencies: ['AUD', 'NZD'] });
  try {
    const { res: nzd } = await order(100, { currency: 'NZD' });
    expect(nzd.error.code).toBe('NOT_SUPPORTED');
    expect(nzd.error.message).toContain('config/payment.supay.currencies');
  } finally {
    await emu.put('config', 'payment', { ...base, pay_sp: 'supay', currency: 'AUD' });
  }
});

it('a lost notification is made good by queryorder (query_trade)', async () => {
  await emu.put('config', 'payment', { ...base, pay_sp: 'supay', currency: 'AUD', notify_url: 'http://127.0.0.1:9/nowhere' });
  try {
    const { no } = await order(700);
    await expect(emu.post('/sandbox/supay/pay', { out_trade_no: no })).resolves.toMatchObject({ status: 500 });
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-sp' })).data.status).toBe('PAID');
    expect(await emu.db('pay_orders', no)).toMatchObject({ paid_amount: 700, provider_trade_no: trade(no).inner_trade_no });
  } finally {
    await emu.put('config', 'payment', { ...base, pay_sp: 'supay', currency: 'AUD' });
  }
});

describe('notifications that change nothing', () => {
  const cases: [string, (no: string) => string, string][] = [
    ['a forged sign', (no) => form({ ...signed(payNotice(no)), sign: 'A'.repeat(32) }), 'bad sign'],
    ['no sign at all', (no) => form(payNotice(no)), 'unsigned'],
    ['a sign made with another key', (no) => form(signed(payNotice(no), randomKey())), 'bad sign'],
    ['a tampered amount under the original sign', (no) => form({ ...signed(payNotice(no)), trade_amount: '0.01' }), 'bad sign'],
    ['a wrong amount (correctly signed)', (no) => form(signed(payNotice(no, { trade_amount: '0.01' }))), 'amount 1 differs'],
    ['another currency (correctly signed)', (no) => form(signed(payNotice(no, { currency: 'USD' }))), 'currency USD differs'],
    ['another merchant (correctly signed)', (no) => form(signed(payNotice(no, { mch_id: 'SP9999999' }))), 'mch_id is not this merchant'],
    ['an unknown order', () => form(signed(payNotice('NOSUCHORDER42'))), 'unknown order'],
    ['a refund of an unknown refund', (no) => form(signed({ notify_type: 'refund_status_sync', outer_trade_no: 'NOSUCHREFUND', orig_outer_trade_no: no, refund_status: 'REFUND_SUCCESS', refund_amount: '12.34', currency: 'AUD' })), 'unknown refund'],
    ['an unknown notify_type (correctly signed)', (no) => form(signed(payNotice(no, { notify_type: 'deposit_status_sync' }))), 'neither'],
    ['a field given twice', (no) => `${form(signed(payNotice(no)))}&trade_amount=0.01`, 'appears twice'],
    ['JSON instead of a form', (no) => JSON.stringify(signed(payNotice(no))), 'no notify_type'],
    ['an empty body', () => '', 'empty body'],
  ];

  it.each(cases)('%s → 500 fail, state untouched, recorded as rejected', async (_name, body, reason) => {
    const { no } = await order();
    const before = await state();
    const seen = new Set((await emu.store.find<any>('pay_events', {}, { limit: 1000 })).map((e) => e._id));
    expect(await send(body(no))).toEqual({ status: 500, body: 'fail' });
    expect(await state()).toBe(before);
    const fresh = (await emu.store.find<any>('pay_events', {}, { limit: 1000 })).filter((e) => !seen.has(e._id));
    expect(fresh).toHaveLength(1);
    expect(fresh[0].outcome).toBe('rejected');
    expect(fresh[0].reason).toContain(reason);
  });

  it('a genuine one from the HTTP trigger as base64 is verified over its decoded bytes', async () => {
    const { no } = await order();
    const body = Buffer.from(form(signed(payNotice(no)))).toString('base64');
    const out: any = await emu.invoke('notify', { path: '/notify/supay', httpMethod: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body, isBase64Encoded: true });
    expect(out).toMatchObject({ statusCode: 200, body: 'success' });
    expect((await emu.db('pay_orders', no)).status).toBe('PAID');
  });
});

describe('an acquirer that times out or answers in an unexpected shape', () => {
  it.each(['timeout', 'garbage', '5xx', 'badsign'] as const)('%s on queryorder → PROVIDER_UNAVAILABLE, nothing changes', async (fault) => {
    const { no } = await order();
    const before = await state();
    emu.sandboxes.supay.setFault(fault);
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-sp' });
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(await state()).toBe(before);
  });

});

describe('answers about another number than the one asked', () => {
  // SuPay's create answer carries only pay_info (protocols/acquirers.md §1c), so no SuPay trade id is stored
  // at creation: a trade is named by our own mch_order_no, which every query and signed notification carries.
  it('a query_trade answer about another outer_trade_no: PROVIDER_UNAVAILABLE, logged, nothing changes', async () => {
    const { no } = await order();
    trade(no).status = 'TRADE_SUCCESS'; // paid at SuPay, its notification not (yet) delivered
    trade(no).request.mch_order_no = 'SOMEONEELSES01'; // still filed under our number, answered as another's
    const before = await state();
    const r = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-sp' });
    expect(r.error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.error.message).toContain(`outer_trade_no ${no} but answered about SOMEONEELSES01`);
    expect(await state()).toBe(before);
    expect(emu.log.lines!.some((l) => l.includes('answered a query about another id') && l.includes('SOMEONEELSES01'))).toBe(true);
    trade(no).request.mch_order_no = no;
    expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-sp' })).data.status).toBe('PAID');
  });
});

it('refund_currency other than the order’s is NOT_SUPPORTED: SuPay refunds only in the order’s currency', async () => {
  const { no } = await order();
  await emu.post('/sandbox/supay/pay', { out_trade_no: no });
  await emu.put('config', 'payment', { ...base, pay_sp: 'supay', currency: 'AUD', refund_currency: 'CNY' });
  try {
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no }, TRUSTED);
    expect(r.error.code).toBe('NOT_SUPPORTED');
    expect(r.error.message).toContain("supay refunds only in the order's currency");
    expect(await emu.store.find('pay_refunds', { out_trade_no: no })).toHaveLength(0);
  } finally {
    await emu.put('config', 'payment', { ...base, pay_sp: 'supay', currency: 'AUD' });
  }
});
