/**
 * The scale-out job queue: BullMQ on Redis. Every replica runs `Queue`s (to accept) and `Worker`s
 * (to consume), as BullMQ recommends: one queue for transcription, one for webhook retries (so a
 * failing receiver's backoff never holds a transcription slot; only the first attempt, bounded by
 * COCHLEA_WEBHOOK_TIMEOUT_MS, runs in the transcription worker).
 *
 *  - Transcription job id = request id, so a re-add is a no-op. Workers hold a lock renewed every
 *    lockDuration/2; a replica that dies stops renewing, the stalled-job check on any live replica
 *    moves the job back to wait, and another replica runs it (COCHLEA_JOBS_STALLED_MS).
 *  - A finished transcription stores its outcome (`cochlea:result:<id>`, TTL = retention), deletes
 *    the audio, and makes the first webhook attempt itself; a failed attempt adds a webhook job
 *    (id `wh-<id>`: added once even if the transcription ran twice) that retries with BullMQ's
 *    exponential backoff, up to COCHLEA_WEBHOOK_RETRIES retries in all. A re-run that finds the
 *    outcome already stored only makes sure the webhook goes out.
 */
import { reportWebhook } from '../server/metrics.ts';
import { Queue, Worker, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FastifyBaseLogger } from 'fastify';
import type { AudioStore } from './audio-store.ts';
import { TransientJobError } from './pulse-adapter.ts';
import { buildView } from './embedded.ts';
import type { CancelResult, JobOutcome, JobQueue, JobRunner, JobSpec, JobState, JobView, WebhookState } from './types.ts';
import type { WebhookSender } from './webhook.ts';

export interface RedisQueueOptions {
  /** Creates a new ioredis connection (BullMQ workers need their own, with maxRetriesPerRequest: null). */
  connect: () => Redis;
  /** Shared connection for plain commands. */
  redis: Redis;
  audio: AudioStore;
  concurrency: number;
  retentionHours: number;
  webhookRetries: number;
  webhookBackoffMs: number;
  stalledMs: number;
  runner: JobRunner;
  sender: WebhookSender;
  log: FastifyBaseLogger;
}

const PREFIX = 'cochlea';
const JOBS = 'transcribe';
const HOOKS = 'webhooks';
const resultKey = (id: string) => `cochlea:result:${id}`;
const hookKey = (id: string) => `cochlea:wh:${id}`;
const cancelKey = (id: string) => `cochlea:cancelled:${id}`;

interface HookData {
  spec: JobSpec;
  /** Attempts already made before this webhook job (the first one is made inline). */
  before: number;
}

export class RedisJobQueue implements JobQueue {
  readonly kind = 'redis' as const;
  private readonly jobs: Queue<JobSpec>;
  private readonly hooks: Queue<HookData>;
  private worker?: Worker<JobSpec>;
  private hookWorker?: Worker<HookData>;
  private readonly active = new Set<AbortController>();
  private readonly retentionSec: number;

  constructor(private readonly o: RedisQueueOptions) {
    this.retentionSec = Math.max(1, Math.round(o.retentionHours * 3600));
    this.jobs = new Queue<JobSpec>(JOBS, { connection: o.connect(), prefix: PREFIX });
    this.hooks = new Queue<HookData>(HOOKS, { connection: o.connect(), prefix: PREFIX });
  }

  async enqueue(spec: JobSpec, audio: Buffer | undefined): Promise<void> {
    if (audio) await this.o.audio.put(spec.id, audio);
    await this.jobs.add('transcribe', spec, {
      jobId: spec.id,
      attempts: 5,
      backoff: { type: 'fixed', delay: 1000 },
      removeOnComplete: { age: this.retentionSec },
      removeOnFail: { age: this.retentionSec },
    });
  }

  async depth(): Promise<number> {
    const c = await this.jobs.getJobCounts('wait', 'delayed', 'prioritized');
    return Object.values(c).reduce((a, b) => a + b, 0);
  }

  async start(): Promise<void> {
    const stalled = this.o.stalledMs;
    this.worker = new Worker<JobSpec>(JOBS, (job) => this.transcribe(job), {
      connection: this.o.connect(),
      prefix: PREFIX,
      concurrency: this.o.concurrency,
      lockDuration: stalled,
      stalledInterval: stalled,
      maxStalledCount: 3,
    });
    this.worker.on('failed', (job, err) => void this.onFailed(job, err));
    this.worker.on('error', (err) => this.o.log.error({ err }, 'job worker error'));
    this.hookWorker = new Worker<HookData>(HOOKS, (job) => this.deliver(job), {
      connection: this.o.connect(),
      prefix: PREFIX,
      concurrency: 16,
      lockDuration: Math.max(stalled, 30_000),
    });
    this.hookWorker.on('error', (err) => this.o.log.error({ err }, 'webhook worker error'));
    await Promise.all([this.worker.waitUntilReady(), this.hookWorker.waitUntilReady()]);
  }

  private async transcribe(job: Job<JobSpec>): Promise<{ ok: boolean }> {
    const spec = job.data;
    const stored = await this.o.redis.get(resultKey(spec.id));
    if (stored) {
      // Finished before (the worker died before acknowledging): only make sure the webhook goes out.
      const st = await this.o.redis.hget(hookKey(spec.id), 'state');
      if (st !== 'delivered' && st !== 'gave_up') await this.addHook(spec, 0);
      await this.o.audio.delete(spec.id);
      return { ok: (JSON.parse(stored) as JobOutcome).ok };
    }
    const ac = new AbortController();
    this.active.add(ac);
    try {
      const audio = spec.source.kind === 'body' ? await this.o.audio.get(spec.id) : undefined;
      if (spec.source.kind === 'body' && !audio) throw new UnrecoverableError(`audio of job ${spec.id} is gone`);
      const outcome = await this.o.runner.run(spec, audio, ac.signal);
      await this.finish(spec, outcome);
      this.o.log.info({ request_id: spec.id, ok: outcome.ok, ms: outcome.finishedAt - outcome.startedAt, attempt: job.attemptsMade + 1 }, 'job finished');
      return { ok: outcome.ok };
    } finally {
      this.active.delete(ac);
    }
  }

  /**
   * Store the outcome, drop the audio, and make the first delivery attempt right here (one queue
   * hop less per job); only retries go through the webhooks queue.
   */
  private async finish(spec: JobSpec, outcome: JobOutcome): Promise<void> {
    await this.o.redis.set(resultKey(spec.id), JSON.stringify(outcome), 'EX', this.retentionSec);
    await this.o.audio.delete(spec.id);
    await this.o.redis.hset(hookKey(spec.id), 'state', 'delivering');
    await this.o.redis.expire(hookKey(spec.id), this.retentionSec);
    const r = await this.attempt(spec, outcome, 1, this.o.webhookRetries === 0);
    if (!r.delivered && r.retry && this.o.webhookRetries > 0) await this.addHook(spec, 1);
  }

  private async addHook(spec: JobSpec, before: number): Promise<void> {
    await this.o.redis.hsetnx(hookKey(spec.id), 'state', 'delivering');
    await this.o.redis.expire(hookKey(spec.id), this.retentionSec);
    await this.hooks.add(
      'deliver',
      { spec, before },
      {
        jobId: `wh-${spec.id}`,
        attempts: this.o.webhookRetries + 1 - before,
        delay: before > 0 ? this.o.webhookBackoffMs : 0,
        backoff: { type: 'exponential', delay: this.o.webhookBackoffMs * 2 ** before },
        removeOnComplete: { age: this.retentionSec },
        removeOnFail: { age: this.retentionSec },
      },
    );
  }

  /** A transcription that will not be retried any more still owes its webhook an error. */
  private async onFailed(job: Job<JobSpec> | undefined, err: Error): Promise<void> {
    if (!job) return;
    const final = err instanceof UnrecoverableError || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1) || /stalled/i.test(err.message);
    if (!final || (await this.o.redis.exists(resultKey(job.data.id)))) return;
    const now = Date.now();
    this.o.log.error({ request_id: job.data.id, err: err.message }, 'job failed for good');
    const outcome: JobOutcome = { ok: false, httpStatus: err instanceof TransientJobError ? 503 : 500, body: err instanceof TransientJobError ? { status: 'error', message: 'Server could not process the job; it was retried and gave up', errors: [] } : { error: 'Internal server error' }, startedAt: job.processedOn ?? now, finishedAt: now };
    try {
      await this.finish(job.data, outcome);
    } catch (e) {
      this.o.log.error({ err: e, request_id: job.data.id }, 'could not record a failed job');
    }
  }

  private async deliver(job: Job<HookData>): Promise<void> {
    const { spec } = job.data;
    const raw = await this.o.redis.get(resultKey(spec.id));
    if (!raw) {
      await this.o.redis.hset(hookKey(spec.id), 'state', 'gave_up');
      throw new UnrecoverableError('result expired before the webhook was delivered');
    }
    const outcome = JSON.parse(raw) as JobOutcome;
    const attempt = (job.data.before ?? 0) + job.attemptsMade + 1;
    const r = await this.attempt(spec, outcome, attempt, job.attemptsMade + 1 >= (job.opts.attempts ?? 1));
    if (r.delivered) return;
    const msg = `webhook answered ${r.status ?? r.error}`;
    throw r.retry ? new Error(msg) : new UnrecoverableError(msg);
  }

  /** One delivery attempt; records it in the job's webhook hash. */
  private async attempt(spec: JobSpec, outcome: JobOutcome, attempt: number, last: boolean) {
    const r = await this.o.sender.deliver(spec, outcome, attempt);
    const k = hookKey(spec.id);
    const fields: Record<string, string | number> = { attempts: attempt };
    if (r.status !== undefined) fields.last_status = r.status;
    if (r.delivered) {
      fields.state = 'delivered';
      fields.delivered_at = Date.now();
      if (spec.expireContent) {
        fields.result_expired = 1;
        await this.o.redis.del(resultKey(spec.id));
      }
      await this.o.redis.hset(k, fields);
      this.o.log.info({ request_id: spec.id, attempt, status: r.status }, 'webhook delivered');
      reportWebhook('delivered');
      return r;
    }
    const giveUp = !r.retry || last;
    reportWebhook(giveUp ? 'failed' : 'retry');
    fields.state = giveUp ? 'gave_up' : 'delivering';
    await this.o.redis.hset(k, fields);
    this.o.log[giveUp ? 'error' : 'warn']({ request_id: spec.id, attempt, status: r.status, error: r.error }, giveUp ? 'webhook delivery gave up' : 'webhook delivery failed; will retry');
    return r;
  }

  async get(id: string): Promise<JobView | undefined> {
    const job = await this.jobs.getJob(id);
    if (!job) {
      const c = await this.o.redis.get(cancelKey(id));
      if (!c) return undefined;
      const { spec, at } = JSON.parse(c) as { spec: JobSpec; at: number };
      return buildView(spec, { state: 'cancelled', finishedAt: at, attempts: 0, webhook: { state: 'not_sent', attempts: 0 }, resultExpired: false });
    }
    const spec = job.data;
    const [st, raw, hook] = await Promise.all([job.getState(), this.o.redis.get(resultKey(id)), this.o.redis.hgetall(hookKey(id))]);
    const outcome = raw ? (JSON.parse(raw) as JobOutcome) : undefined;
    let state: JobState;
    if (st === 'active') state = 'processing';
    else if (st === 'completed' || st === 'failed') state = (outcome?.ok ?? (job.returnvalue as { ok?: boolean } | null)?.ok) ? 'completed' : 'failed';
    else state = 'queued';
    const done = state === 'completed' || state === 'failed';
    return buildView(spec, {
      state,
      startedAt: job.processedOn ?? undefined,
      finishedAt: done ? (outcome?.finishedAt ?? job.finishedOn ?? undefined) : undefined,
      attempts: job.attemptsStarted ?? job.attemptsMade,
      outcome,
      webhook: {
        state: (hook.state as WebhookState | undefined) ?? 'pending',
        attempts: Number(hook.attempts ?? 0),
        lastStatus: hook.last_status ? Number(hook.last_status) : undefined,
        deliveredAt: hook.delivered_at ? Number(hook.delivered_at) : undefined,
      },
      resultExpired: hook.result_expired === '1',
    });
  }

  async owner(id: string): Promise<string | undefined> {
    const job = await this.jobs.getJob(id);
    if (job) return job.data.keyId;
    const c = await this.o.redis.get(cancelKey(id));
    return c ? (JSON.parse(c) as { spec: JobSpec }).spec.keyId : undefined;
  }

  async cancel(id: string): Promise<CancelResult> {
    const job = await this.jobs.getJob(id);
    if (!job) return 'not_found';
    const st = await job.getState();
    if (st !== 'waiting' && st !== 'delayed' && st !== 'prioritized') return 'not_cancellable';
    try {
      await job.remove();
    } catch {
      return 'not_cancellable'; // taken by a worker in the meantime
    }
    await this.o.redis.set(cancelKey(id), JSON.stringify({ spec: job.data, at: Date.now() }), 'EX', this.retentionSec);
    await this.o.audio.delete(id);
    return 'cancelled';
  }

  async close(drainMs: number): Promise<void> {
    const closing = Promise.all([this.worker?.close(), this.hookWorker?.close()]);
    const timedOut = await Promise.race([closing.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), drainMs).unref())]);
    if (timedOut) {
      // Abort what still runs: the processor fails with a transient error and BullMQ re-queues it.
      for (const ac of this.active) ac.abort();
      await Promise.race([closing, new Promise((r) => setTimeout(r, 5000).unref())]);
    }
    await Promise.allSettled([this.jobs.close(), this.hooks.close()]);
  }
}
