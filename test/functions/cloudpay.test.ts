/**
 * cloudPay through the emulator: the local Cloud's `cloudPay` is a sandbox that answers like
 * `cloud.cloudPay` and delivers result callbacks to `notify` as a plain call from SOURCE wx_paycallback.
 */
import { DEMO_APPID, DEMO_MCHID } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let base: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator();
  base = (await emu.db('config', 'payment'))!;
  await emu.put('config', 'payment', { ...base, pay_sp: 'cloudpay' });
});
afterAll(() => emu.stop());

const TRUSTED = { source: 'wx_client,scf' };
let seq = 0;
async function order(amount = 120) {
  const id = `cp-biz-${++seq}`;
  await emu.put('orders', id, { _openid: 'o-cp', amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid: 'o-cp', appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  return { bizId: id, no: r.data.out_trade_no as string, res: r };
}
const callback = (event: Record<string, unknown>, source = 'wx_paycallback') => emu.invoke('notify', event, { SOURCE: source }) as Promise<any>;
const state = async () => JSON.stringify([await emu.store.find('pay_orders', {}, { orderBy: ['_id', 'asc'] }), await emu.store.find('pay_refunds', {}, { orderBy: ['_id', 'asc'] })]);

it('orders with the documented fields, passes `payment` unchanged, is paid by the callback, refunds by snake_case callback', async () => {
  const { bizId, no, res } = await order();
  const sandboxOrder = emu.sandboxes.cloudpay.order(DEMO_MCHID, no)!;
  expect(sandboxOrder.params).toMatchObject({ outTradeNo: no, subMchId: DEMO_MCHID, totalFee: 120, envId: 'local-env', functionName: 'notify', tradeType: 'JSAPI' });
  expect(typeof sandboxOrder.params.nonceStr).toBe('string');
  expect(res.data.payment).toMatchObject({ signType: 'MD5', package: `prepay_id=${sandboxOrder.prepayId}` });

  const paid = await emu.post('/sandbox/cloudpay/pay', { out_trade_no: no });
  expect(paid.body.callback).toEqual({ errcode: 0, errmsg: 'OK' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', transaction_id: paid.body.transaction_id });
  expect((await emu.db('orders', bizId)).status).toBe('paid');
  // The same callback again (cloudPay retries for two days) changes nothing and is still acknowledged.
  expect((await emu.post('/sandbox/cloudpay/pay', { out_trade_no: no })).body.callback.errcode).toBe(0);
  const events = await emu.store.find<any>('pay_events', { out_trade_no: no });
  expect(events.map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);

  const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 20 }, TRUSTED);
  expect(r.data).toMatchObject({ status: 'PROCESSING', amount: 20 });
  const done = await emu.post('/sandbox/cloudpay/refund', { out_refund_no: r.data.out_refund_no });
  expect(done.body.callback).toEqual({ errcode: 0, errmsg: 'OK' });
  expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 20 });
});

it('queryorder and closeorder go through cloudPay too', async () => {
  const { no } = await order();
  expect((await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid: 'o-cp' })).data.status).toBe('CREATED');
  await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), created_at: Date.now() - 6 * 60_000 });
  expect((await emu.fn('pay', { action: 'closeorder', out_trade_no: no }, { openid: 'o-cp' })).data.status).toBe('CLOSED');
  expect(emu.sandboxes.cloudpay.order(DEMO_MCHID, no)!.state).toBe('CLOSED');
});

describe('callbacks that change nothing', () => {
  const genuine = (no: string, over: Record<string, unknown> = {}) => ({
    returnCode: 'SUCCESS', appid: 'wxd2565e6a04246fd1', mchId: '1800780001', subMchId: DEMO_MCHID, resultCode: 'SUCCESS',
    totalFee: 120, feeType: 'CNY', cashFee: 120, transactionId: `4200${Date.now()}${seq}`, outTradeNo: no, timeEnd: '20261122120000', ...over,
  });

  it('a callback from anyone but cloudPay (a mini-program calling notify) is refused and recorded', async () => {
    const { no } = await order();
    const before = await state();
    for (const source of ['wx_client', 'wx_client,scf', '']) {
      const r = await callback(genuine(no), source);
      expect(r.errcode).not.toBe(0);
    }
    expect(await state()).toBe(before);
    expect((await emu.store.find<any>('pay_events', { out_trade_no: no })).length).toBe(0);
    expect((await emu.store.find<any>('pay_events', { dedupe_key: 'cloudpay:unverified' })).length).toBeGreaterThanOrEqual(3);
  });

  it('a doubtful callback (wrong amount, another sub-merchant) is settled by queryOrder: unpaid stays unpaid', async () => {
    const { no } = await order();
    const before = await state();
    expect((await callback(genuine(no, { totalFee: 1, cashFee: 1 }))).errcode).toBe(0); // the query says NOTPAY: nothing to apply
    expect((await callback(genuine(no, { subMchId: '1900000999' }))).errcode).toBe(0);
    expect(await state()).toBe(before);
  });

  it('a doubtful callback for an order the provider knows as paid applies the provider’s truth', async () => {
    const { no } = await order();
    const paid = await emu.post('/sandbox/cloudpay/pay', { out_trade_no: no });
    await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), status: 'CREATED' });
    expect((await callback(genuine(no, { totalFee: 999999 }))).errcode).toBe(0);
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PAID', paid_amount: 120, transaction_id: paid.body.transaction_id });
  });

  it('an unknown order or refund is refused with a non-zero errcode', async () => {
    const before = await state();
    expect((await callback(genuine('NOSUCHORDER77'))).errcode).toBe(1);
    expect((await callback({ out_refund_no: 'NOSUCHREFUND', refund_status: 'SUCCESS', refund_fee: 1 })).errcode).toBe(1);
    expect(await state()).toBe(before);
  });
});

it('a refund callback without the amount, which queryRefund cannot settle, is asked to come again', async () => {
  const { no } = await order();
  await emu.post('/sandbox/cloudpay/pay', { out_trade_no: no });
  const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 20 }, TRUSTED);
  // The sandbox's queryRefund still says PROCESSING: nothing final to store, so no errcode 0.
  const reply = await callback({ out_refund_no: r.data.out_refund_no, out_trade_no: no, refund_status: 'SUCCESS' });
  expect(reply.errcode).not.toBe(0);
  expect((await emu.db('pay_refunds', r.data.out_refund_no)).status).toBe('PROCESSING');
});

it('cloudpay takes no HTTP notifications', async () => {
  const res = await fetch(`${emu.url}/http/notify/cloudpay`, { method: 'POST', body: '{}' });
  expect(res.status).toBe(404);
});
