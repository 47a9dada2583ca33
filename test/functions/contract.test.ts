/**
 * `contract` end to end through the emulator against the UnionPay sandbox: signing (the signing page's
 * redirect, code exchange, contract.apply), status under UnionPay's 5-minute contract.info cache, charges
 * with their limits, RSA-signed payment and termination notifications at `/http/notify/unionpay`, queries
 * kept to the 5-minute rule and spaced, and an expired backendToken mid-flow. A hand-moved clock drives the
 * functions and the sandbox alike.
 */
import { generateKeyPairSync } from 'crypto';
import { manualClock } from '../../shared/core/clock';
import { unionpaySign } from '../../shared/providers/unionpay/sign';
import { testEmulator, type TestEmulator } from '../support/emu';

let emu: TestEmulator;
let cfg: Record<string, any>;
const clock = manualClock(Date.UTC(2026, 5, 1, 2, 0, 0)); // 10:00 in China: one China-time day for the whole file
const TRUSTED = { source: 'wx_client,scf' };
const MIN = 60_000;

beforeAll(async () => {
  emu = await testEmulator({ clock });
  cfg = (await emu.db('config', 'contract'))!;
});
afterAll(() => emu.stop());

const up = () => emu.sandboxes.unionpay;
const appId = () => cfg.test.app_id as string;
const contractFn = (event: Record<string, unknown>, ctx: Record<string, string> = {}) => emu.fn('contract', event, ctx);
const order = (no: string) => emu.db('pay_orders', no);
const unionpayOrders = () => emu.store.find<any>('pay_orders', { provider: 'unionpay' });
const events = () => emu.store.find<any>('pay_events', { provider: 'unionpay' }, { orderBy: ['received_at', 'asc'] });

let users = 0;
/** sign_url → the signing page (the sandbox user signs and is redirected) → apply. */
async function signed(openid = `o-user-${++users}`) {
  const s = await contractFn({ action: 'sign_url' }, { openid });
  expect(s.ok).toBe(true);
  const res = await fetch(`${s.data.url}&user=up-${openid}`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const back = new URL(res.headers.get('location')!);
  expect(`${back.origin}${back.pathname}`).toBe(cfg.test.redirect_uri);
  const r = await contractFn({ action: 'apply', code: back.searchParams.get('code'), state: back.searchParams.get('state') }, { openid });
  expect(r).toMatchObject({ ok: true, data: { status: 'SIGNED', contract_code: s.data.contract_code } });
  return { openid, code: s.data.contract_code as string, contractId: r.data.contract_id as string };
}

async function notify(body: string) {
  const res = await fetch(`${emu.url}/http/notify/unionpay`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, body: await res.text() };
}

it('signs, charges, is paid by the signed notification exactly once, and keeps status to the 5-minute cache', async () => {
  const { openid, code, contractId } = await signed();
  expect(contractId).toMatch(/^CT/);
  expect((await contractFn({ action: 'list' }, { openid })).data.contracts).toEqual([expect.objectContaining({ contract_code: code, status: 'SIGNED' })]);

  // status: one contract.info, then cached for 5 minutes.
  const infos = up().infoCalls();
  expect(await contractFn({ action: 'status', contract_code: code }, { openid })).toMatchObject({ ok: true, data: { status: 'SIGNED', cached: false } });
  expect(await contractFn({ action: 'status', contract_code: code }, { openid })).toMatchObject({ ok: true, data: { cached: true } });
  expect(up().infoCalls() - infos).toBe(1);

  const c = await contractFn({ action: 'pay', contract_code: code, amount: 300 }, TRUSTED);
  expect(c).toMatchObject({ ok: true, data: { status: 'PENDING', amount: 300, provider: 'unionpay' } });
  const no = c.data.out_trade_no as string;
  expect(await order(no)).toMatchObject({ status: 'CREATED', provider: 'unionpay', contract_id: contractId, amount: 300 });

  const paid = await emu.post('/sandbox/unionpay/pay', { orderId: no });
  expect(paid.body.delivery).toMatchObject({ status: 200, body: '{"resp":"00"}' });
  expect(await order(no)).toMatchObject({ status: 'PAID' });
  const ev = (await events()).filter((e) => e.out_trade_no === no);
  expect(ev).toHaveLength(1);
  expect(ev[0].outcome).toBe('applied');
  // accNo arrived 3DES-encrypted: it is decrypted, and only its masked form is recorded.
  expect(JSON.parse(ev[0].fields).accNo).toBe('************1234');

  // The same notification again: acknowledged, recorded as a duplicate, nothing changes.
  const before = await order(no);
  expect(await notify(paid.body.form)).toEqual({ status: 200, body: '{"resp":"00"}' });
  expect(await order(no)).toEqual(before);
  // (The hand-moved clock gives both the same received_at: compared as a set.)
  expect((await events()).filter((e) => e.out_trade_no === no).map((e) => e.outcome).sort()).toEqual(['applied', 'duplicate']);
  expect(await contractFn({ action: 'query', out_trade_no: no }, TRUSTED)).toMatchObject({ ok: true, data: { status: 'PAID' } });
  expect(up().queryTimes(no)).toEqual([]);
});

it('a client may charge only when the config says so, and only its own contract', async () => {
  const a = await signed();
  const b = await signed();
  expect(await contractFn({ action: 'pay', contract_code: a.code, amount: 1 }, { openid: a.openid })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
  await emu.put('config', 'contract', { ...cfg, client_may_charge: true });
  try {
    const before = (await unionpayOrders()).length;
    for (const action of ['pay', 'status', 'relieve']) {
      const r = await contractFn({ action, contract_code: a.code, ...(action === 'pay' ? { amount: 1 } : {}) }, { openid: b.openid });
      expect(r).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
    expect((await unionpayOrders()).length).toBe(before);
    expect(await emu.db('pay_contracts', a.code)).toMatchObject({ status: 'SIGNED' });
    expect(await contractFn({ action: 'pay', contract_code: b.code, amount: 2 }, { openid: b.openid })).toMatchObject({ ok: true, data: { status: 'PENDING' } });
    // Nobody else's contracts in the list.
    expect((await contractFn({ action: 'list' }, { openid: b.openid })).data.contracts.map((x: any) => x.contract_code)).toEqual([b.code]);
  } finally {
    await emu.put('config', 'contract', cfg);
  }
});

it('per-payment and per-day limits are checked before UnionPay is asked; a failed charge gives its amount back', async () => {
  const { code } = await signed();
  const before = (await unionpayOrders()).length;
  const over = await contractFn({ action: 'pay', contract_code: code, amount: 5001 }, TRUSTED);
  expect(over).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('per-payment limit of 5000') } });
  expect((await unionpayOrders()).length).toBe(before);

  const one = await contractFn({ action: 'pay', contract_code: code, amount: 5000 }, TRUSTED);
  const two = await contractFn({ action: 'pay', contract_code: code, amount: 5000 }, TRUSTED);
  expect([one.ok, two.ok]).toEqual([true, true]);
  const third = await contractFn({ action: 'pay', contract_code: code, amount: 1 }, TRUSTED);
  expect(third).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('per-day limit of 10000') } });
  expect((await unionpayOrders()).length).toBe(before + 2);

  // UnionPay reports one charge failed: it is FAILED and its 5000 may be charged again today.
  await emu.post('/sandbox/unionpay/pay', { orderId: two.data.out_trade_no, result: 'fail' });
  expect(await order(two.data.out_trade_no)).toMatchObject({ status: 'FAILED', resp_code: '11' });
  expect(await contractFn({ action: 'pay', contract_code: code, amount: 5000 }, TRUSTED)).toMatchObject({ ok: true });
});

it('a relieved contract cannot be charged; the charge never reaches UnionPay', async () => {
  const { openid, code, contractId } = await signed();
  expect(await contractFn({ action: 'relieve', contract_code: code }, { openid })).toMatchObject({ ok: true, data: { status: 'RELIEVED', relieved_by: 'merchant' } });
  expect(up().contractStatus(contractId)).toBe('3');
  const before = (await unionpayOrders()).length;
  expect(await contractFn({ action: 'pay', contract_code: code, amount: 1 }, TRUSTED)).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('RELIEVED') } });
  expect((await unionpayOrders()).length).toBe(before);
});

it('forged and amount-mismatched notifications change nothing and are answered so UnionPay retries', async () => {
  const { code } = await signed();
  const no = (await contractFn({ action: 'pay', contract_code: code, amount: 700 }, TRUSTED)).data.out_trade_no as string;
  const before = await order(no);

  // Signed with a key that is not UnionPay's.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const fields = { appId: appId(), orderId: no, txnTime: before.txn_time, txnAmt: '700', currencyCode: '156', respCode: '00', contractId: before.contract_id };
  const forged = new URLSearchParams({ ...fields, signature: unionpaySign(fields, privateKey) }).toString();
  expect((await notify(forged)).status).toBe(500);
  // Unsigned, and malformed.
  expect((await notify(new URLSearchParams(fields).toString())).status).toBe(500);
  expect((await notify('')).status).toBe(500);

  // Genuinely signed by UnionPay but about another amount.
  const wrong = await emu.post('/sandbox/unionpay/pay', { orderId: no, txnAmt: '1' });
  expect(wrong.body.delivery.status).toBe(500);
  expect(await order(no)).toEqual(before);
  const rejected = (await events()).filter((e) => e.outcome === 'rejected').map((e) => e.reason);
  expect(rejected).toEqual(expect.arrayContaining([expect.stringContaining('signature'), expect.stringContaining('amount 1 differs')]));

  // The true notification still applies.
  await emu.post('/sandbox/unionpay/pay', { orderId: no });
  expect(await order(no)).toMatchObject({ status: 'PAID' });
});

it('a termination notice relieves the contract once; one for an unknown contract changes nothing', async () => {
  const { openid, code, contractId } = await signed();
  const t = await emu.post('/sandbox/unionpay/terminate', { contractId });
  expect(t.body.delivery).toMatchObject({ status: 200, body: '{"resp":"00"}' });
  expect(await emu.db('pay_contracts', code)).toMatchObject({ status: 'RELIEVED', relieved_by: 'user' });
  expect(await notify(t.body.form)).toEqual({ status: 200, body: '{"resp":"00"}' });
  expect((await contractFn({ action: 'list' }, { openid })).data.contracts[0]).toMatchObject({ status: 'RELIEVED' });

  const contractsBefore = JSON.stringify(await emu.store.find('pay_contracts', {}, { orderBy: ['_id', 'asc'] }));
  const unknown = await emu.post('/sandbox/unionpay/terminate', { contractId: 'CTnotours', appId: appId() });
  expect(unknown.body.delivery.status).toBe(500);
  expect(JSON.stringify(await emu.store.find('pay_contracts', {}, { orderBy: ['_id', 'asc'] }))).toBe(contractsBefore);
  expect((await events()).filter((e) => e.dedupe_key === 'unionpay:relieve:CTnotours')).toEqual([expect.objectContaining({ outcome: 'rejected', reason: 'unknown contract' })]);
});

it('query: refused in the first 5 minutes, then spaced; reconcile keeps the same rules; pay refuses the order', async () => {
  const { openid, code } = await signed();
  const no = (await contractFn({ action: 'pay', contract_code: code, amount: 100 }, TRUSTED)).data.out_trade_no as string;

  const early = await contractFn({ action: 'query', out_trade_no: no }, { openid });
  expect(early).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('5 minutes') } });
  expect((await contractFn({ action: 'reconcile', spacing_ms: 0 }, TRUSTED)).data.examined).toBe(0);
  expect(up().queryTimes(no)).toHaveLength(0);

  clock.advance(5 * MIN);
  expect(await contractFn({ action: 'query', out_trade_no: no }, { openid })).toMatchObject({ ok: true, data: { status: 'PENDING' } });
  expect(up().queryTimes(no)).toHaveLength(1);
  // Right after: refused, and reconcile does not ask either.
  expect(await contractFn({ action: 'query', out_trade_no: no }, { openid })).toMatchObject({ ok: false, error: { code: 'CONFLICT', message: expect.stringContaining('queried recently') } });
  await contractFn({ action: 'reconcile', spacing_ms: 0 }, TRUSTED);
  clock.advance(9 * MIN);
  await contractFn({ action: 'reconcile', spacing_ms: 0 }, TRUSTED);
  expect(up().queryTimes(no)).toHaveLength(1);

  // pay does not act on it, and pay's own reconcile leaves it alone.
  const viaPay = await emu.fn('pay', { action: 'queryorder', out_trade_no: no }, { openid });
  expect(viaPay).toMatchObject({ ok: false, error: { code: 'NOT_SUPPORTED', message: expect.stringContaining('contract function') } });
  for (const action of ['closeorder', 'refund']) {
    expect(await emu.fn('pay', { action, out_trade_no: no }, TRUSTED)).toMatchObject({ ok: false, error: { code: 'NOT_SUPPORTED' } });
  }
  await emu.fn('pay', { action: 'reconcile', older_than_minutes: 0, spacing_ms: 0 }, TRUSTED);
  expect(await order(no)).toMatchObject({ status: 'CREATED' });

  // 10 minutes after the first query, reconcile asks once more; UnionPay has settled it meanwhile.
  await emu.post('/sandbox/unionpay/pay', { orderId: no, txnAmt: '1' }); // a notification that is rejected: only the query can settle it
  clock.advance(1 * MIN);
  // (Charges of the earlier tests are due too: reconcile examines every due one.)
  expect((await contractFn({ action: 'reconcile', spacing_ms: 0 }, TRUSTED)).data.changed).toBeGreaterThanOrEqual(1);
  expect(up().queryTimes(no)).toHaveLength(2);
  const times = up().queryTimes(no);
  expect(times[1] - times[0]).toBeGreaterThanOrEqual(10 * MIN);
  expect(await order(no)).toMatchObject({ status: 'PAID' });
});

it('an expired backendToken mid-flow is replaced once and the call retried', async () => {
  const { code } = await signed();
  const fetches = up().tokenFetches(appId());
  await emu.post('/sandbox/unionpay/expire-tokens', { appId: appId() });
  const r = await contractFn({ action: 'pay', contract_code: code, amount: 5 }, TRUSTED);
  expect(r).toMatchObject({ ok: true, data: { status: 'PENDING' } });
  expect(up().tokenFetches(appId()) - fetches).toBe(1);
  // The charge reached UnionPay exactly once under the new token: it can be notified.
  expect((await emu.post('/sandbox/unionpay/pay', { orderId: r.data.out_trade_no })).body.delivery.status).toBe(200);
});

it('bad input names what to fix; apply refuses a state it did not hand the caller', async () => {
  expect(await contractFn({ action: 'pay', contract_code: 'x', amount: 1.5 }, TRUSTED)).toMatchObject({ ok: false, error: { code: 'INVALID_INPUT', message: expect.stringContaining('amount') } });
  expect(await contractFn({ action: 'nope' })).toMatchObject({ ok: false, error: { code: 'UNKNOWN_ACTION', message: expect.stringContaining('sign_url') } });
  const s = await contractFn({ action: 'sign_url' }, { openid: 'o-victim' });
  const r = await contractFn({ action: 'apply', code: 'abc', state: s.data.state }, { openid: 'o-attacker' });
  expect(r).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  expect(await emu.db('pay_contracts', s.data.contract_code)).toMatchObject({ status: 'PENDING', owner_openid: 'o-victim' });
});

it('status learns from contract.info, no more than once per 5 minutes, that the user relieved the contract in the app', async () => {
  const { openid, code, contractId } = await signed();
  expect(await contractFn({ action: 'status', contract_code: code }, { openid })).toMatchObject({ ok: true, data: { status: 'SIGNED', cached: false } });
  // Terminated at UnionPay, and the notice never arrived.
  await emu.post('/sandbox/unionpay/terminate', { contractId, deliver: false });
  const infos = up().infoCalls();
  clock.advance(4 * MIN);
  expect(await contractFn({ action: 'status', contract_code: code }, { openid })).toMatchObject({ ok: true, data: { status: 'SIGNED', cached: true } });
  expect(up().infoCalls()).toBe(infos);
  clock.advance(1 * MIN);
  expect(await contractFn({ action: 'status', contract_code: code }, { openid })).toMatchObject({ ok: true, data: { status: 'RELIEVED', relieved_by: 'unionpay', cached: false } });
  expect(up().infoCalls()).toBe(infos + 1);
});

it('a refused charge fails and gives its amount back; one answered too late stays PENDING and its retry is the same charge', async () => {
  const { code } = await signed();
  await emu.post('/sandbox/unionpay/faults', { mode: 'refuse' });
  const rno = `R${Date.now()}x1`;
  const refused = await contractFn({ action: 'pay', contract_code: code, amount: 4000, out_trade_no: rno }, TRUSTED);
  expect(refused).toMatchObject({ ok: false, error: { code: 'PROVIDER_REJECTED', provider_code: 'CT0009' } });
  expect(await order(rno)).toMatchObject({ status: 'FAILED', resp_code: 'CT0009' });
  expect(await emu.db('pay_contracts', code)).toMatchObject({ spent_amount: 0 });

  await emu.post('/sandbox/unionpay/faults', { mode: 'timeout' });
  const no = `T${Date.now()}x2`;
  const late = await contractFn({ action: 'pay', contract_code: code, amount: 4000, out_trade_no: no }, TRUSTED);
  expect(late).toMatchObject({ ok: true, data: { status: 'PENDING', out_trade_no: no } });
  expect(up().charge(no)).toBeDefined(); // UnionPay took it; we never heard
  const first = await order(no);
  const again = await contractFn({ action: 'pay', contract_code: code, amount: 4000, out_trade_no: no }, TRUSTED);
  expect(again).toMatchObject({ ok: true, data: { status: 'PENDING' } });
  const after = await order(no);
  expect(after).toMatchObject({ sends: 2, txn_time: first.txn_time, accepted_at: expect.any(Number) });
  expect(await emu.db('pay_contracts', code)).toMatchObject({ spent_amount: 4000 }); // reserved once
  // Another amount under the same number is refused.
  expect(await contractFn({ action: 'pay', contract_code: code, amount: 1, out_trade_no: no }, TRUSTED)).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });

  // UnionPay first reports it failed, then paid after all: the money was taken, so it ends PAID and counts.
  await emu.post('/sandbox/unionpay/pay', { orderId: no, result: 'fail' });
  expect(await order(no)).toMatchObject({ status: 'FAILED' });
  expect(await emu.db('pay_contracts', code)).toMatchObject({ spent_amount: 0 });
  await emu.post('/sandbox/unionpay/pay', { orderId: no });
  expect(await order(no)).toMatchObject({ status: 'PAID' });
  expect(await emu.db('pay_contracts', code)).toMatchObject({ spent_amount: 4000 });
});
