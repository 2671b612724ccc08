/**
 * The HTTP server: Fastify, with each protocol surface an encapsulated plugin. This layer only
 * speaks the Pulse protocol; audio decoding, recognition and result building live below it.
 */
import crypto from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import type { Config } from '../config.ts';
import type { Engine } from '../engines/types.ts';
import { ApiError, INTERNAL_ERROR_BODY, badRequest, payloadTooLarge } from './errors.ts';
import { KeyRing, checkAuth } from './auth.ts';
import websocket from '@fastify/websocket';
import { batchRoutes } from './batch.ts';
import { SessionRegistry, realtimeRoutes } from './realtime.ts';
import { UrlFetcher } from './url-fetch.ts';
import { webPage } from './web-page.ts';
import { guardConnections } from './connection-guard.ts';
import { REDACTED_LOG_PATHS, serializeRequest } from '../util/redact-log.ts';
import { AnalysisPool, createPipeline, type AnalysisRunner } from '../pipeline/index.ts';
import { TranscriptionService } from '../pipeline/service.ts';
import { JobsService } from '../jobs/index.ts';
import { registerRateLimit } from '../jobs/limits.ts';
import { jobsRoutes } from './jobs-routes.ts';

export interface ServerDeps {
  config: Config;
  engine: Engine;
  /** API keys; omit only when auth is disabled. */
  keys?: string[];
  /** Audio-analysis workers (default: a Piscina pool of `config.pipeline.analysisThreads`). */
  analysis?: AnalysisRunner;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The one transcription service batch, real-time (and any other API surface) call. */
    transcription: TranscriptionService;
    /** Asynchronous jobs (webhook_url), the queue behind them, and per-key limits. */
    jobs: JobsService;
  }
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { config, engine } = deps;
  const app = Fastify({
    // Keys sent as ?token= (browsers, the SDK's browser path) or in headers never reach the logs.
    logger: { level: config.logLevel, serializers: { req: serializeRequest }, redact: REDACTED_LOG_PATHS },
    genReqId: () => crypto.randomUUID(),
    // Raw audio bodies are streamed and limited by the batch route itself; this bounds JSON bodies.
    bodyLimit: 1024 * 1024,
    // Keep-alive clients must not pin sockets forever.
    keepAliveTimeout: 10_000,
    // On close, drop idle keep-alive sockets but let in-flight requests finish.
    forceCloseConnections: 'idle',
  });
  guardConnections(app.server, {
    headersTimeoutMs: config.limits.headersTimeoutMs,
    bodyIdleMs: config.limits.bodyIdleMs,
    minBytesPerSecond: config.limits.minUploadBytesPerSecond,
    graceMs: 10_000,
    maxPerAddress: config.limits.maxConnectionsPerAddress,
    onRefused: (reason, address) => app.log.warn({ address, reason }, 'connection closed'),
  });
  const registry = new SessionRegistry();
  app.decorate('liveSessions', registry);
  const analysis = deps.analysis ?? new AnalysisPool({ threads: config.pipeline.analysisThreads });
  const pipeline = createPipeline({
    utterances: { gapSeconds: config.pipeline.utteranceGapSeconds, maxSeconds: config.pipeline.maxUtteranceSeconds },
  });
  const service = new TranscriptionService(engine, pipeline, analysis);
  app.decorate('transcription', service);
  app.addHook('onClose', async () => analysis.close());
  await app.register(websocket, {
    // Frames over our own limit still arrive so the client gets an error event, not a bare 1009.
    options: { maxPayload: Math.max(config.limits.maxFrameBytes * 4, 4 * 1024 * 1024) },
    // Shutdown: finalize every live session (is_last), then close them with 1001.
    preClose: async () => {
      await registry.drain(config.limits.shutdownDrainMs);
      for (const client of app.websocketServer.clients) client.close(1001, 'server shutting down');
    },
  });

  const ring = config.auth.enabled ? new KeyRing(deps.keys ?? []) : undefined;
  if (ring && ring.size === 0) throw new Error('auth is enabled but no API key is configured');

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      if (err.statusCode >= 500) req.log.error({ err }, 'request failed');
      return reply.code(err.statusCode).send(err.body);
    }
    const code = (err as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return reply.code(413).send(payloadTooLarge(req.routeOptions.bodyLimit ?? 0).body);
    }
    if (code === 'FST_ERR_CTP_INVALID_JSON' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      return reply.code(400).send(badRequest('Invalid JSON body', [{ field: 'body', message: err.message }]).body);
    }
    if ((err as FastifyError).validation) {
      return reply.code(400).send(badRequest(err.message).body);
    }
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      return reply.code(status).send({ status: 'error', message: err.message, errors: [] });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send(INTERNAL_ERROR_BODY);
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ status: 'error', message: `Route ${req.method} ${req.url.split('?')[0]} not found`, errors: [] });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    return payload;
  });

  app.get('/health', async () => ({ status: 'ok', engine: engine.info }));
  // The live-captions page: static, public, holds no secrets (the user types the key).
  await app.register(webPage);

  const fetcher = new UrlFetcher({
    allow: config.url.allow,
    maxBytes: config.limits.maxBodyBytes,
    timeoutMs: config.limits.urlFetchTimeoutMs,
    maxRedirects: config.limits.urlMaxRedirects,
  });
  app.addHook('onClose', async () => fetcher.close());

  const jobs = await JobsService.create({ config, service, fetcher, log: app.log });
  app.decorate('jobs', jobs);
  // Stop taking jobs and finish (or re-queue) running ones before the engine goes away.
  app.addHook('preClose', async () => jobs.close(config.limits.shutdownDrainMs));

  // Everything under the API prefixes needs a key.
  await app.register(async (api) => {
    api.addHook('onRequest', async (req, reply) => {
      const err = checkAuth(ring, req.headers, req.query);
      if (err) return reply.code(err.statusCode).send(err.body);
    });
    await registerRateLimit(api, jobs.limits, jobs.redis);
    await api.register(jobsRoutes, { jobs });
    await api.register(batchRoutes, { config, engine, fetcher });
    await api.register(realtimeRoutes, { config, engine, registry });
  });

  return app;
}
