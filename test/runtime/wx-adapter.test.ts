import { memoryLogger } from '../../shared/core/logger';
import { wxCloud, wxStore } from '../../shared/runtime/wx';
import { fakeWxSdk } from '../support/fake-wx-sdk';

describe('wxCloud over the fake SDK', () => {
  test('context() reads getWXContext() on every call', () => {
    const sdk = fakeWxSdk();
    const cloud = wxCloud(sdk, { log: memoryLogger() });
    sdk.wxContext = { OPENID: 'o1', APPID: 'wx1', SOURCE: 'wx_client' };
    expect(cloud.context()).toEqual({ OPENID: 'o1', APPID: 'wx1', SOURCE: 'wx_client' });
    sdk.wxContext = { OPENID: 'o2', APPID: 'wx1', SOURCE: 'wx_client,scf' };
    expect(cloud.context()).toMatchObject({ OPENID: 'o2', SOURCE: 'wx_client,scf' });
  });

  test('callFunction passes name and data and returns .result', async () => {
    const sdk = fakeWxSdk();
    sdk.functions.set('echo', (data) => ({ got: data }));
    const cloud = wxCloud(sdk, { log: memoryLogger() });
    expect(await cloud.callFunction('echo', { a: 1 })).toEqual({ got: { a: 1 } });
    await expect(cloud.callFunction('missing', {})).rejects.toMatchObject({ errCode: -501000 });
  });

  test('the database is created on first store use, once, with throwOnNotFound:false', async () => {
    const sdk = fakeWxSdk();
    const log = memoryLogger();
    const cloud = wxCloud(sdk, { log });
    expect(cloud.log).toBe(log);
    expect(sdk.databaseCalls).toEqual([]);
    expect(await cloud.store.insert('orders', 'A', { status: 'CREATED' })).toBe('created');
    expect(await cloud.store.get('orders', 'A')).toEqual({ _id: 'A', status: 'CREATED' });
    expect(await cloud.store.get('orders', 'B')).toBeNull();
    expect(sdk.databaseCalls).toEqual([{ throwOnNotFound: false }]);
  });

  test('a thrown not-found (an SDK that ignores throwOnNotFound:false) becomes null', async () => {
    const sdk = fakeWxSdk({ honourThrowOnNotFound: false });
    // The fake really throws here, so the adapter's mapping is what turns it into null.
    await expect(sdk.database({ throwOnNotFound: false }).collection('orders').doc('X').get()).rejects.toMatchObject({
      errCode: -1,
      errMsg: 'document.get:fail document with _id X does not exist',
    });
    expect(await wxCloud(sdk, { log: memoryLogger() }).store.get('orders', 'X')).toBeNull();
  });

  test('other get errors are rethrown, including errCode -1 errors that are not a missing document', async () => {
    const sdk = fakeWxSdk();
    const store = wxCloud(sdk, { log: memoryLogger() }).store;
    sdk.failWith('document.get', -502003, '[PermissionDenied] permission denied');
    await expect(store.get('orders', 'A')).rejects.toMatchObject({ errCode: -502003 });
    sdk.failWith('document.get', -1, 'socket hang up');
    await expect(store.get('orders', 'A')).rejects.toMatchObject({ errCode: -1, errMsg: 'document.get:fail socket hang up' });
  });

  test('an add error is rethrown when the document is not there afterwards', async () => {
    const sdk = fakeWxSdk();
    const store = wxStore(sdk.database());
    sdk.failWith('collection.add', -502003, '[PermissionDenied] permission denied');
    await expect(store.insert('orders', 'A', { status: 'CREATED' })).rejects.toMatchObject({ errCode: -502003 });
    sdk.clearFailure('collection.add');
    expect(await store.insert('orders', 'A', { status: 'CREATED' })).toBe('created');
  });

  test('update and remove errors are rethrown, not read as "no match"', async () => {
    const sdk = fakeWxSdk();
    const store = wxStore(sdk.database());
    await store.insert('orders', 'A', { status: 'CREATED' });
    sdk.failWith('collection.update', -502003);
    await expect(store.update('orders', 'A', { status: 'CREATED' }, { status: 'PAID' })).rejects.toMatchObject({
      errCode: -502003,
    });
    sdk.failWith('document.remove', -502003);
    await expect(store.remove('orders', 'A')).rejects.toMatchObject({ errCode: -502003 });
    expect(sdk.docs('orders')).toEqual([{ _id: 'A', status: 'CREATED' }]);
  });
});

/* The fake is only useful if it behaves as the SDK does (protocols/wx-server-sdk.md §2.4-2.5). */
describe('fake wx-server-sdk', () => {
  const setup = async () => {
    const db = fakeWxSdk().database();
    await db.collection('c').add({ data: { _id: 'A', n: 1, o: { x: 1, y: 2 } } });
    return db;
  };

  test('doc().get() of a missing document throws errCode -1 by default and resolves null otherwise', async () => {
    const sdk = fakeWxSdk();
    await expect(sdk.database().collection('c').doc('X').get()).rejects.toMatchObject({ errCode: -1 });
    expect(await sdk.database({ throwOnNotFound: false }).collection('c').doc('X').get()).toMatchObject({ data: null });
  });

  test('add with an existing _id fails with -502001 and E11000 text', async () => {
    const db = await setup();
    const err: unknown = await db
      .collection('c')
      .add({ data: { _id: 'A', n: 2 } })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ errCode: -502001 });
    expect((err as { errMsg: string }).errMsg).toMatch(/^collection\.add:fail -502001 .*E11000 duplicate key/);
  });

  test('update data: nested objects merge, command.set replaces, dotted keys address one field', async () => {
    const db = await setup();
    const _ = db.command;
    const read = async () => (await db.collection('c').doc('A').get()).data;
    await db.collection('c').where({ _id: 'A' }).update({ data: { o: { x: 9 } } });
    expect(await read()).toMatchObject({ o: { x: 9, y: 2 } });
    await db.collection('c').where({ _id: 'A' }).update({ data: { 'o.y': 7 } });
    expect(await read()).toMatchObject({ o: { x: 9, y: 7 } });
    await db.collection('c').where({ _id: 'A' }).update({ data: { o: _.set({ z: 1 }) } });
    expect((await read()) as object).toEqual({ _id: 'A', n: 1, o: { z: 1 } });
  });

  test('update with no match resolves updated 0; empty data is rejected', async () => {
    const db = await setup();
    expect(await db.collection('c').where({ _id: 'X' }).update({ data: { n: 2 } })).toMatchObject({ stats: { updated: 0 } });
    await expect(db.collection('c').where({ _id: 'A' }).update({ data: {} })).rejects.toMatchObject({ errCode: -501000 });
    await expect(db.collection('c').add({ data: {} })).rejects.toMatchObject({ errCode: -501000 });
  });

  test('a query get() returns at most 100 documents', async () => {
    const db = fakeWxSdk().database();
    for (let i = 0; i < 150; i++) await db.collection('c').add({ data: { i } });
    expect((await db.collection('c').where({}).limit(1000).get()).data).toHaveLength(100);
  });

  test('returned documents are copies', async () => {
    const db = await setup();
    const { data } = await db.collection('c').doc('A').get();
    (data as { o: { x: number } }).o.x = 42;
    expect((await db.collection('c').doc('A').get()).data).toMatchObject({ o: { x: 1 } });
  });
});
