import { AppError, ErrorCode } from './errors';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  provider_code?: string;
  /** For refusals that say it: whether trying again can help, and from when. */
  retryable?: boolean;
  retry_after?: number;
}
/** What a client-facing call returns (DESIGN.md §4). */
export type Result<T = unknown> = { ok: true; data: T } | { ok: false; error: ErrorBody };

export const ok = <T>(data: T): Result<T> => ({ ok: true, data });

/** The envelope's error for `err`: code, message, and the provider's code and retry advice where it has them. */
export function errorBody(err: AppError): ErrorBody {
  const error: ErrorBody = { code: err.code, message: err.message };
  if (err.providerCode) error.provider_code = err.providerCode;
  if (err.retry) {
    error.retryable = err.retry.retryable;
    if (err.retry.retry_after !== undefined) error.retry_after = err.retry.retry_after;
  }
  return error;
}

export const fail = (err: AppError): Result<never> => ({ ok: false, error: errorBody(err) });
