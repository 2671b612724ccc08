/** Small runtime-neutral helpers (Node and browsers). */
import { CochleaAbortError, CochleaTimeoutError } from './errors.ts';
import type { RetryOptions } from './types.ts';

const g = globalThis as unknown as {
  process?: { env?: Record<string, string | undefined>; versions?: { node?: string } };
  location?: { origin?: string };
};

export const isNode = typeof g.process?.versions?.node === 'string';

export function env(name: string): string | undefined {
  const v = g.process?.env?.[name];
  return v ? v : undefined;
}

export function defaultBaseUrl(): string {
  const fromEnv = env('COCHLEA_URL');
  if (fromEnv) return fromEnv;
  if (!isNode && g.location?.origin && g.location.origin !== 'null') return g.location.origin;
  return 'http://localhost:8080';
}

/** Build `base + path + ?query`, skipping undefined values. */
export function buildUrl(base: string, path: string, query: Record<string, string | number | boolean | undefined>): URL {
  const u = new URL(path, base.endsWith('/') ? base : base + '/');
  // Keep a base path prefix (e.g. behind a reverse proxy at /stt/).
  if (!path.startsWith('/')) u.pathname = new URL(base).pathname.replace(/\/?$/, '/') + path;
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
  return u;
}

export function boolParam(v: boolean | 'auto' | undefined): string | undefined {
  return v === undefined ? undefined : String(v);
}

export function abortReason(signal: AbortSignal): Error {
  return new CochleaAbortError(signal.reason);
}

/** Sleep that rejects with an AbortError when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One signal that fires when the caller's signal does or when `timeoutMs` passes (the timeout's
 * reason is a CochleaTimeoutError). `dispose()` clears the timer and listeners.
 */
export function linkSignals(signal: AbortSignal | undefined, timeoutMs: number | undefined, what: string) {
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal!.reason);
  if (signal) {
    if (signal.aborted) ac.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  const timer = timeoutMs !== undefined && timeoutMs > 0 ? setTimeout(() => ac.abort(new CochleaTimeoutError(timeoutMs, what)), timeoutMs) : undefined;
  return {
    signal: ac.signal,
    dispose() {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** The error to throw for an aborted linked signal: the timeout error itself, else an AbortError. */
export function errorForAbort(signal: AbortSignal): Error {
  return signal.reason instanceof CochleaTimeoutError ? signal.reason : abortReason(signal);
}

export interface ResolvedRetry {
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export function resolveRetry(r: RetryOptions | undefined): ResolvedRetry {
  return { retries: r?.retries ?? 3, minDelayMs: r?.minDelayMs ?? 250, maxDelayMs: r?.maxDelayMs ?? 10_000 };
}

/** Exponential back-off with full jitter; a server's Retry-After wins when it is longer. */
export function backoffDelay(attempt: number, r: ResolvedRetry, retryAfterMs?: number, random = Math.random): number {
  const exp = Math.min(r.maxDelayMs, r.minDelayMs * 2 ** (attempt - 1));
  const jittered = exp / 2 + random() * (exp / 2);
  return Math.min(r.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
}

/** Retry-After: delta-seconds or an HTTP date. */
export function parseRetryAfter(v: string | null | undefined, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - now) : undefined;
}

/**
 * Network error codes that mean the connection was never established, so the server cannot have
 * received a byte of the request (safe to retry even for one-shot bodies).
 */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

export function errorCode(err: unknown): string | undefined {
  let e: any = err;
  for (let i = 0; i < 5 && e; i++) {
    if (typeof e.code === 'string') return e.code;
    // AggregateError from happy-eyeballs connects
    if (Array.isArray(e.errors) && e.errors[0]?.code) return e.errors[0].code;
    e = e.cause;
  }
  return undefined;
}

export function neverConnected(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && NOT_CONNECTED.has(code);
}

export function describeNetworkError(err: unknown): string {
  const code = errorCode(err);
  let e: any = err;
  while (e?.cause && typeof e.cause === 'object') e = e.cause;
  const msg = e?.message || (err as Error)?.message || String(err);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}
