/**
 * Prometheus metrics (prom-client) and structured request logs.
 *
 * Collection stays out of the route code:
 *  - HTTP requests: Fastify hooks (route label = the route pattern, never the URL);
 *  - recognition: the engine handed to the routes and the TranscriptionService is wrapped
 *    (`instrumentEngine`), so audio seconds, real-time factor and finalize latency are measured
 *    whatever route calls it;
 *  - queue, workers, live sessions: read from the pool's and the session registry's public state
 *    at scrape time;
 *  - WebSocket events: counted as the socket sends them;
 *  - audio decode errors and webhook deliveries: published on `node:diagnostics_channel`
 *    channels by one-line calls where they happen (`reportDecodeError`, `reportWebhook`).
 *
 * Label cardinality is bounded: method, route pattern, status code, engine name, mode, worker
 * index, event type, container format and error code. No key, request id or URL is a label.
 */
import { redactUrl } from '../util/redact-log.ts';
import diagnostics_channel from 'node:diagnostics_channel';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Transform, type Readable } from 'node:stream';
import client from 'prom-client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocketServer, WebSocket } from 'ws';
import type { Engine, EngineInfo, RecognitionResult, RecognizeOptions, SpeechEvent, SpeechStream, StreamOptions } from '../engines/types.ts';
import { ENGINE_SAMPLE_RATE } from '../engines/types.ts';
import type { PoolSnapshot } from '../engines/pool.ts';
import { AudioDecodeError, decodeAudio, detectFormat, type DecodeOptions, type DecodedAudio } from '../audio/index.ts';
import { DETECT_BYTES } from '../audio/detect.ts';

// ---------------------------------------------------------------------------------------------
// Event channels for code that has no handle on the app (audio decoding, webhooks).

export const DECODE_ERROR_CHANNEL = 'cochlea:audio:decode-error';
export const WEBHOOK_CHANNEL = 'cochlea:webhook';

const decodeErrors = diagnostics_channel.channel(DECODE_ERROR_CHANNEL);
const webhooks = diagnostics_channel.channel(WEBHOOK_CHANNEL);

/** An upload or stream frame could not be decoded. `format`: container name, raw encoding or "unknown". */
export function reportDecodeError(format: string, reason: string): void {
  if (decodeErrors.hasSubscribers) decodeErrors.publish({ format, reason });
}

/** A webhook POST succeeded (`delivered`), failed and will be tried again (`retry`), or was given up (`failed`). */
export function reportWebhook(event: 'delivered' | 'retry' | 'failed'): void {
  if (webhooks.hasSubscribers) webhooks.publish({ event });
}

/** Container name for a decode-error label: from the first bytes, else the raw encoding, else "unknown". */
export function formatLabel(head: Uint8Array, encoding?: string): string {
  const det = head.length ? detectFormat(head, head.length < DETECT_BYTES) : null;
  if (det) return det.container;
  return encoding ? `raw_${encoding}` : 'unknown';
}

/**
 * `decodeAudio` that reports failures (by detected container) on the decode-error channel. The
 * first bytes are copied as they stream past; nothing else is buffered.
 */
export async function decodeAudioObserved(input: Readable, opts: DecodeOptions = {}): Promise<DecodedAudio> {
  const head: Buffer[] = [];
  let headBytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (headBytes < DETECT_BYTES) {
        head.push(chunk.subarray(0, DETECT_BYTES - headBytes));
        headBytes += Math.min(chunk.length, DETECT_BYTES - headBytes);
      }
      cb(null, chunk);
    },
  });
  input.on('error', (e) => tap.destroy(e));
  tap.on('error', () => {});
  input.pipe(tap);
  try {
    return await decodeAudio(tap, opts);
  } catch (e) {
    if (e instanceof AudioDecodeError && e.code !== 'aborted') reportDecodeError(formatLabel(Buffer.concat(head), opts.encoding), e.code);
    throw e;
  } finally {
    // Let the caller drain the original stream: stop feeding the tap.
    input.unpipe(tap);
  }
}

// ---------------------------------------------------------------------------------------------
// Per-request audit (what the structured request log reports).

/** What a request did, filled in by the instrumented engine while the request runs. */
export interface RequestAudit {
  engine?: string;
  /** Seconds of audio recognized for this request. */
  audioSeconds: number;
  /** Engine decode time, seconds (for the real-time factor). */
  decodeSeconds: number;
}

const auditStore = new AsyncLocalStorage<RequestAudit>();

declare module 'fastify' {
  interface FastifyRequest {
    cochleaAudit: RequestAudit | null;
  }
  interface FastifyInstance {
    /** The server's Prometheus metrics (for the few counts routes make themselves, e.g. SSE events). */
    metrics?: Metrics;
  }
}

// ---------------------------------------------------------------------------------------------

const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const RTF_BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5];
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const FINALIZE_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5];

/** Routes polled by probes and scrapers: logged at debug, not info. */
const QUIET_ROUTES = new Set(['/health', '/ready', '/metrics']);

export interface MetricsSources {
  /** The engine as started (its pool, when it has one, is read at scrape time). */
  engine: Engine;
  /** Live real-time sessions right now. */
  liveSessions: () => number;
  /** 1 when /ready would answer 200. */
  ready?: () => boolean;
}

interface PoolLike {
  snapshot(): PoolSnapshot;
  observeQueueWait(fn: (seconds: number) => void): () => void;
}

function poolOf(engine: Engine): PoolLike | undefined {
  const pool = (engine as { pool?: Partial<PoolLike> }).pool;
  return pool && typeof pool.snapshot === 'function' && typeof pool.observeQueueWait === 'function' ? (pool as PoolLike) : undefined;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly httpRequests: client.Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: client.Histogram<'method' | 'route'>;
  readonly audioSeconds: client.Counter<'engine' | 'mode'>;
  readonly decodeSeconds: client.Counter<'engine' | 'mode'>;
  readonly realTimeFactor: client.Histogram<'engine' | 'mode'>;
  readonly engineErrors: client.Counter<'engine' | 'code'>;
  readonly queueWait: client.Histogram;
  readonly finalizeLatency: client.Histogram<'engine'>;
  readonly eventsSent: client.Counter<'transport' | 'type'>;
  readonly connections: client.Counter;
  readonly decodeErrors: client.Counter<'format' | 'reason'>;
  readonly webhookDeliveries: client.Counter<'outcome'>;
  readonly webhookRetries: client.Counter;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly sources: MetricsSources) {
    const r = [this.registry];
    client.collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new client.Counter({
      name: 'cochlea_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code',
      labelNames: ['method', 'route', 'status'],
      registers: r,
    });
    this.httpDuration = new client.Histogram({
      name: 'cochlea_http_request_duration_seconds',
      help: 'HTTP request duration (first byte in to last byte out), by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: HTTP_BUCKETS,
      registers: r,
    });
    this.audioSeconds = new client.Counter({
      name: 'cochlea_audio_seconds_total',
      help: 'Seconds of audio given to the engine: mode=batch (whole files) or stream (real-time sessions, SSE)',
      labelNames: ['engine', 'mode'],
      registers: r,
    });
    this.decodeSeconds = new client.Counter({
      name: 'cochlea_engine_decode_seconds_total',
      help: 'Engine decode time (worker CPU per request or final, excluding queueing); rate(decode)/rate(audio) is the real-time factor',
      labelNames: ['engine', 'mode'],
      registers: r,
    });
    this.realTimeFactor = new client.Histogram({
      name: 'cochlea_engine_real_time_factor',
      help: 'Decode time / audio duration, per batch request and per real-time final',
      labelNames: ['engine', 'mode'],
      buckets: RTF_BUCKETS,
      registers: r,
    });
    this.engineErrors = new client.Counter({
      name: 'cochlea_engine_errors_total',
      help: 'Batch recognitions that failed, by engine error code (queue_full, aborted, worker_crashed, ...)',
      labelNames: ['engine', 'code'],
      registers: r,
    });
    this.queueWait = new client.Histogram({
      name: 'cochlea_queue_wait_seconds',
      help: 'Time a batch job waited for a free engine worker',
      buckets: WAIT_BUCKETS,
      registers: r,
    });
    this.finalizeLatency = new client.Histogram({
      name: 'cochlea_finalize_latency_seconds',
      help: 'Real-time finalize: time from the finalize request to its final reaching the server',
      labelNames: ['engine'],
      buckets: FINALIZE_BUCKETS,
      registers: r,
    });
    this.eventsSent = new client.Counter({
      name: 'cochlea_events_sent_total',
      help: 'Real-time events sent to clients: transport=websocket (partial, final, speech_started, speech_ended, error) or sse (OpenAI transcript.text.*)',
      labelNames: ['transport', 'type'],
      registers: r,
    });
    this.connections = new client.Counter({
      name: 'cochlea_websocket_connections_total',
      help: 'WebSocket connections accepted',
      registers: r,
    });
    this.decodeErrors = new client.Counter({
      name: 'cochlea_audio_decode_errors_total',
      help: 'Audio that could not be decoded, by container format (or raw_<encoding> / unknown) and reason',
      labelNames: ['format', 'reason'],
      registers: r,
    });
    this.webhookDeliveries = new client.Counter({
      name: 'cochlea_webhook_deliveries_total',
      help: 'Webhook deliveries by final outcome (delivered, failed = gave up after retries)',
      labelNames: ['outcome'],
      registers: r,
    });
    this.webhookRetries = new client.Counter({
      name: 'cochlea_webhook_retries_total',
      help: 'Webhook attempts that failed and were retried',
      registers: r,
    });

    // State read at scrape time.
    const pool = poolOf(sources.engine);
    new client.Gauge({
      name: 'cochlea_live_sessions',
      help: 'Real-time WebSocket sessions open now',
      registers: r,
      collect() {
        this.set(sources.liveSessions());
      },
    });
    if (sources.ready) {
      const ready = sources.ready;
      new client.Gauge({
        name: 'cochlea_ready',
        help: '1 when GET /ready answers 200 (workers up, capacity left, not draining)',
        registers: r,
        collect() {
          this.set(ready() ? 1 : 0);
        },
      });
    }
    if (pool) {
      this.unsubscribe.push(pool.observeQueueWait((s) => this.queueWait.observe(s)));
      new client.Gauge({
        name: 'cochlea_queue_depth',
        help: 'Batch jobs waiting for an engine worker',
        registers: r,
        collect() {
          this.set(pool.snapshot().queued);
        },
      });
      new client.Gauge({
        name: 'cochlea_queue_capacity',
        help: 'Batch jobs that may wait before new requests get 503 (COCHLEA_MAX_QUEUED_JOBS)',
        registers: r,
        collect() {
          this.set(pool.snapshot().maxQueue);
        },
      });
      new client.Gauge({
        name: 'cochlea_engine_workers',
        help: 'Engine worker threads by state (ready, not_ready = starting or restarting)',
        labelNames: ['state'],
        registers: r,
        collect() {
          const ws = pool.snapshot().workers;
          const ready = ws.filter((w) => w.ready).length;
          this.set({ state: 'ready' }, ready);
          this.set({ state: 'not_ready' }, ws.length - ready);
        },
      });
      new client.Gauge({
        name: 'cochlea_engine_worker_jobs',
        help: 'Batch jobs and real-time sessions running on engine workers now',
        labelNames: ['kind'],
        registers: r,
        collect() {
          const ws = pool.snapshot().workers;
          this.set({ kind: 'batch' }, ws.reduce((a, w) => a + w.jobs, 0));
          this.set({ kind: 'session' }, ws.reduce((a, w) => a + w.sessions, 0));
        },
      });
      let lastRestarts = 0;
      new client.Counter({
        name: 'cochlea_engine_worker_restarts_total',
        help: 'Engine worker threads replaced after a crash',
        registers: r,
        collect() {
          const n = pool.snapshot().restarts;
          if (n > lastRestarts) this.inc(n - lastRestarts);
          lastRestarts = n;
        },
      });
      const lastBusy = new Map<number, number>();
      new client.Counter({
        name: 'cochlea_engine_worker_busy_seconds_total',
        help: 'Time each engine worker thread was busy (its event-loop utilisation); rate() is its utilisation',
        labelNames: ['worker'],
        registers: r,
        collect() {
          for (const w of pool.snapshot().workers) {
            const prev = lastBusy.get(w.index) ?? 0;
            if (w.activeSeconds > prev) this.inc({ worker: String(w.index) }, w.activeSeconds - prev);
            lastBusy.set(w.index, Math.max(prev, w.activeSeconds));
          }
        },
      });
      const lastUtil = new Map<number, { at: number; busy: number }>();
      const startedAt = performance.now();
      new client.Gauge({
        name: 'cochlea_engine_worker_utilization',
        help: 'Fraction of the time since the previous scrape each engine worker thread was busy (0..1)',
        labelNames: ['worker'],
        registers: r,
        collect() {
          const now = performance.now();
          for (const w of pool.snapshot().workers) {
            const prev = lastUtil.get(w.index) ?? { at: startedAt, busy: 0 };
            const dt = (now - prev.at) / 1000;
            const util = dt > 0 ? Math.min(1, Math.max(0, (w.activeSeconds - prev.busy) / dt)) : 0;
            this.set({ worker: String(w.index) }, util);
            lastUtil.set(w.index, { at: now, busy: w.activeSeconds });
          }
        },
      });
    }

    const onDecodeError = (msg: unknown) => {
      const m = msg as { format: string; reason: string };
      this.decodeErrors.inc({ format: m.format, reason: m.reason });
    };
    const onWebhook = (msg: unknown) => {
      const e = (msg as { event: string }).event;
      if (e === 'retry') this.webhookRetries.inc();
      else this.webhookDeliveries.inc({ outcome: e });
    };
    diagnostics_channel.subscribe(DECODE_ERROR_CHANNEL, onDecodeError);
    diagnostics_channel.subscribe(WEBHOOK_CHANNEL, onWebhook);
    this.unsubscribe.push(
      () => diagnostics_channel.unsubscribe(DECODE_ERROR_CHANNEL, onDecodeError),
      () => diagnostics_channel.unsubscribe(WEBHOOK_CHANNEL, onWebhook),
    );
  }

  /** Prometheus text exposition. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.registry.clear();
  }

  /** The engine the routes and the transcription service use: same behaviour, measured. */
  instrumentEngine(engine: Engine): Engine {
    return new InstrumentedEngine(engine, this);
  }

  /** Count every event a WebSocket server's sockets send, and its connections. */
  watchWebSockets(wss: WebSocketServer): void {
    wss.on('connection', (ws: WebSocket) => {
      this.connections.inc();
      const send = ws.send.bind(ws) as (...a: unknown[]) => void;
      (ws as { send: unknown }).send = (data: unknown, ...rest: unknown[]) => {
        this.eventsSent.inc({ transport: 'websocket', type: wsEventType(data) });
        return send(data, ...rest);
      };
    });
  }

  /** HTTP request counting, durations and the one structured log line per request. */
  installHooks(app: FastifyInstance, opts: { debugLog: boolean }): void {
    app.decorateRequest('cochleaAudit', null);
    // Callback style so the rest of the request (hooks, handler) runs inside the audit's context.
    app.addHook('onRequest', (req, _reply, done) => {
      const audit: RequestAudit = { audioSeconds: 0, decodeSeconds: 0 };
      req.cochleaAudit = audit;
      auditStore.run(audit, done);
    });
    app.addHook('onResponse', async (req, reply) => {
      const route = routeLabel(req);
      const seconds = reply.elapsedTime / 1000;
      this.httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
      this.httpDuration.observe({ method: req.method, route }, seconds);
      logRequest(req, reply, route, 'completed', opts.debugLog);
    });
    app.addHook('onRequestAbort', async (req) => {
      logRequest(req, undefined, routeLabel(req), 'aborted', opts.debugLog);
    });
  }
}

function routeLabel(req: FastifyRequest): string {
  return req.routeOptions?.url ?? 'unmatched';
}

const WS_TYPES = new Set(['speech_started', 'speech_ended', 'error']);

/** Event type of a JSON text frame, from a bounded set. */
function wsEventType(data: unknown): string {
  if (typeof data !== 'string') return 'binary';
  const m = /"type"\s*:\s*"([a-z_.]+)"/.exec(data.slice(0, 64));
  if (!m) return 'other';
  if (m[1] === 'transcription') return /"is_final"\s*:\s*true/.test(data) ? 'final' : 'partial';
  return WS_TYPES.has(m[1]) ? m[1] : 'other';
}

function outcomeOf(status: number | undefined, how: 'completed' | 'aborted'): string {
  if (how === 'aborted' || status === 499) return 'aborted';
  if (status === undefined) return 'unknown';
  if (status < 400) return 'success';
  if (status === 401 || status === 403) return 'unauthorized';
  if (status === 503 || status === 429) return 'overloaded';
  if (status < 500) return 'rejected';
  return 'error';
}

/**
 * One line per request: id (pino's reqId), route pattern, status, duration, audio seconds,
 * engine, real-time factor, outcome. The URL is logged without its query (which may carry
 * `?token=`) and never the transcript; at debug level the query is logged with `token` removed.
 */
function logRequest(req: FastifyRequest, reply: FastifyReply | undefined, route: string, how: 'completed' | 'aborted', debugLog: boolean): void {
  const a = req.cochleaAudit;
  const status = reply?.statusCode;
  const line: Record<string, unknown> = {
    method: req.method,
    route,
    statusCode: status,
    responseTimeMs: reply ? Math.round(reply.elapsedTime * 10) / 10 : undefined,
    outcome: outcomeOf(status, how),
  };
  if (a?.engine) {
    line.engine = a.engine;
    line.audioSeconds = Math.round(a.audioSeconds * 1000) / 1000;
    if (a.audioSeconds > 0) line.rtf = Math.round((a.decodeSeconds / a.audioSeconds) * 10000) / 10000;
  }
  if (debugLog) line.query = redactQuery(req.url);
  const quiet = QUIET_ROUTES.has(route) && line.outcome === 'success';
  if (quiet) req.log.debug(line, 'request ' + how);
  else req.log.info(line, 'request ' + how);
}

/** The query string without credentials. */
export function redactQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? '' : (redactUrl(url.slice(q)) ?? '').slice(1);
}

// ---------------------------------------------------------------------------------------------

class InstrumentedEngine implements Engine {
  /** The wrapped engine's worker pool, when it has one (tests and diagnostics reach for it). */
  readonly pool: unknown;
  constructor(
    readonly inner: Engine,
    private readonly m: Metrics,
  ) {
    this.pool = (inner as { pool?: unknown }).pool;
  }

  get info(): EngineInfo {
    return this.inner.info;
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  async recognize(pcm: Float32Array, options?: RecognizeOptions): Promise<RecognitionResult> {
    const engine = this.inner.info.name;
    const audit = auditStore.getStore();
    let r: RecognitionResult;
    try {
      r = await this.inner.recognize(pcm, options);
    } catch (e) {
      this.m.engineErrors.inc({ engine, code: String((e as { code?: unknown }).code ?? 'unknown') });
      throw e;
    }
    const labels = { engine, mode: 'batch' };
    this.m.audioSeconds.inc(labels, r.duration);
    this.m.decodeSeconds.inc(labels, r.decodeSeconds);
    if (r.duration > 0) this.m.realTimeFactor.observe(labels, r.decodeSeconds / r.duration);
    if (audit) {
      audit.engine = engine;
      audit.audioSeconds += r.duration;
      audit.decodeSeconds += r.decodeSeconds;
    }
    return r;
  }

  stream(options?: StreamOptions): SpeechStream {
    const audit = auditStore.getStore();
    if (audit) audit.engine = this.inner.info.name;
    return new InstrumentedStream(this.inner.stream(options), this.m, this.inner.info.name, audit);
  }
}

class InstrumentedStream implements SpeechStream {
  private readonly finalizeAt: number[] = [];
  private readonly audio: client.Counter<'engine' | 'mode'>;
  private readonly labels: { engine: string; mode: string };
  constructor(
    private readonly inner: SpeechStream,
    private readonly m: Metrics,
    private readonly engine: string,
    private readonly audit: RequestAudit | undefined,
  ) {
    this.audio = m.audioSeconds;
    this.labels = { engine, mode: 'stream' };
  }

  get id(): string {
    return this.inner.id;
  }

  get pendingSeconds(): number {
    return this.inner.pendingSeconds;
  }

  pushAudio(pcm: Float32Array): void {
    this.inner.pushAudio(pcm);
    const s = pcm.length / ENGINE_SAMPLE_RATE;
    this.audio.inc(this.labels, s);
    if (this.audit) this.audit.audioSeconds += s;
  }

  finalize(): void {
    this.finalizeAt.push(performance.now());
    this.inner.finalize();
  }

  end(): void {
    this.inner.end();
  }

  abort(): void {
    this.inner.abort();
  }

  private observe(ev: SpeechEvent): void {
    if (ev.type !== 'final') return;
    if (ev.decodeSeconds !== undefined) {
      this.m.decodeSeconds.inc(this.labels, ev.decodeSeconds);
      if (this.audit) this.audit.decodeSeconds += ev.decodeSeconds;
      const dur = ev.end - ev.start;
      if (dur > 0) this.m.realTimeFactor.observe(this.labels, ev.decodeSeconds / dur);
    }
    if (ev.fromFinalize) {
      const t0 = this.finalizeAt.shift();
      if (t0 !== undefined) this.m.finalizeLatency.observe({ engine: this.engine }, (performance.now() - t0) / 1000);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<SpeechEvent> {
    const it = this.inner[Symbol.asyncIterator]();
    return {
      next: async () => {
        const r = await it.next();
        if (!r.done) this.observe(r.value);
        return r;
      },
      return: async () => (it.return ? it.return() : { value: undefined, done: true }),
    };
  }
}
