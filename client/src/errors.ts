/** Typed errors. Every error the SDK throws is a `CochleaError`. */
import type { PulseErrorBody } from './types.ts';

export class CochleaError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CochleaError';
  }
}

/** The server answered with an HTTP error (Pulse's status and message). */
export class CochleaApiError extends CochleaError {
  /** HTTP status, e.g. 400, 401, 413, 429, 500, 503. */
  readonly status: number;
  /** Field-level details from a 400, when the server gave them. */
  readonly errors: { field: string; message: string }[];
  /** The parsed error body (or the raw text when it was not JSON). */
  readonly body: PulseErrorBody | string | undefined;
  readonly requestId?: string;
  /** Server's Retry-After, in ms, when it sent one. */
  readonly retryAfterMs?: number;

  constructor(status: number, body: PulseErrorBody | string | undefined, init: { requestId?: string; retryAfterMs?: number } = {}) {
    const message =
      typeof body === 'object' && body
        ? (body.message ?? body.error ?? `HTTP ${status}`)
        : typeof body === 'string' && body.trim()
          ? body.trim().slice(0, 500)
          : `HTTP ${status}`;
    super(message);
    this.name = 'CochleaApiError';
    this.status = status;
    this.body = body;
    this.errors =
      typeof body === 'object' && body ? (Array.isArray(body.errors) ? body.errors : Array.isArray(body.details) ? body.details : []) : [];
    this.requestId = init.requestId ?? (typeof body === 'object' && body ? body.request_id : undefined);
    this.retryAfterMs = init.retryAfterMs;
  }

  /** True for statuses the SDK retries (429 and 503). */
  get retryable(): boolean {
    return this.status === 429 || this.status === 503;
  }
}

/** The server could not be reached, or the connection broke. */
export class CochleaConnectionError extends CochleaError {
  /** Whether any audio had been sent when the connection failed (then nothing was retried). */
  readonly audioSent: boolean;
  constructor(message: string, opts: { cause?: unknown; audioSent: boolean }) {
    super(message, { cause: opts.cause });
    this.name = 'CochleaConnectionError';
    this.audioSent = opts.audioSent;
  }
}

/** A real-time session ended without its `is_last` final (server closed it, or it dropped). */
export class CochleaStreamClosedError extends CochleaError {
  /** WebSocket close code (1008 = policy, e.g. too many sessions; 1011 = server error; 1006 = dropped). */
  readonly code: number;
  readonly reason: string;
  /** The last `type: "error"` message the server sent before closing, if any. */
  readonly serverMessage?: string;
  constructor(code: number, reason: string, serverMessage?: string) {
    super(serverMessage ?? (reason ? `stream closed (${code}): ${reason}` : `stream closed unexpectedly (code ${code})`));
    this.name = 'CochleaStreamClosedError';
    this.code = code;
    this.reason = reason;
    this.serverMessage = serverMessage;
  }
}

/** The call was aborted through its AbortSignal. `name` is "AbortError", as for fetch. */
export class CochleaAbortError extends CochleaError {
  constructor(reason?: unknown) {
    super(reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'The operation was aborted', {
      cause: reason,
    });
    this.name = 'AbortError';
  }
}

/** `timeoutMs` elapsed. */
export class CochleaTimeoutError extends CochleaError {
  constructor(ms: number, what = 'request') {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** The server answered with something that is not a Pulse response. */
export class CochleaProtocolError extends CochleaError {
  constructor(message: string) {
    super(message);
    this.name = 'CochleaProtocolError';
  }
}
