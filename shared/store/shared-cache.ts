import type { Cloud, DocStore } from '../runtime/port';
import type { Clock } from '../core/clock';
import type { SharedCache } from '../providers/types';

export const CACHE = 'pay_cache';

interface CacheDoc {
  _id: string;
  value?: unknown;
  updated_at: number;
  lease_until: number;
}

/**
 * A value every warm instance shares through the database (platform certificates, tokens), refreshed by
 * one instance at a time: `claim` is a compare-and-set on a lease, so one caller wins until it expires.
 */
export function sharedCache(store: DocStore, clock: Clock): SharedCache {
  return {
    async get<T>(key: string) {
      const doc = await store.get<CacheDoc>(CACHE, key);
      return doc && doc.value !== undefined ? { value: doc.value as T, updated_at: doc.updated_at } : null;
    },
    async claim(key, leaseMs) {
      const now = clock.now();
      if ((await store.insert(CACHE, key, { updated_at: 0, lease_until: now + leaseMs })) === 'created') return true;
      return store.update(CACHE, key, { lease_until: { $lt: now } }, { lease_until: now + leaseMs });
    },
    async put(key, value) {
      const now = clock.now();
      if ((await store.insert(CACHE, key, { value, updated_at: now, lease_until: 0 })) === 'exists') {
        await store.update(CACHE, key, {}, { value, updated_at: now, lease_until: 0 });
      }
    },
  };
}

/** What a remote API's client needs from a function's Cloud: the shared cache (tokens), HTTP, clock and log. */
export const remoteDeps = (cloud: Cloud) => ({ cache: sharedCache(cloud.store, cloud.clock), http: cloud.http, clock: cloud.clock, log: cloud.log });
