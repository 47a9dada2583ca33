/** What the provider tests share: a `ProviderCtx` for one config, a payment to create, a rejection to inspect. */
import { systemClock, type Clock } from '../../shared/core/clock';
import type { AppError } from '../../shared/core/errors';
import { memoryLogger, type Logger } from '../../shared/core/logger';
import { createHttpClient, type HttpClient } from '../../shared/http/client';
import type { CreatePaymentInput, ProviderCtx, SharedCache } from '../../shared/providers/types';
import { localStore } from '../../shared/runtime/local';
import type { CloudPay } from '../../shared/runtime/port';
import { sharedCache } from '../../shared/store/shared-cache';

export interface ProviderCtxOptions {
  /** The HTTP client's timeout when `http` is not given; 1500 ms by default. */
  timeoutMs?: number;
  clock?: Clock;
  http?: HttpClient;
  /** A shared cache over a fresh local store by default. */
  cache?: SharedCache;
  log?: Logger;
  /** Only the cloudpay provider uses it; left undefined otherwise. */
  cloudPay?: CloudPay;
}

/** A provider context over real loopback HTTP, the system clock and a fresh store. */
export function providerCtx<C>(config: C, notifyUrl: string, opts: ProviderCtxOptions = {}): ProviderCtx<C> {
  const log = opts.log ?? memoryLogger();
  return {
    config,
    cache: opts.cache ?? sharedCache(localStore(), systemClock),
    cloudPay: opts.cloudPay ?? (undefined as unknown as CloudPay),
    notifyUrl,
    http: opts.http ?? createHttpClient(log, { timeoutMs: opts.timeoutMs ?? 1500 }),
    clock: opts.clock ?? systemClock,
    log,
  };
}

let seq = 0;
/** A payment to create: a fresh out_trade_no on every call, 1.23 CNY paid in WeChat by `o-payer`, open 30 minutes. */
export function paymentInput(over: Partial<CreatePaymentInput> = {}): CreatePaymentInput {
  const now = Date.now();
  return {
    out_trade_no: `T${now}${++seq}`,
    pay_method: 'wechat',
    amount: 123,
    currency: 'CNY',
    description: '停车费',
    payer_openid: 'o-payer',
    client_ip: '127.0.0.1',
    created_at: now,
    expires_at: now + 30 * 60_000,
    ...over,
  };
}

/** The error `p` rejects with; throws if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    return err as AppError;
  }
  throw new Error('expected a rejection');
}
