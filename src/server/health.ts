/**
 * Liveness, readiness and the metrics endpoint.
 *
 *   GET /health   liveness: the process answers (cheap, no auth, never touches the engine).
 *   GET /ready    readiness: 200 {"status":"ready"} when this instance should get traffic, else
 *                 503 {"status":"not_ready","reasons":[...]} with reasons
 *                   starting    engine workers are still loading their models
 *                   restarting  a worker crashed and is being replaced
 *                   saturated   the batch queue is full or every real-time session slot is taken
 *                   draining    SIGTERM received (or the server is closing)
 *                 No auth (load balancers and orchestrators probe it); it reveals counts only.
 *   GET /metrics  Prometheus text format; COCHLEA_METRICS=auth (default: needs an API key),
 *                 public, or off; COCHLEA_METRICS_PORT serves it (with /health and /ready) on a
 *                 separate port instead.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Engine } from '../engines/types.ts';
import type { PoolSnapshot } from '../engines/pool.ts';
import { checkAuth, type KeyRing } from './auth.ts';
import type { Metrics } from './metrics.ts';

export type NotReadyReason = 'starting' | 'restarting' | 'saturated' | 'draining';

export interface ReadinessReport {
  ready: boolean;
  reasons: NotReadyReason[];
  workers?: { ready: number; total: number };
  queue?: { queued: number; capacity: number };
  sessions: { live: number; capacity: number };
}

export class Readiness {
  private draining = false;
  constructor(
    private readonly engine: Engine,
    private readonly liveSessions: () => number,
    private readonly maxSessions: number,
  ) {}

  /** From now on /ready answers 503 (draining). Idempotent. */
  startDrain(): void {
    this.draining = true;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  report(): ReadinessReport {
    const reasons: NotReadyReason[] = [];
    const pool = (this.engine as { pool?: { snapshot?: () => PoolSnapshot } }).pool;
    const snap = typeof pool?.snapshot === 'function' ? pool.snapshot() : undefined;
    const live = this.liveSessions();
    const out: ReadinessReport = { ready: false, reasons, sessions: { live, capacity: this.maxSessions } };
    if (snap) {
      const up = snap.workers.filter((w) => w.ready).length;
      out.workers = { ready: up, total: snap.size };
      out.queue = { queued: snap.queued, capacity: snap.maxQueue };
      if (snap.closed) reasons.push('draining');
      else if (!snap.initialized) reasons.push('starting');
      else if (up < snap.size) reasons.push('restarting');
      if (snap.queued >= snap.maxQueue) reasons.push('saturated');
    }
    if (live >= this.maxSessions && !reasons.includes('saturated')) reasons.push('saturated');
    if (this.draining && !reasons.includes('draining')) reasons.push('draining');
    out.ready = reasons.length === 0;
    return out;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Readiness state; `startDrain()` on SIGTERM. */
    readiness: Readiness;
    /** The separate metrics server (COCHLEA_METRICS_PORT), if any. */
    metricsServer: FastifyInstance | null;
  }
}

export interface HealthDeps {
  config: Config;
  engine: Engine;
  readiness: Readiness;
  metrics: Metrics;
  ring?: KeyRing;
}

function readyHandler(readiness: Readiness) {
  return async (_req: FastifyRequest, reply: FastifyReply) => {
    const r = readiness.report();
    reply.header('cache-control', 'no-store');
    const { ready, ...rest } = r;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', ...rest });
  };
}

function metricsHandler(metrics: Metrics, mode: Config['metrics']['mode'], ring?: KeyRing) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    if (mode === 'auth') {
      const err = checkAuth(ring, req.headers, req.query);
      if (err) return reply.code(err.statusCode).send(err.body);
    }
    const { contentType, body } = await metrics.scrape();
    return reply.header('content-type', contentType).header('cache-control', 'no-store').send(body);
  };
}

/**
 * Registers /ready (and /metrics, unless it lives on its own port or is off) on the API server;
 * the readiness flips to draining as soon as the server starts closing.
 */
export function registerHealth(app: FastifyInstance, deps: HealthDeps): void {
  const { config, readiness, metrics, ring } = deps;
  app.decorate('readiness', readiness);
  app.decorate('metricsServer', null);
  app.addHook('preClose', async () => readiness.startDrain());
  app.get('/ready', readyHandler(readiness));
  if (config.metrics.mode !== 'off' && config.metrics.port === undefined) {
    app.get('/metrics', metricsHandler(metrics, config.metrics.mode, ring));
  }
  if (config.metrics.mode !== 'off' && config.metrics.port !== undefined) {
    const side = buildMetricsServer(deps);
    app.metricsServer = side;
    const port = config.metrics.port;
    app.addHook('onReady', async () => {
      await side.listen({ host: config.metrics.host, port });
    });
    app.addHook('onClose', async () => side.close());
  }
}

/** The separate metrics port: /metrics, /health, /ready and nothing else. */
function buildMetricsServer({ config, engine, readiness, metrics, ring }: HealthDeps): FastifyInstance {
  const side = Fastify({ logger: false });
  side.get('/metrics', metricsHandler(metrics, config.metrics.mode, ring));
  side.get('/health', async () => ({ status: 'ok', engine: engine.info }));
  side.get('/ready', readyHandler(readiness));
  return side;
}
