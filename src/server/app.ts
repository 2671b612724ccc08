/**
 * The HTTP server: Fastify, with each protocol surface an encapsulated plugin. This layer only
 * speaks the Pulse protocol; audio decoding, recognition and result building live below it.
 */
import crypto from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Engine } from '../engines/types.ts';
import { ApiError, INTERNAL_ERROR_BODY, badRequest, errorBody, payloadTooLarge } from './errors.ts';
import { KeyRing, checkAuth } from './auth.ts';
import websocket from '@fastify/websocket';
import { batchRoutes } from './batch.ts';
import { SessionRegistry, realtimeRoutes, refuseUpgradesWhile } from './realtime.ts';
import { UrlFetcher } from './url-fetch.ts';
import { webPage } from './web-page.ts';
import { guardConnections } from './connection-guard.ts';
import { REDACTED_LOG_PATHS, serializeRequest } from '../util/redact-log.ts';
import { AnalysisPool, createPipeline, type AnalysisRunner } from '../pipeline/index.ts';
import { TranscriptionService } from '../pipeline/service.ts';
import { neuralModelsFrom } from '../pipeline/stages/diarization.ts';
import { ModelManager } from '../models/manager.ts';
// Operations and the OpenAI-compatible API (issue 14).
import { Metrics } from './metrics.ts';
import { Readiness, registerHealth } from './health.ts';
import { openAiRoutes } from './openai.ts';
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
  /** Where logs go (default stdout); tests capture them. */
  logStream?: NodeJS.WritableStream;
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
  const { config } = deps;
  const app = Fastify({
    logger: {
      level: config.logLevel,
      // Keys sent as ?token= (browsers, the SDK's browser path) or in headers never reach the logs.
      serializers: { req: serializeRequest },
      redact: REDACTED_LOG_PATHS,
      ...(deps.logStream ? { stream: deps.logStream } : {}),
    },
    // One structured line per request instead (metrics.ts: route, audio, engine, RTF, outcome).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => crypto.randomUUID(),
    // Raw audio bodies are streamed and limited by the batch route itself; this bounds JSON bodies.
    bodyLimit: 1024 * 1024,
    // Keep-alive clients must not pin sockets forever.
    keepAliveTimeout: 10_000,
    // On close, drop idle keep-alive sockets but let in-flight requests finish.
    forceCloseConnections: 'idle',
    // Requests that arrive while the server closes get a 503 in the API's shape (below), not Fastify's.
    return503OnClosing: false,
    // Every route answers with and without a trailing slash (Pulse's SDK and LiveKit post to /waves/v1/stt/).
    routerOptions: { ignoreTrailingSlash: true },
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
  // --- metrics and readiness (issue 14): every engine call below goes through the measured engine.
  const readiness = new Readiness(deps.engine, () => registry.sessions.size, config.limits.maxSessions);
  const metrics = new Metrics({ engine: deps.engine, liveSessions: () => registry.sessions.size, ready: () => readiness.report().ready });
  const engine = metrics.instrumentEngine(deps.engine);
  app.decorate('metrics', metrics);
  metrics.installHooks(app, { debugLog: /^(debug|trace)$/.test(config.logLevel) });
  app.addHook('onClose', async () => metrics.close());
  // ---
  const analysis = deps.analysis ?? new AnalysisPool({ threads: config.pipeline.analysisThreads });
  // Installed catalog models are looked up per request, so `cochlea models pull` takes effect without a restart.
  const models = new ModelManager();
  const pipeline = createPipeline({
    utterances: { gapSeconds: config.pipeline.utteranceGapSeconds, maxSeconds: config.pipeline.maxUtteranceSeconds },
    diarization: { vadModel: config.engine.vadModel, neuralModels: neuralModelsFrom(models) },
    emotion: { modelsDir: models.modelsDir },
  });
  const service = new TranscriptionService(engine, pipeline, analysis);
  app.decorate('transcription', service);
  app.addHook('onClose', async () => analysis.close());
  // Set first among the close hooks (the WebSocket drain below runs after it).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  await app.register(websocket, {
    // Frames over our own limit still arrive so the client gets an error event, not a bare 1009.
    options: { maxPayload: Math.max(config.limits.maxFrameBytes * 4, 4 * 1024 * 1024) },
    // Shutdown: finalize every live session (is_last), then close them with 1001.
    preClose: async () => {
      await registry.drain(config.limits.shutdownDrainMs);
      for (const client of app.websocketServer.clients) client.close(1001, 'server shutting down');
      // A peer that does not answer the close frame (ws would wait 30 s for it) must not hold the
      // exit: give the handshakes a second, then drop what is left.
      for (let waited = 0; app.websocketServer.clients.size > 0 && waited < 1000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      for (const client of app.websocketServer.clients) client.terminate();
    },
  });
  metrics.watchWebSockets(app.websocketServer);
  // Once the drain has started, upgrades get a 503 and their socket is closed (never left open).
  refuseUpgradesWhile(app.server, () => registry.draining, (url) => app.log.info({ url: url.split('?')[0] }, 'websocket upgrade refused: server shutting down'));

  const ring = config.auth.enabled ? new KeyRing(deps.keys ?? []) : undefined;
  if (ring && ring.size === 0) throw new Error('auth is enabled but no API key is configured');

  // Errors in the shape of the path: legacy {status, message, errors}; /waves/v1/stt* {error, request_id, details}.
  const sendError = (req: FastifyRequest, reply: FastifyReply, status: number, body: Record<string, unknown>) => {
    // A 413 is answered before the body is read: close the connection rather than keep a socket
    // whose upload nobody will read (it would also hold up shutdown until the keep-alive timeout).
    if (status === 413) reply.header('connection', 'close');
    return reply.code(status).send(errorBody(req.url, req.id, body));
  };

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      // Capacity answers (503) are expected under load: one warning line, no stack trace.
      if (err.statusCode === 503) req.log.warn({ statusCode: 503, reason: err.message }, 'request refused: server busy or unavailable');
      else if (err.statusCode >= 500) req.log.error({ err }, 'request failed');
      reply.headers(err.headers);
      return sendError(req, reply, err.statusCode, err.body);
    }
    const code = (err as FastifyError).code;
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(req, reply, 413, payloadTooLarge(req.routeOptions.bodyLimit ?? 0).body);
    }
    if (code === 'FST_ERR_CTP_INVALID_JSON' || code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      return sendError(req, reply, 400, badRequest('Invalid JSON body', [{ field: 'body', message: err.message }]).body);
    }
    if ((err as FastifyError).validation) {
      return sendError(req, reply, 400, badRequest(err.message).body);
    }
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      return sendError(req, reply, status, { status: 'error', message: err.message, errors: [] });
    }
    req.log.error({ err }, 'unhandled error');
    return sendError(req, reply, 500, { ...INTERNAL_ERROR_BODY });
  });

  app.setNotFoundHandler((req, reply) => {
    sendError(req, reply, 404, { status: 'error', message: `Route ${req.method} ${req.url.split('?')[0]} not found`, errors: [] });
  });

  // Shutting down: every request but liveness is told to go elsewhere, in the shape of its path.
  app.addHook('onRequest', async (req, reply) => {
    if (!closing || req.routeOptions.url === '/health') return;
    reply.header('connection', 'close').header('retry-after', '5');
    return sendError(req, reply, 503, { status: 'error', message: 'Server is shutting down; retry on another instance', errors: [] });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    return payload;
  });

  // A WebSocket upgrade is only accepted on the real-time routes: elsewhere (/, /health, ...)
  // @fastify/websocket would complete the handshake, without auth, and then close the socket.
  const wsRoutes = new Set<string>();
  app.addHook('onRoute', (route) => {
    if ((route as { wsHandler?: unknown; websocket?: unknown }).wsHandler || (route as { websocket?: unknown }).websocket) wsRoutes.add(route.url);
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.ws && !wsRoutes.has(req.routeOptions.url ?? '')) {
      return reply.code(404).send({ status: 'error', message: `No WebSocket endpoint at ${req.url.split('?')[0]}`, errors: [] });
    }
  });

  app.get('/health', async () => ({ status: 'ok', engine: engine.info }));
  registerHealth(app, { config, engine: deps.engine, readiness, metrics, ring });
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
      if (err) return sendError(req, reply, err.statusCode, err.body);
    });
    await registerRateLimit(api, jobs.limits, jobs.redis);
    await api.register(jobsRoutes, { jobs });
    await api.register(batchRoutes, { config, service, fetcher });
    await api.register(realtimeRoutes, { config, service, registry });
  });
  // OpenAI-compatible API: its own auth hook and error shapes (openai.ts).
  await app.register(openAiRoutes, { prefix: '/v1', config, ring });

  return app;
}
