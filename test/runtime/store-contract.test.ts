import { mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { localStore } from '../../shared/runtime/local';
import type { DocStore, Filter } from '../../shared/runtime/port';
import { wxStore } from '../../shared/runtime/wx';
import { fakeWxSdk } from '../support/fake-wx-sdk';

type Store = DocStore & { close?(): Promise<void> };

const C = 'orders';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'store-contract-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

interface Order {
  _id?: string;
  status: string;
  amount: number;
  payer?: { id: string; name: string };
  tags?: string[];
  note?: string;
}

const ids = (docs: Array<{ _id?: string }>) => docs.map((d) => d._id).sort();

export function describeStoreContract(name: string, makeStore: () => Store): void {
  describe(`DocStore contract: ${name}`, () => {
    let s: Store;
    beforeEach(() => {
      s = makeStore();
    });
    afterEach(async () => {
      await s.close?.();
    });

    const seed = async (docs: Record<string, Order>) => {
      for (const [id, doc] of Object.entries(docs)) expect(await s.insert(C, id, doc)).toBe('created');
    };

    test('get of a missing document is null', async () => {
      expect(await s.get(C, 'nope')).toBeNull();
    });

    test('insert then get round-trips nested objects and arrays', async () => {
      const doc: Order = { status: 'CREATED', amount: 100, payer: { id: 'o1', name: 'Ann' }, tags: ['a', 'b'] };
      expect(await s.insert(C, 'A', doc)).toBe('created');
      expect(await s.get(C, 'A')).toEqual({ ...doc, _id: 'A' });
    });

    test('a second insert with the same id is "exists" and leaves the first document', async () => {
      await seed({ A: { status: 'CREATED', amount: 1 } });
      expect(await s.insert(C, 'A', { status: 'PAID', amount: 2 })).toBe('exists');
      expect(await s.get(C, 'A')).toEqual({ _id: 'A', status: 'CREATED', amount: 1 });
    });

    describe('update (compare-and-set)', () => {
      beforeEach(() =>
        seed({ A: { status: 'CREATED', amount: 100, payer: { id: 'o1', name: 'Ann' }, tags: ['a', 'b', 'c'] } }),
      );
      const status = async () => (await s.get<Order>(C, 'A'))?.status;

      test('a matching `when` applies the patch', async () => {
        expect(await s.update(C, 'A', { status: 'CREATED' }, { status: 'PAID', note: 'n' })).toBe(true);
        expect(await s.get(C, 'A')).toMatchObject({ status: 'PAID', note: 'n', amount: 100 });
      });

      test('a non-matching `when` changes nothing', async () => {
        expect(await s.update(C, 'A', { status: 'PAID' }, { status: 'REFUNDED' })).toBe(false);
        expect(await status()).toBe('CREATED');
      });

      test('a missing id is false and creates nothing', async () => {
        expect(await s.update(C, 'B', {}, { status: 'PAID' })).toBe(false);
        expect(await s.get(C, 'B')).toBeNull();
      });

      test('a nested object in the patch replaces the field whole', async () => {
        expect(await s.update(C, 'A', {}, { payer: { id: 'o2' } })).toBe(true);
        expect((await s.get<Order>(C, 'A'))?.payer).toEqual({ id: 'o2' });
      });

      test('an array in the patch replaces the field whole', async () => {
        expect(await s.update(C, 'A', {}, { tags: ['x'] })).toBe(true);
        expect((await s.get<Order>(C, 'A'))?.tags).toEqual(['x']);
      });

      test('a dotted path changes one nested field and keeps its siblings', async () => {
        expect(await s.update(C, 'A', { 'payer.id': 'o1' }, { 'payer.name': 'Bob' })).toBe(true);
        expect((await s.get<Order>(C, 'A'))?.payer).toEqual({ id: 'o1', name: 'Bob' });
        expect(await s.update(C, 'A', { 'payer.id': 'o9' }, { 'payer.name': 'Eve' })).toBe(false);
        expect((await s.get<Order>(C, 'A'))?.payer?.name).toBe('Bob');
      });

      test.each<[string, Filter, Filter]>([
        ['$in', { status: { $in: ['CREATED', 'PENDING'] } }, { status: { $in: ['PAID', 'CLOSED'] } }],
        ['$nin', { status: { $nin: ['PAID', 'CLOSED'] } }, { status: { $nin: ['CREATED'] } }],
        ['$ne', { status: { $ne: 'PAID' } }, { status: { $ne: 'CREATED' } }],
        ['$lt', { amount: { $lt: 101 } }, { amount: { $lt: 100 } }],
        ['$lte', { amount: { $lte: 100 } }, { amount: { $lte: 99 } }],
        ['$gt', { amount: { $gt: 99 } }, { amount: { $gt: 100 } }],
        ['$gte', { amount: { $gte: 100 } }, { amount: { $gte: 101 } }],
        ['$exists true', { payer: { $exists: true } }, { note: { $exists: true } }],
        ['$exists false', { note: { $exists: false } }, { payer: { $exists: false } }],
      ])('%s in `when`', async (_op, hit, miss) => {
        expect(await s.update(C, 'A', miss, { status: 'MISS' })).toBe(false);
        expect(await status()).toBe('CREATED');
        expect(await s.update(C, 'A', hit, { status: 'HIT' })).toBe(true);
        expect(await status()).toBe('HIT');
      });

      test('50 concurrent compare-and-sets: exactly one wins and its write is the one stored', async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => s.update(C, 'A', { status: 'CREATED' }, { status: 'PAID', winner: i })),
        );
        const winners = results.flatMap((ok, i) => (ok ? [i] : []));
        expect(winners).toHaveLength(1);
        expect(await s.get(C, 'A')).toMatchObject({ status: 'PAID', winner: winners[0] });
      });
    });

    test('50 concurrent inserts of one id: exactly one is created', async () => {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => s.insert(C, 'A', { status: 'CREATED', amount: i })),
      );
      expect(results.filter((r) => r === 'created')).toHaveLength(1);
      expect(results.filter((r) => r === 'exists')).toHaveLength(49);
      expect(await s.find(C, {})).toHaveLength(1);
    });

    describe('find', () => {
      beforeEach(() =>
        seed({
          a: { status: 'CREATED', amount: 5, payer: { id: 'o1', name: 'Ann' } },
          b: { status: 'PAID', amount: 1, note: 'x' },
          c: { status: 'CLOSED', amount: 4, payer: { id: 'o2', name: 'Bob' } },
          d: { status: 'PAID', amount: 2 },
          e: { status: 'REFUNDED', amount: 3, payer: { id: 'o1', name: 'Ann' } },
        }),
      );

      test.each<[string, Filter, string[]]>([
        ['equality', { status: 'PAID' }, ['b', 'd']],
        ['two conditions', { status: 'PAID', amount: 2 }, ['d']],
        ['dotted path', { 'payer.id': 'o1' }, ['a', 'e']],
        ['$in', { status: { $in: ['CREATED', 'CLOSED'] } }, ['a', 'c']],
        ['$nin', { status: { $nin: ['PAID', 'CLOSED'] } }, ['a', 'e']],
        ['$ne', { status: { $ne: 'PAID' } }, ['a', 'c', 'e']],
        ['$lt', { amount: { $lt: 3 } }, ['b', 'd']],
        ['$lte', { amount: { $lte: 3 } }, ['b', 'd', 'e']],
        ['$gt', { amount: { $gt: 3 } }, ['a', 'c']],
        ['$gte', { amount: { $gte: 3 } }, ['a', 'c', 'e']],
        ['operators on two fields', { amount: { $gt: 1 }, status: { $ne: 'REFUNDED' } }, ['a', 'c', 'd']],
        ['$exists true', { payer: { $exists: true } }, ['a', 'c', 'e']],
        ['$exists false', { payer: { $exists: false } }, ['b', 'd']],
        ['nothing matches', { status: 'NOPE' }, []],
        ['empty filter', {}, ['a', 'b', 'c', 'd', 'e']],
      ])('%s', async (_label, where, expected) => {
        expect(ids(await s.find<Order>(C, where))).toEqual(expected);
      });

      test('orderBy asc and desc with a limit', async () => {
        const asc = await s.find<Order>(C, {}, { orderBy: ['amount', 'asc'], limit: 3 });
        expect(asc.map((d) => d.amount)).toEqual([1, 2, 3]);
        const desc = await s.find<Order>(C, { status: { $ne: 'CREATED' } }, { orderBy: ['amount', 'desc'], limit: 2 });
        expect(desc.map((d) => d._id)).toEqual(['c', 'e']);
      });
    });

    test('find returns at most 100 documents, with or without a larger limit', async () => {
      await Promise.all(Array.from({ length: 120 }, (_, i) => s.insert(C, `o${i}`, { status: 'PAID', amount: i })));
      expect(await s.find(C, { status: 'PAID' })).toHaveLength(100);
      expect(await s.find(C, {}, { limit: 500 })).toHaveLength(100);
      const top = await s.find<Order>(C, {}, { orderBy: ['amount', 'desc'], limit: 500 });
      expect(top[0].amount).toBe(119);
      expect(top[99].amount).toBe(20);
    });

    test('remove is true once, then false', async () => {
      await seed({ A: { status: 'CREATED', amount: 1 } });
      expect(await s.remove(C, 'A')).toBe(true);
      expect(await s.get(C, 'A')).toBeNull();
      expect(await s.remove(C, 'A')).toBe(false);
    });
  });
}

describeStoreContract('localStore (persisted)', () => localStore(tempDir()));
describeStoreContract('localStore (in memory)', () => localStore());
describeStoreContract('wxStore over the fake SDK (throwOnNotFound default)', () => wxStore(fakeWxSdk().database()));
describeStoreContract('wxStore over the fake SDK (throwOnNotFound:false)', () =>
  wxStore(fakeWxSdk().database({ throwOnNotFound: false })),
);

describe('localStore (persisted): reopening the data folder', () => {
  test('what was written is read back by a new store on the same folder', async () => {
    const dir = tempDir();
    const first = localStore(dir);
    expect(await first.insert(C, 'A', { status: 'CREATED', amount: 1, payer: { id: 'o1', name: 'Ann' } })).toBe('created');
    expect(await first.update(C, 'A', { status: 'CREATED' }, { status: 'PAID' })).toBe(true);
    expect(await first.insert('refunds', 'R', { amount: 1 })).toBe('created');
    await first.close();

    const second = localStore(dir);
    try {
      expect(await second.get(C, 'A')).toEqual({
        _id: 'A',
        status: 'PAID',
        amount: 1,
        payer: { id: 'o1', name: 'Ann' },
      });
      expect(await second.get('refunds', 'R')).toEqual({ _id: 'R', amount: 1 });
      expect(await second.insert(C, 'A', { status: 'CREATED', amount: 2 })).toBe('exists');
    } finally {
      await second.close();
    }
  });
});
