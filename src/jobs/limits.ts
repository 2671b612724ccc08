/**
 * Limits per API key and in total, cluster-wide when Redis is configured (per process otherwise):
 *  - request rate per key: @fastify/rate-limit (its Redis store with COCHLEA_REDIS_URL), 429 with
 *    Retry-After;
 *  - concurrent real-time sessions per key and in total: redis-semaphore counting semaphores (each
 *    holder refreshes its slot; a replica that dies frees its slots after the lock timeout), or
 *    in-process counters; past the limit the session is closed with 1008 as Pulse does;
 *  - queue depth: checked by JobsService.accept (503 with Retry-After).
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from 'ioredis';
import { Semaphore } from 'redis-semaphore';
import type { KeyLimits, KeyLimitsConfig } from '../config.ts';
import { ApiError } from '../server/errors.ts';
import { extractKey } from '../server/auth.ts';

/** A stable, non-secret id for an API key (or the client address when auth is off). */
export function keyIdOf(req: FastifyRequest): string {
  const key = extractKey(req.headers, req.query);
  return key ? 'k_' + crypto.createHash('sha256').update(key).digest('hex').slice(0, 24) : 'anonymous';
}

export class KeyLimitTable {
  private readonly byId = new Map<string, Partial<KeyLimits>>();
  constructor(private readonly cfg: KeyLimitsConfig) {
    for (const [k, l] of Object.entries(cfg.keys)) {
      const hex = k.startsWith('sha256:') ? k.slice(7).toLowerCase() : crypto.createHash('sha256').update(k).digest('hex');
      this.byId.set('k_' + hex.slice(0, 24), l);
    }
  }
  for(keyId: string): KeyLimits {
    return { ...this.cfg.default, ...(this.byId.get(keyId) ?? {}) };
  }
}

export async function registerRateLimit(app: FastifyInstance, table: KeyLimitTable, redis: Redis | undefined): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    timeWindow: 60_000,
    keyGenerator: keyIdOf,
    allowList: (_req, key) => table.for(key).requestsPerMinute === 0,
    max: (_req, key) => table.for(key).requestsPerMinute,
    ...(redis ? { redis, nameSpace: 'cochlea:rl:' } : {}),
    // A Redis outage must not take the API down with it: requests pass unlimited meanwhile.
    skipOnError: true,
    errorResponseBuilder: (_req, ctx) =>
      new ApiError(ctx.statusCode, { status: 'error', message: `Rate limit exceeded: at most ${ctx.max} requests per minute for this API key; retry in ${ctx.after}`, errors: [] }),
  });
}

export type SessionSlot = { ok: true; release(): void } | { ok: false; reason: string };

export interface SessionLimiter {
  acquire(keyId: string): Promise<SessionSlot>;
}

/** A granted slot whose `release` frees it once, however often it is called. */
function grantedSlot(free: () => void): SessionSlot {
  let released = false;
  return {
    ok: true,
    release: () => {
      if (released) return;
      released = true;
      free();
    },
  };
}

const refusedTotal = (limit: number): SessionSlot => ({ ok: false, reason: `Too many concurrent sessions in total (limit ${limit})` });
const refusedForKey = (limit: number): SessionSlot => ({ ok: false, reason: `Too many concurrent sessions for this API key (limit ${limit})` });

/** Per-process counting. */
export class LocalSessionLimiter implements SessionLimiter {
  private total = 0;
  private readonly perKey = new Map<string, number>();
  constructor(
    private readonly maxTotal: number,
    private readonly table: KeyLimitTable,
  ) {}
  async acquire(keyId: string): Promise<SessionSlot> {
    const perKeyMax = this.table.for(keyId).maxSessions;
    const mine = this.perKey.get(keyId) ?? 0;
    if (this.maxTotal > 0 && this.total >= this.maxTotal) return refusedTotal(this.maxTotal);
    if (perKeyMax > 0 && mine >= perKeyMax) return refusedForKey(perKeyMax);
    this.total++;
    this.perKey.set(keyId, mine + 1);
    return grantedSlot(() => {
      this.total--;
      const n = (this.perKey.get(keyId) ?? 1) - 1;
      if (n <= 0) this.perKey.delete(keyId);
      else this.perKey.set(keyId, n);
    });
  }
}

/** Cluster-wide: a redis-semaphore slot in the total semaphore and one in the key's. */
export class RedisSessionLimiter implements SessionLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly maxTotal: number,
    private readonly table: KeyLimitTable,
    private readonly lockTimeoutMs = 30_000,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  private semaphore(key: string, limit: number): Semaphore {
    return new Semaphore(this.redis, key, limit, {
      lockTimeout: this.lockTimeoutMs,
      refreshInterval: Math.floor(this.lockTimeoutMs / 3),
      acquireAttemptsLimit: 1,
      acquireTimeout: 5_000,
      onLockLost: (err) => this.onError(err),
    });
  }

  async acquire(keyId: string): Promise<SessionSlot> {
    const perKeyMax = this.table.for(keyId).maxSessions;
    const held: Semaphore[] = [];
    const releaseAll = () => {
      for (const s of held) void s.release().catch((e: Error) => this.onError(e));
    };
    try {
      if (this.maxTotal > 0) {
        const total = this.semaphore('cochlea:sessions:total', this.maxTotal);
        if (!(await total.tryAcquire())) return refusedTotal(this.maxTotal);
        held.push(total);
      }
      if (perKeyMax > 0) {
        const mine = this.semaphore(`cochlea:sessions:key:${keyId}`, perKeyMax);
        if (!(await mine.tryAcquire())) {
          releaseAll();
          return refusedForKey(perKeyMax);
        }
        held.push(mine);
      }
    } catch (e) {
      // Redis unreachable: let the session through rather than refuse all real-time traffic.
      releaseAll();
      this.onError(e as Error);
      return { ok: true, release: () => {} };
    }
    return grantedSlot(releaseAll);
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The real-time session slot taken before the WebSocket upgrade (see acquireSessionSlot). */
    sessionSlot?: SessionSlot;
  }
}

/**
 * Before a WebSocket upgrade: take a session slot for the request's key, released when the
 * connection closes. The route's wsHandler closes the socket with 1008 when `req.sessionSlot.ok`
 * is false (Pulse closes past the concurrency limit after the upgrade).
 */
export async function acquireSessionSlot(limiter: SessionLimiter, req: FastifyRequest): Promise<void> {
  if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return;
  const slot = await limiter.acquire(keyIdOf(req));
  req.sessionSlot = slot;
  if (slot.ok) {
    const socket = req.raw.socket;
    if (socket.destroyed) slot.release();
    else socket.once('close', () => slot.release());
  }
}
