/**
 * The HTTP server: Fastify, with each protocol surface an encapsulated plugin. This layer only
 * speaks the Pulse protocol; audio decoding, recognition and result building live below it.
 */
import crypto from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Engine } from '../engines/types.ts';
import { ApiError, INTERNAL_ERROR_BODY, badRequest, errorBody, payloadTooLarge } from './errors.ts';
import { KeyRing, checkAuth } from './auth.ts';
import websocket from '@fastify/websocket';
import { batchRoutes } from './batch.ts';
import { SessionRegistry, realtimeRoutes } from './realtime.ts';
import { UrlFetcher } from './url-fetch.ts';
import { webPage } from './web-page.ts';
import { AnalysisPool, createPipeline, type AnalysisRunner } from '../pipeline/index.ts';
import { TranscriptionService } from '../pipeline/service.ts';

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
  }
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { config, engine } = deps;
  const app = Fastify({
    logger: { level: config.logLevel },
    genReqId: () => crypto.randomUUID(),
    // Raw audio bodies are streamed and limited by the batch route itself; this bounds JSON bodies.
    bodyLimit: 1024 * 1024,
    // Keep-alive clients must not pin sockets forever.
    keepAliveTimeout: 10_000,
    // On close, drop idle keep-alive sockets but let in-flight requests finish.
    forceCloseConnections: 'idle',
    // Every route answers with and without a trailing slash (Pulse's SDK and LiveKit post to /waves/v1/stt/).
    routerOptions: { ignoreTrailingSlash: true },
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

  // Errors in the shape of the path: legacy {status, message, errors}; /waves/v1/stt* {error, request_id, details}.
  const sendError = (req: FastifyRequest, reply: FastifyReply, status: number, body: Record<string, unknown>) => {
    // A 413 is answered before the body is read: close the connection rather than keep a socket
    // whose upload nobody will read (it would also hold up shutdown until the keep-alive timeout).
    if (status === 413) reply.header('connection', 'close');
    return reply.code(status).send(errorBody(req.url, req.id, body));
  };

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) {
      if (err.statusCode >= 500) req.log.error({ err }, 'request failed');
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

  // Everything under the API prefixes needs a key.
  await app.register(async (api) => {
    api.addHook('onRequest', async (req, reply) => {
      const err = checkAuth(ring, req.headers, req.query);
      if (err) return sendError(req, reply, err.statusCode, err.body);
    });
    await api.register(batchRoutes, { config, service, fetcher });
    await api.register(realtimeRoutes, { config, service, registry });
  });

  return app;
}
