import { providerRejected } from '../core/errors';
import type { SharedCache } from '../providers/types';
import type { Template, TemplateConfig } from '../config/template';
import type { Refusal } from './outcomes';

/**
 * A quota refusal (45009, the daily quota) holds for every message of that template on that account until
 * its `retry_after`: calling WeChat again before then only spends calls on the same answer. The back-off is
 * kept in the shared cache, so every warm instance refuses at once until it ends.
 */
interface Backoff {
  until: number;
  code: string;
  message: string;
}

/**
 * The account a template's messages count against: the official account's appid, the environment's
 * mini-program (cloud.openapi sends as it; one per environment), the UnionPay mp_id.
 */
function account(config: TemplateConfig, t: Template): string {
  switch (t.channel) {
    case 'official_account':
      return config.official_account?.appid ?? '';
    case 'subscribe':
      return 'mini-program';
    case 'unionpay':
      return config.unionpay?.mp_id ?? '';
  }
}

export const quotaBackoffKey = (config: TemplateConfig, t: Template) => `msg-quota:${t.channel}:${account(config, t)}:${t.template_id}`;

/** The refusal a back-off still in force answers with, the one that started it; undefined once it ended. */
export async function backedOff(cache: SharedCache, key: string, now: number): Promise<Refusal | undefined> {
  const b = (await cache.get<Backoff>(key))?.value;
  if (!b || b.until <= now) return undefined;
  return { error: providerRejected(b.code, b.message), retryable: true, retry_after: b.until };
}

/** Starts a back-off for a refusal that says when a retry may help (`retry_after`). */
export async function recordBackoff(cache: SharedCache, key: string, r: Refusal): Promise<void> {
  if (!r.retry_after) return;
  await cache.put<Backoff>(key, { until: r.retry_after, code: r.error.providerCode ?? r.error.code, message: r.error.message });
}
