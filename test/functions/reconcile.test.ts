/**
 * `pay` action `reconcile` through the emulator, with the WeChat Pay v2 sandbox over mutual TLS: what a lost
 * notification left undone is completed from the provider's word, once, in budget, page by page.
 */
import { manualClock } from '../../shared/core/clock';
import { DEMO_APPID, DEMO_MCHID } from '../../scripts/emulator/seed';
import { testEmulator, type TestEmulator } from '../support/emu';

const clock = manualClock(Date.now());
const hookCalls: string[] = [];
let hookAnswer: unknown = { ok: true };
let emu: TestEmulator;
let baseConfig: Record<string, any>;
beforeAll(async () => {
  emu = await testEmulator({
    tls: true,
    clock,
    functions: {
      'paid-hook': async (event) => {
        hookCalls.push((event as { order: { out_trade_no: string } }).order.out_trade_no);
        return hookAnswer;
      },
    },
  });
  baseConfig = (await emu.db('config', 'payment'))!;
});
afterAll(() => emu.stop());
beforeEach(async () => {
  // Each test sees only its own payments: reconcile looks at every open document in the store.
  for (const coll of ['pay_orders', 'pay_refunds', 'pay_cache']) {
    for (let docs = await emu.store.find<{ _id: string }>(coll, {}); docs.length; docs = await emu.store.find<{ _id: string }>(coll, {})) {
      for (const d of docs) await emu.store.remove(coll, d._id);
    }
  }
  hookCalls.length = 0;
  hookAnswer = { ok: true };
});
afterEach(async () => {
  emu.sandboxes['wechatpay-v2'].setFault(null);
  await emu.put('config', 'payment', baseConfig);
});

const TRUSTED = { source: 'wx_client,scf' };
const LOST = 'http://127.0.0.1:9/nowhere';
const MINUTE = 60_000;
const sandbox = () => emu.sandboxes['wechatpay-v2'];
const useConfig = (patch: Record<string, unknown>) => emu.put('config', 'payment', { ...baseConfig, ...patch });

let seq = 0;
/** An order for a fresh business order, through unifiedorder. */
async function order(amount = 300, openid = 'o-recon') {
  const id = `recon-${++seq}`;
  await emu.put('orders', id, { _openid: openid, amount, status: 'unpaid' });
  const r = await emu.fn('pay', { action: 'unifiedorder', order_id: id }, { openid, appid: DEMO_APPID });
  expect(r.ok).toBe(true);
  return { bizId: id, no: r.data.out_trade_no as string };
}
const pay = (no: string) => emu.post('/sandbox/wechatpay-v2/pay', { out_trade_no: no, mch_id: DEMO_MCHID });
const completeRefund = (no: string) => emu.post('/sandbox/wechatpay-v2/refund', { out_refund_no: no, mch_id: DEMO_MCHID });
/** An order the payer paid at the provider, whose notification never arrived (its notify_url leads nowhere). */
async function lostPayment(amount = 300) {
  await useConfig({ notify_url: LOST });
  const o = await order(amount);
  expect((await pay(o.no)).status).toBe(500);
  expect((await emu.db('pay_orders', o.no)).status).toBe('CREATED');
  await useConfig({});
  return o;
}
const reconcile = (input: Record<string, unknown> = {}) => emu.fn('pay', { action: 'reconcile', spacing_ms: 0, ...input }, TRUSTED);
const timerEvent = { Type: 'Timer', TriggerName: 'reconcile', Time: '2026-11-22T04:00:00Z' };
const zero = { examined: 0, changed: 0, failed: 0 };

describe('who may run it', () => {
  it('a client gets FORBIDDEN naming who may call it', async () => {
    const r = await emu.fn('pay', { action: 'reconcile' }, { openid: 'o-recon', appid: DEMO_APPID });
    expect(r.error.code).toBe('FORBIDDEN');
    expect(r.error.message).toContain('timer trigger');
    expect(r.error.message).toContain('another cloud function');
  });

  it('a client sending a timer-shaped event is refused the same way', async () => {
    expect(((await emu.fn('pay', timerEvent, { openid: 'o-recon' })) as any).error.code).toBe('FORBIDDEN');
  });

  it('refuses a budget longer than the function may run, and unknown fields', async () => {
    expect((await reconcile({ budget_ms: 60_000 })).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('budget_ms') });
    expect((await reconcile({ limit: 5 })).error.message).toContain('limit is not a known field');
  });
});

describe('payments whose notification was lost', () => {
  it('the timer trigger runs it: a paid order becomes PAID with its hook run; a young order is left alone', async () => {
    await useConfig({ on_paid: { set_status: 'paid', call_function: 'paid-hook' } });
    const old = await lostPayment();
    clock.advance(6 * MINUTE);
    await useConfig({ notify_url: LOST });
    const young = await order();
    await pay(young.no); // paid too, but its notification may still come: not reconcile's yet
    await useConfig({ on_paid: { set_status: 'paid', call_function: 'paid-hook' } });

    const r: any = await emu.invoke('pay', timerEvent, { SOURCE: 'wx_trigger' });
    expect(r.ok).toBe(true);
    expect(r.data).toMatchObject({ stopped_early: false, steps: { payments: { examined: 1, changed: 1, failed: 0 }, refunds: zero, hooks: zero, settlements: zero } });
    expect(r.data.next).toBeUndefined();
    expect(await emu.db('pay_orders', old.no)).toMatchObject({ status: 'PAID', transaction_id: expect.stringMatching(/^4200/), hooks: { on_paid: { state: 'done', attempts: 1 } } });
    expect((await emu.db('orders', old.bizId)).status).toBe('paid');
    expect(hookCalls).toEqual([old.no]);
    expect((await emu.db('pay_orders', young.no)).status).toBe('CREATED');
    expect((await emu.db('orders', young.bizId)).status).toBe('unpaid');
    const summary = emu.log.lines!.filter((l) => l.includes('"reconcile: payments'));
    expect(JSON.parse(summary[summary.length - 1]).msg).toMatch(/^reconcile: payments 1\/1\/0, refunds 0\/0\/0, hooks 0\/0\/0, settlements 0\/0\/0 \(examined\/changed\/failed\) in \d+ ms$/);
  });

  it('an expired unpaid order is closed at the provider and here', async () => {
    const { no } = await order();
    clock.advance(31 * MINUTE); // order_expire_minutes is 30
    const r = await reconcile();
    expect(r.data.steps.payments).toEqual({ examined: 1, changed: 1, failed: 0 });
    expect((await emu.db('pay_orders', no)).status).toBe('CLOSED');
    expect(sandbox().order(DEMO_MCHID, no)!.state).toBe('CLOSED');
  });

  it('an unpaid order not yet expired is asked about and left CREATED', async () => {
    const { no } = await order();
    clock.advance(6 * MINUTE);
    const r = await reconcile();
    expect(r.data.steps.payments).toEqual({ examined: 1, changed: 0, failed: 0 });
    expect((await emu.db('pay_orders', no)).status).toBe('CREATED');
    expect(sandbox().order(DEMO_MCHID, no)!.state).toBe('NOTPAY');
  });

  it('one order whose provider call fails, or whose config is gone, does not stop the others', async () => {
    const orders = [await lostPayment(), await lostPayment(), await lostPayment()];
    const orphan = { ...(await emu.db('pay_orders', orders[2].no)), out_trade_no: 'ORPHAN000001', config_id: 'payment_wxgone' };
    delete orphan._id;
    await emu.store.insert('pay_orders', 'ORPHAN000001', orphan);
    clock.advance(6 * MINUTE);
    sandbox().setFault('5xx', 1);
    const r = await reconcile();
    expect(r.data.steps.payments).toEqual({ examined: 4, changed: 2, failed: 2 });
    const statuses = await Promise.all(orders.map(async (o) => (await emu.db('pay_orders', o.no)).status));
    expect(statuses.filter((s) => s === 'PAID')).toHaveLength(2);
    expect((await emu.db('pay_orders', 'ORPHAN000001')).status).toBe('CREATED');
    const lines = emu.log.lines!.map((l) => JSON.parse(l));
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', code: 'PROVIDER_UNAVAILABLE', step: 'payments' }));
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', code: 'CONFIG_MISSING', id: 'ORPHAN000001' }));

    const again = await reconcile();
    expect(again.data.steps.payments).toEqual({ examined: 2, changed: 1, failed: 1 }); // the orphan still has no config
    for (const o of orders) expect((await emu.db('pay_orders', o.no)).status).toBe('PAID');
  });
});

describe('refunds, hooks and settlements', () => {
  it('a refund whose notification was lost is completed; a second run changes nothing and refunds nothing again', async () => {
    const { no } = await order(400);
    await pay(no);
    const lostPay = await lostPayment(200);
    await useConfig({ notify_url: LOST });
    const rf = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 100 }, TRUSTED);
    expect(rf.data.status).toBe('PROCESSING');
    expect((await completeRefund(rf.data.out_refund_no)).status).toBe(500); // refunded, but the notification is lost
    expect((await emu.db('pay_refunds', rf.data.out_refund_no)).status).toBe('PROCESSING');
    await useConfig({});
    clock.advance(6 * MINUTE);

    const first = await reconcile();
    expect(first.data.steps).toEqual({ payments: { examined: 1, changed: 1, failed: 0 }, refunds: { examined: 1, changed: 1, failed: 0 }, hooks: zero, settlements: zero });
    expect((await emu.db('pay_refunds', rf.data.out_refund_no)).status).toBe('SUCCESS');
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'PARTIALLY_REFUNDED', refunded_amount: 100, refunding: null });
    expect((await emu.db('pay_orders', lostPay.no)).status).toBe('PAID');

    const before = { order: await emu.db('pay_orders', no), other: await emu.db('pay_orders', lostPay.no) };
    const second = await reconcile();
    expect(second.data).toMatchObject({ stopped_early: false, steps: { payments: zero, refunds: zero, hooks: zero, settlements: zero } });
    expect({ order: await emu.db('pay_orders', no), other: await emu.db('pay_orders', lostPay.no) }).toEqual(before);
    expect(sandbox().order(DEMO_MCHID, no)!.refunded).toBe(100);
  });

  it('a failed hook is run again; one whose runner died is taken over; one still running is left to its runner', async () => {
    await useConfig({ on_paid: { call_function: 'paid-hook' } });
    hookAnswer = { ok: false, error: { code: 'INTERNAL', message: 'db down' } };
    const failed = await order();
    await pay(failed.no);
    expect((await emu.db('pay_orders', failed.no)).hooks.on_paid).toMatchObject({ state: 'failed', attempts: 1 });
    hookAnswer = { ok: true };
    const died = await order();
    const live = await order();
    for (const o of [died, live]) await pay(o.no);
    const now = clock.now();
    await emu.put('pay_orders', died.no, { ...(await emu.db('pay_orders', died.no)), hooks: { on_paid: { state: 'running', attempts: 1, lease_until: now + 2 * MINUTE } } });
    clock.advance(6 * MINUTE);
    await emu.put('pay_orders', live.no, { ...(await emu.db('pay_orders', live.no)), hooks: { on_paid: { state: 'running', attempts: 1, lease_until: clock.now() + MINUTE } } });
    hookCalls.length = 0;

    const r = await reconcile();
    expect(r.data.steps.hooks).toEqual({ examined: 3, changed: 2, failed: 0 });
    expect((await emu.db('pay_orders', failed.no)).hooks.on_paid).toEqual({ state: 'done', attempts: 2 });
    expect((await emu.db('pay_orders', died.no)).hooks.on_paid).toEqual({ state: 'done', attempts: 2 });
    expect((await emu.db('pay_orders', live.no)).hooks.on_paid).toMatchObject({ state: 'running', attempts: 1 });
    expect(hookCalls.sort()).toEqual([failed.no, died.no].sort());

    hookAnswer = { ok: false, error: { code: 'INTERNAL', message: 'still down' } };
    clock.advance(2 * MINUTE); // the live runner's lease has run out
    const later = await reconcile();
    expect(later.data.steps.hooks).toEqual({ examined: 1, changed: 0, failed: 1 });
    expect((await emu.db('pay_orders', live.no)).hooks.on_paid).toMatchObject({ state: 'failed', attempts: 2 });
  });

  it('an order left REFUNDING after its refund ended is settled, and the refund is not sent again', async () => {
    const { no } = await order(300);
    await pay(no);
    const r = await emu.fn('pay', { action: 'refund', out_trade_no: no, amount: 300 }, TRUSTED);
    await completeRefund(r.data.out_refund_no);
    expect((await emu.db('pay_orders', no)).status).toBe('REFUNDED');
    // As if the run that applied the notification stopped between the refund record and the order:
    await emu.put('pay_orders', no, { ...(await emu.db('pay_orders', no)), status: 'REFUNDING', refunded_amount: 0, refunding: { out_refund_no: r.data.out_refund_no, amount: 300 } });
    clock.advance(6 * MINUTE);
    const run = await reconcile();
    expect(run.data.steps).toMatchObject({ refunds: zero, settlements: { examined: 1, changed: 1, failed: 0 } });
    expect(await emu.db('pay_orders', no)).toMatchObject({ status: 'REFUNDED', refunded_amount: 300, refunding: null });
    expect(sandbox().order(DEMO_MCHID, no)!.refunded).toBe(300);
  });
});

describe('budget and paging', () => {
  it('a budget of 0 stops before any work and says so; a budget the spacing cannot fit stops after one query', async () => {
    const a = await lostPayment();
    clock.advance(1000); // a is the oldest
    const b = await lostPayment();
    clock.advance(6 * MINUTE);

    const none = await reconcile({ budget_ms: 0 });
    expect(none.data).toMatchObject({ stopped_early: true, steps: { payments: zero, refunds: zero, hooks: zero, settlements: zero } });
    expect(none.data.next).toEqual({ step: 'payments', steps_left: ['payments', 'refunds', 'hooks', 'settlements'] });
    expect((await emu.db('pay_orders', a.no)).status).toBe('CREATED');

    const one = await reconcile({ budget_ms: 2000, spacing_ms: 5000 });
    expect(one.data.stopped_early).toBe(true);
    expect(one.data.steps.payments).toEqual({ examined: 1, changed: 1, failed: 0 });
    const first = await emu.db('pay_orders', a.no);
    expect(first.status).toBe('PAID');
    expect((await emu.db('pay_orders', b.no)).status).toBe('CREATED');
    expect(one.data.next).toEqual({ step: 'payments', after: { field: 'created_at', value: first.created_at }, steps_left: ['payments', 'refunds', 'hooks', 'settlements'] });
    const line = emu.log.lines!.filter((l) => l.includes('"reconcile: payments')).pop()!;
    expect(JSON.parse(line)).toMatchObject({ level: 'info', stopped_early: true, msg: expect.stringContaining('budget spent in payments') });

    const rest = await reconcile();
    expect(rest.data).toMatchObject({ stopped_early: false, steps: { payments: { examined: 1, changed: 1, failed: 0 } } });
    expect(rest.data.next).toBeUndefined();
    expect((await emu.db('pay_orders', b.no)).status).toBe('PAID');
  });

  it('pages through more than 100 eligible orders in one run, 100 at a time, ties on created_at included', async () => {
    await useConfig({ amount_source: 'client', notify_url: LOST });
    const numbers: string[] = [];
    for (let batch = 0; batch < 6; batch++) {
      const made = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          emu.invoke('pay', { action: 'unifiedorder', amount: 10 + batch * 20 + i }, { OPENID: 'o-many', APPID: DEMO_APPID, SOURCE: 'wx_client' }),
        ),
      );
      numbers.push(...made.map((r: any) => r.data.out_trade_no as string));
    }
    const paidAtProvider = numbers.filter((_, i) => i % 2 === 0);
    await Promise.all(paidAtProvider.map((no) => pay(no)));
    await useConfig({ amount_source: 'client' });
    clock.advance(6 * MINUTE); // all 120 share one created_at: the page boundary falls inside a tie

    const finds: number[] = [];
    const find = emu.store.find.bind(emu.store);
    emu.store.find = (async (coll: string, where: any, opts: any) => {
      const docs = await find(coll, where, opts);
      if (coll === 'pay_orders' && where.status === 'CREATED') finds.push(docs.length);
      return docs;
    }) as typeof emu.store.find;
    let r: any;
    try {
      r = await reconcile();
    } finally {
      emu.store.find = find;
    }
    // Half stay CREATED (unpaid), so the second page must step past the first page's ids, not repeat them.
    expect(r.data).toMatchObject({ stopped_early: false, steps: { payments: { examined: 120, changed: 60, failed: 0 } } });
    expect(finds).toEqual([100, 20]);
    const statuses = await Promise.all(numbers.map(async (no) => (await emu.db('pay_orders', no)).status));
    expect(statuses).toEqual(numbers.map((_, i) => (i % 2 === 0 ? 'PAID' : 'CREATED')));
  });
});

describe('fairness', () => {
  it('a backlog of open orders neither starves the other steps nor pins every run to the oldest orders', async () => {
    await useConfig({ on_paid: { call_function: 'paid-hook' } });
    for (let i = 0; i < 12; i++) await order(100 + i);
    hookAnswer = { ok: false };
    const paid = await order(77);
    await pay(paid.no);
    expect((await emu.db('pay_orders', paid.no)).hooks.on_paid.state).toBe('failed');
    hookAnswer = { ok: true };
    clock.advance(10 * MINUTE);

    // Room for about one query per share: the payments backlog cannot take the whole run.
    const first = await reconcile({ budget_ms: 1200, spacing_ms: 250 });
    expect(first.data.stopped_early).toBe(true);
    expect(first.data.steps.hooks.changed).toBe(1);
    expect((await emu.db('pay_orders', paid.no)).hooks.on_paid.state).toBe('done');
    expect(first.data.steps.payments.examined).toBeGreaterThan(0);
    expect(first.data.steps.payments.examined).toBeLessThan(12);

    // The next run starts where this one stopped, not at the oldest order again.
    const after1 = (await emu.store.get<any>('pay_cache', 'reconcile:payments')).value;
    const second = await reconcile({ budget_ms: 1200, spacing_ms: 250 });
    expect(second.data.steps.payments.examined).toBeGreaterThan(0);
    const after2 = (await emu.store.get<any>('pay_cache', 'reconcile:payments')).value;
    // All twelve share one created_at here: progress shows as more ids passed at that value.
    expect(after2.value).toBe(after1.value);
    expect(after2.ids.length).toBeGreaterThan(after1.ids.length);
    expect(after1.ids.every((id: string) => after2.ids.includes(id))).toBe(true);
  });
});
