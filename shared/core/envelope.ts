import { AppError, ErrorCode } from './errors';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  provider_code?: string;
}
/** What a client-facing call returns (DESIGN.md §4). */
export type Result<T = unknown> = { ok: true; data: T } | { ok: false; error: ErrorBody };

export const ok = <T>(data: T): Result<T> => ({ ok: true, data });

export function fail(err: AppError): Result<never> {
  const error: ErrorBody = { code: err.code, message: err.message };
  if (err.providerCode) error.provider_code = err.providerCode;
  return { ok: false, error };
}
