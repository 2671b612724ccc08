/**
 * The job system's composition: picks the queue (embedded SQLite, or BullMQ when COCHLEA_REDIS_URL
 * is set), the audio store, the webhook signer, and the limits; `accept()` is what the batch route
 * calls when a request carries `webhook_url`.
 */
import { Readable } from 'node:stream';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { TranscriptionService } from '../pipeline/service.ts';
import { ApiError, badRequest, payloadTooLarge, serviceUnavailable } from '../server/errors.ts';
import type { UrlFetcher } from '../server/url-fetch.ts';
import { filenameFromHeaders } from '../server/batch.ts';
import { FileAudioStore, RedisAudioStore, type AudioStore } from './audio-store.ts';
import { EmbeddedJobQueue } from './embedded.ts';
import { KeyLimitTable, LocalSessionLimiter, RedisSessionLimiter, keyIdOf, type SessionLimiter } from './limits.ts';
import { PulseJobRunner, parseJobRequest, parseWebhook } from './pulse-adapter.ts';
import { RedisJobQueue } from './redis.ts';
import { fileSecret, sharedSecret } from './secret.ts';
import type { JobQueue, JobSpec } from './types.ts';
import { WebhookSender } from './webhook.ts';

export type { JobQueue } from './types.ts';

export interface JobsDeps {
  config: Config;
  service: TranscriptionService;
  fetcher: UrlFetcher;
  log: FastifyBaseLogger;
}

export interface AcceptedJob {
  status: 'processing';
  request_id: string;
}

/** Audio kept in Redis waits at most this long for a worker (it is deleted as soon as the job ran). */
const REDIS_AUDIO_TTL_S = 7 * 24 * 3600;

export class JobsService {
  readonly limits: KeyLimitTable;
  private secrets: string[] = [];
  private closing = false;

  private constructor(
    private readonly d: JobsDeps,
    readonly queue: JobQueue,
    readonly sessions: SessionLimiter,
    readonly redis: Redis | undefined,
    private readonly redisAudio: boolean,
    limits: KeyLimitTable,
  ) {
    this.limits = limits;
  }

  static async create(d: JobsDeps): Promise<JobsService> {
    const { config, log } = d;
    const j = config.jobs;
    const limits = new KeyLimitTable(j.keyLimits);
    let secrets: string[] = [];
    const runner = new PulseJobRunner(config, d.service, d.fetcher);
    const holder: { s?: JobsService } = {};
    const sender = new WebhookSender(d.fetcher, () => holder.s!.signingSecrets(), j.webhookTimeoutMs);
    let svc: JobsService;
    if (j.redisUrl) {
      const url = j.redisUrl;
      const connections: Redis[] = [];
      const connect = () => {
        const r = new Redis(url, { maxRetriesPerRequest: null });
        r.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
        connections.push(r);
        return r;
      };
      const redis = connect();
      // Fail the start with what is wrong rather than wait forever for an unreachable Redis.
      await Promise.race([
        redis.ping(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`Cannot reach Redis at COCHLEA_REDIS_URL (${redactRedisUrl(url)}) within 10 s: start Redis or fix the URL`)), 10_000).unref(),
        ),
      ]).catch(async (e) => {
        for (const c of connections) c.disconnect();
        throw e;
      });
      const audio: AudioStore = j.sharedDir ? new FileAudioStore(j.sharedDir) : new RedisAudioStore(redis, REDIS_AUDIO_TTL_S);
      const queue = new RedisJobQueue({
        connect,
        redis,
        audio,
        concurrency: j.concurrency,
        retentionHours: j.retentionHours,
        webhookRetries: j.webhookRetries,
        webhookBackoffMs: j.webhookBackoffMs,
        stalledMs: j.stalledMs,
        runner,
        sender,
        log,
      });
      const sessions = new RedisSessionLimiter(redis, j.maxSessionsTotal, limits, 30_000, (err) => log.warn({ err: err.message }, 'session limiter'));
      svc = new JobsService(d, queue, sessions, redis, !j.sharedDir, limits);
      svc.connections = connections;
      secrets = [j.webhookSecret ?? (await sharedSecret(redis, j.webhookSecretFile))];
    } else {
      const queue = new EmbeddedJobQueue({
        dir: j.stateDir,
        concurrency: j.concurrency,
        retentionHours: j.retentionHours,
        webhookRetries: j.webhookRetries,
        webhookBackoffMs: j.webhookBackoffMs,
        runner,
        sender,
        log,
      });
      svc = new JobsService(d, queue, new LocalSessionLimiter(j.maxSessionsTotal, limits), undefined, false, limits);
    }
    const previous = j.webhookSecretPrevious ? [j.webhookSecretPrevious] : [];
    if (secrets.length) svc.secrets = [...secrets, ...previous];
    // Embedded: the secret file is created only when the first webhook is signed.
    else svc.lazySecrets = () => [j.webhookSecret ?? fileSecret(j.webhookSecretFile).secret, ...previous];
    holder.s = svc;
    await svc.queue.start();
    log.info({ queue: svc.queue.kind, concurrency: j.concurrency }, 'job queue started');
    return svc;
  }

  private connections: Redis[] = [];
  private lazySecrets?: () => string[];

  private signingSecrets(): string[] {
    if (!this.secrets.length && this.lazySecrets) this.secrets = this.lazySecrets();
    return this.secrets;
  }

  /** Maximum bytes a job body may have in this deployment. */
  private maxBytes(): number {
    const l = this.d.config.limits.maxBodyBytes;
    return this.redisAudio ? Math.min(l, this.d.config.jobs.redisMaxAudioBytes) : l;
  }

  /**
   * A batch request with `webhook_url`: validate it, store it, answer `{status:"processing"}`.
   * Throws the same 400s as the sync route for bad parameters, 503 (Retry-After) when the queue is
   * full, 413 past the size limit.
   */
  async accept(req: FastifyRequest, reply: FastifyReply): Promise<AcceptedJob> {
    const { config, service, fetcher } = this.d;
    const query = { ...((req.query as Record<string, unknown> | undefined) ?? {}) };
    // A key sent as ?token= is never stored with the job.
    for (const k of Object.keys(query)) if (/^(?:token|api_key|apikey|key|access_token|auth)$/i.test(k)) delete query[k];
    const path = req.url.split('?')[0];
    const webhook = parseWebhook(query, path);
    if (!webhook) throw badRequest('webhook_url is required for an asynchronous job', [{ field: 'webhook_url', message: 'required' }]);
    parseJobRequest(query, service, path);
    try {
      fetcher.validate(webhook.url);
    } catch (e) {
      if (e instanceof ApiError) throw badRequest(String(e.body.message).replace('Audio URL', 'webhook_url'), [{ field: 'webhook_url', message: 'not an allowed webhook target' }]);
      throw e;
    }
    if (this.closing) {
      reply.header('retry-after', '5');
      throw serviceUnavailable('Server is shutting down; retry on another replica');
    }
    const depth = await this.queue.depth();
    if (config.jobs.maxQueued > 0 && depth >= config.jobs.maxQueued) {
      reply.header('retry-after', String(Math.min(300, Math.max(5, Math.ceil(depth / Math.max(1, config.jobs.concurrency))))));
      throw serviceUnavailable(`Job queue is full (${depth} jobs waiting); retry later`);
    }

    const expireContent = /^(1|true|yes)$/i.test(String(req.headers['x-expire-content'] ?? ''));
    const spec: JobSpec = {
      id: req.id,
      createdAt: Date.now(),
      path,
      query,
      source: { kind: 'url', url: '' },
      webhook,
      keyId: keyIdOf(req),
      expireContent,
    };
    let audio: Buffer | undefined;
    if (/^application\/(?:[\w.+-]+\+)?json\b/i.test(req.headers['content-type'] ?? '')) {
      const body = req.body as { url?: unknown } | null;
      if (!body || typeof body !== 'object' || body instanceof Readable || typeof body.url !== 'string' || !body.url) {
        throw badRequest('JSON body must be {"url": "<http(s) URL of the audio>"}', [{ field: 'url', message: 'required' }]);
      }
      fetcher.validate(body.url);
      spec.source = { kind: 'url', url: body.url };
    } else {
      const max = this.maxBytes();
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > max) throw this.tooLarge(max);
      audio = await readAll(req.body instanceof Readable ? req.body : req.raw, max, () => this.tooLarge(max));
      if (audio.length === 0) throw badRequest('Audio file is empty', [{ field: 'body', message: 'empty' }]);
      spec.source = { kind: 'body', bytes: audio.length, filename: filenameFromHeaders(req) };
    }
    await this.queue.enqueue(spec, audio);
    if (expireContent) reply.header('x-content-expiry', 'applied');
    req.log.info({ request_id: spec.id, queue: this.queue.kind, bytes: audio?.length }, 'job accepted');
    return { status: 'processing', request_id: spec.id };
  }

  private tooLarge(max: number): ApiError {
    const e = payloadTooLarge(max);
    if (this.redisAudio && max < this.d.config.limits.maxBodyBytes) {
      (e.body as { message: string }).message += ' for asynchronous jobs (audio is kept in Redis; set COCHLEA_JOBS_DIR to a shared directory for larger files)';
    }
    return e;
  }

  /** Stop accepting, drain or re-queue running jobs, close connections. */
  async close(drainMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.queue.close(drainMs);
    await Promise.allSettled(this.connections.map((r) => r.quit()));
  }
}

/** The Redis URL without its password, for messages. */
function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'invalid URL';
  }
}

async function readAll(stream: Readable, max: number, tooLarge: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(c as string);
    n += b.length;
    if (n > max) {
      stream.resume();
      throw tooLarge();
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, n);
}


