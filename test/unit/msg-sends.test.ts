/**
 * The msg_sends record under attempts that overlap: an attempt that outlived its lease and delivered the
 * message still records the delivery, and nothing a later attempt reports can hide it.
 */
import { localStore } from '../../shared/runtime/local';
import { claimSend, finishSend, MSG_SENDS, SEND_LEASE_MS, type MsgSend, type NewSend } from '../../shared/store/msg-sends';

const rec: NewSend = {
  client_msg_id: 'm-1',
  template: 'system_message',
  channel: 'subscribe',
  template_id: 'tpl',
  to: 'o-user-1',
  data: { thing1: 'Hello' },
  content_hash: 'h-1',
  sent_by: { source: 'wx_client,scf' },
};

test('a slow first attempt that delivered is recorded as sent, whatever the attempt that took over reports', async () => {
  const store = localStore();
  const t0 = 1_000_000;
  const first = await claimSend(store, rec, t0);
  expect(first).toEqual({ claimed: true, attempt: 1 });
  // Its lease runs out while it still waits for WeChat; a retry takes the send over.
  const second = await claimSend(store, rec, t0 + SEND_LEASE_MS + 1);
  expect(second).toEqual({ claimed: true, attempt: 2 });
  // The first attempt's answer arrives: delivered.
  expect(await finishSend(store, 'm-1', 1, { status: 'sent', updated_at: t0 + SEND_LEASE_MS + 2, sent_at: t0 + SEND_LEASE_MS + 2, error: null })).toBe(true);
  // The second is refused (the one-time credit was used by the first): it must not overwrite the delivery.
  expect(await finishSend(store, 'm-1', 2, { status: 'failed', updated_at: t0 + SEND_LEASE_MS + 3, error: { code: 'PROVIDER_REJECTED', provider_code: '43101', message: 'refused' }, retryable: false })).toBe(false);
  expect(await store.get<MsgSend>(MSG_SENDS, 'm-1')).toMatchObject({ status: 'sent', sent_at: t0 + SEND_LEASE_MS + 2, error: null, lease_until: 0 });
  // And it is never sent a third time.
  expect(await claimSend(store, rec, t0 + 10 * SEND_LEASE_MS)).toMatchObject({ claimed: false, existing: { status: 'sent' } });
});

test('a failure of an attempt that lost its lease changes nothing', async () => {
  const store = localStore();
  await claimSend(store, { ...rec, client_msg_id: 'm-2' }, 0);
  await claimSend(store, { ...rec, client_msg_id: 'm-2' }, SEND_LEASE_MS + 1);
  expect(await finishSend(store, 'm-2', 1, { status: 'failed', updated_at: SEND_LEASE_MS + 2, error: { code: 'PROVIDER_UNAVAILABLE', message: 'timeout' }, retryable: true })).toBe(false);
  expect(await store.get<MsgSend>(MSG_SENDS, 'm-2')).toMatchObject({ status: 'sending', attempts: 2 });
});

describe('other content under the same id (a reused idempotency key)', () => {
  const changed = { ...rec, data: { thing1: 'Changed' }, content_hash: 'h-2' };
  const failedWith = async (id: string, outcome: Partial<MsgSend>) => {
    const store = localStore();
    await claimSend(store, { ...rec, client_msg_id: id }, 0);
    await finishSend(store, id, 1, { status: 'failed', updated_at: 1, retryable: true, ...outcome });
    return store;
  };

  test('takes over a record that was definitely not delivered, with the new content', async () => {
    const store = await failedWith('m-3', { error: { code: 'PROVIDER_REJECTED', provider_code: '45009', message: 'quota' }, outcome: null });
    expect(await claimSend(store, { ...changed, client_msg_id: 'm-3' }, 2)).toEqual({ claimed: true, attempt: 2 });
    expect(await store.get<MsgSend>(MSG_SENDS, 'm-3')).toMatchObject({ status: 'sending', attempts: 2, content_hash: 'h-2', data: { thing1: 'Changed' } });
  });

  test('refuses it when the earlier attempt may have been delivered, was delivered, or is in flight', async () => {
    const unknown = await failedWith('m-4', { error: { code: 'PROVIDER_UNAVAILABLE', message: 'timeout' }, outcome: 'unknown' });
    expect(await claimSend(unknown, { ...changed, client_msg_id: 'm-4' }, 2)).toMatchObject({ claimed: false, existing: { content_hash: 'h-1', outcome: 'unknown' } });

    const store = localStore();
    await claimSend(store, { ...rec, client_msg_id: 'm-5' }, 0);
    expect(await claimSend(store, { ...changed, client_msg_id: 'm-5' }, 1)).toMatchObject({ claimed: false, existing: { status: 'sending' } });
    // A lapsed lease: the attempt may still deliver the first content.
    expect(await claimSend(store, { ...changed, client_msg_id: 'm-5' }, SEND_LEASE_MS + 1)).toMatchObject({ claimed: false, existing: { status: 'sending' } });
    await finishSend(store, 'm-5', 1, { status: 'sent', updated_at: 2, sent_at: 2 });
    expect(await claimSend(store, { ...changed, client_msg_id: 'm-5' }, 3)).toMatchObject({ claimed: false, existing: { status: 'sent', content_hash: 'h-1' } });
  });
});
