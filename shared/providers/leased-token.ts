import { providerUnavailable } from '../core/errors';
import type { Clock } from '../core/clock';
import type { SharedCache } from './types';

/** What the cache holds for a token: the token itself, when it stops working, and whatever the fetcher keeps. */
export interface LeasedEntry {
  token: string;
  expires_at: number;
}

export interface LeasedTokenSpec<E extends LeasedEntry> {
  /** The shared-cache key (one per app and kind of token). */
  key: string;
  /** Refresh this long before `expires_at`; meanwhile the old token still serves instances that lost the lease. */
  refreshAheadMs: number;
  /** How long one instance may hold the right to refresh. */
  leaseMs?: number;
  /** How long an instance with no valid token waits for another one's refresh. */
  waitMaxMs?: number;
  /**
   * Asks the issuer for a new token. `previous` is what the cache held (its extra fields carry over), `rejected`
   * a token a caller reports the issuer refused.
   */
  fetch(previous: E | undefined, rejected: string | undefined): Promise<E>;
  /** Names the token in the error when another instance's refresh did not arrive in time. */
  what: string;
}

const DEFAULT_LEASE_MS = 15_000;
const DEFAULT_WAIT_MAX_MS = 5_000;
const WAIT_STEP_MS = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A token shared by every warm instance of every function through the store. One instance at a time
 * refreshes it (a lease in the store), ahead of expiry; the others keep using the still-valid token or wait
 * for the new one, so however many instances ask at once the issuer is asked once.
 *
 * `rejected`: a token the issuer just refused. It is replaced once: a caller whose cache already holds a
 * different token takes that one; only when the cache still holds the refused token is a new one fetched.
 */
export async function leasedToken<E extends LeasedEntry>(
  deps: { cache: SharedCache; clock: Clock },
  spec: LeasedTokenSpec<E>,
  opts: { rejected?: string } = {},
): Promise<string> {
  const now = () => deps.clock.now();
  const usable = (c: E | undefined) => !!c && c.token !== opts.rejected && now() < c.expires_at - spec.refreshAheadMs;
  const valid = (c: E | undefined) => !!c && c.token !== opts.rejected && now() < c.expires_at;
  const read = async () => (await deps.cache.get<E>(spec.key))?.value;

  let cached = await read();
  if (usable(cached)) return cached!.token;

  if (await deps.cache.claim(spec.key, spec.leaseMs ?? DEFAULT_LEASE_MS)) {
    cached = await read(); // another instance may have refreshed it meanwhile
    if (usable(cached)) return cached!.token;
    const fresh = await spec.fetch(cached, opts.rejected);
    await deps.cache.put(spec.key, fresh);
    return fresh.token;
  }
  // Another instance holds the lease: a token valid for a little longer serves meanwhile.
  if (valid(cached)) return cached!.token;
  const waitMax = spec.waitMaxMs ?? DEFAULT_WAIT_MAX_MS;
  for (let waited = 0; waited < waitMax; waited += WAIT_STEP_MS) {
    await sleep(WAIT_STEP_MS);
    cached = await read();
    if (valid(cached)) return cached!.token;
  }
  throw providerUnavailable(`${spec.what} is being refreshed by another instance and did not arrive in time; try again`);
}
