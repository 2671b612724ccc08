/**
 * Errors in Pulse's shapes. Route code throws `ApiError`; the error handler (see app.ts) turns
 * anything else into a 500 `{error: "Internal server error"}` without leaking internals.
 */

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  readonly statusCode: number;
  readonly body: Record<string, unknown>;
  /** Response headers that go with this error (e.g. Retry-After on a 503). */
  readonly headers: Record<string, string>;
  constructor(statusCode: number, body: Record<string, unknown>, message?: string, headers: Record<string, string> = {}) {
    super(message ?? String(body.message ?? body.error ?? statusCode));
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.body = body;
    this.headers = headers;
  }
}

/** 400 `{status:"error", message, errors}` — bad audio, bad params, bad JSON. */
export function badRequest(message: string, errors: FieldError[] = []): ApiError {
  return new ApiError(400, { status: 'error', message, errors });
}

export const INVALID_FORMAT_MESSAGE = 'Invalid file format. Supported formats: audio/*';

export function unauthorized(reason: 'missing' | 'invalid'): ApiError {
  return new ApiError(401, {
    message: reason === 'missing' ? 'Unauthorized: No tokens provided' : 'Unauthorized: Invalid token',
  });
}

export function payloadTooLarge(limitBytes: number): ApiError {
  const mb = Math.round((limitBytes / (1024 * 1024)) * 10) / 10;
  return new ApiError(413, { status: 'error', message: `File too large. Maximum allowed size is ${mb} MB`, errors: [] });
}

/** 503; `retryAfterSeconds` becomes a Retry-After header. */
export function serviceUnavailable(message: string, retryAfterSeconds?: number): ApiError {
  return new ApiError(503, { status: 'error', message, errors: [] }, undefined, retryAfterSeconds ? { 'retry-after': String(Math.ceil(retryAfterSeconds)) } : {});
}

export const INTERNAL_ERROR_BODY = Object.freeze({ error: 'Internal server error' });

/**
 * Paths of Pulse's current API (`/waves/v1/stt`, `/waves/v1/stt/live`), whose errors use the unified
 * shape `{error, request_id, details}`; the legacy paths keep `{status, message, errors}`.
 */
export function isUnifiedPath(url: string): boolean {
  const p = url.split('?')[0].replace(/\/+$/, '');
  return p === '/waves/v1/stt' || p.startsWith('/waves/v1/stt/');
}

/** An error body in the shape the request's path speaks. */
export function errorBody(url: string, requestId: string, body: Record<string, unknown>): Record<string, unknown> {
  if (!isUnifiedPath(url)) return body;
  const error = String(body.message ?? body.error ?? 'error');
  const out: Record<string, unknown> = { error, request_id: requestId };
  const details = body.errors ?? body.details;
  if (Array.isArray(details) && details.length) out.details = details;
  for (const k of ['error_code', 'language', 'region']) if (body[k] !== undefined) out[k] = body[k];
  return out;
}
