/** The error codes of the result envelope (DESIGN.md §4). */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'UNKNOWN_ACTION'
  | 'CONFIG_MISSING'
  | 'CONFIG_INVALID'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'PROVIDER_REJECTED'
  | 'PROVIDER_UNAVAILABLE'
  | 'NOT_SUPPORTED'
  | 'INTERNAL';

/**
 * An error whose message is safe to show the caller: it says what to fix and carries no secret.
 * Anything thrown that is not an AppError is reported as INTERNAL without its message.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The provider's own error code, for PROVIDER_REJECTED. */
    readonly providerCode?: string,
    /** Whether the same call again can succeed, and not before when (ms since epoch); shown in the envelope. */
    readonly retry?: { retryable: boolean; retry_after?: number },
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const invalidInput = (message: string) => new AppError('INVALID_INPUT', message);
export const forbidden = (message: string) => new AppError('FORBIDDEN', message);
export const notFound = (message: string) => new AppError('NOT_FOUND', message);
export const conflict = (message: string) => new AppError('CONFLICT', message);
export const notSupported = (message: string) => new AppError('NOT_SUPPORTED', message);
export const configMissing = (message: string) => new AppError('CONFIG_MISSING', message);
export const configInvalid = (message: string) => new AppError('CONFIG_INVALID', message);
export const providerUnavailable = (message: string) => new AppError('PROVIDER_UNAVAILABLE', message);
export const providerRejected = (providerCode: string, message: string) =>
  new AppError('PROVIDER_REJECTED', message, providerCode);
