/**
 * The embedded job queue: one SQLite database (better-sqlite3, WAL) and the audio
 * files beside it, under the state directory. No extra service; a restart loses no accepted job:
 * a job is acknowledged only after its audio is fsynced and its row committed; jobs that were
 * running when the process died are queued again at the next start, and webhook deliveries in
 * progress are resumed (at-least-once; receivers de-duplicate on Idempotency-Key).
 *
 * Claiming is one UPDATE ... RETURNING (atomic in SQLite). Webhook retries are rows with a
 * `webhook_next_at` time, so the backoff schedule survives restarts as well.
 */
import { reportWebhook } from '../server/metrics.ts';
import path from 'node:path';
import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { FastifyBaseLogger } from 'fastify';
import { FileAudioStore } from './audio-store.ts';
import { TransientJobError } from './pulse-adapter.ts';
import { backoffMs, type CancelResult, type JobOutcome, type JobQueue, type JobRunner, type JobSpec, type JobState, type JobView, type WebhookState } from './types.ts';
import type { WebhookSender } from './webhook.ts';

export interface EmbeddedOptions {
  dir: string;
  concurrency: number;
  retentionHours: number;
  webhookRetries: number;
  webhookBackoffMs: number;
  runner: JobRunner;
  sender: WebhookSender;
  log: FastifyBaseLogger;
  /** Tick for delivery retries and retention (ms). */
  tickMs?: number;
}

interface Row {
  id: string;
  spec: string;
  state: JobState;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  outcome: string | null;
  webhook_state: WebhookState;
  webhook_attempts: number;
  webhook_next_at: number | null;
  webhook_last_status: number | null;
  webhook_delivered_at: number | null;
  expires_at: number | null;
  result_expired: number;
}

const MAX_TRANSIENT_ATTEMPTS = 5;

export class EmbeddedJobQueue implements JobQueue {
  readonly kind = 'embedded' as const;
  private readonly running = new Map<string, { ac: AbortController; done: Promise<void> }>();
  private readonly delivering = new Map<string, Promise<void>>();
  private timer?: NodeJS.Timeout;
  private closing = false;
  private lastSweep = 0;

  constructor(private readonly o: EmbeddedOptions) {
    this.file = path.join(o.dir, 'jobs.sqlite');
  }

  private readonly file: string;
  private _db?: Database.Database;
  private _audio?: FileAudioStore;

  /**
   * Nothing is created on disk until the first job arrives (a server that never gets one writes
   * nothing to its config dir); an existing database is opened at start to resume its jobs.
   */
  private get db(): Database.Database {
    if (this._db) return this._db;
    fs.mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    const db = new Database(this.file);
    db.pragma('journal_mode = WAL');
    // Accepting a job syncs its commit (FULL, see enqueue); state changes after that only need to
    // survive a process crash, which WAL with synchronous=NORMAL does (an OS crash may replay them).
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        outcome TEXT,
        webhook_state TEXT NOT NULL DEFAULT 'pending',
        webhook_attempts INTEGER NOT NULL DEFAULT 0,
        webhook_next_at INTEGER,
        webhook_last_status INTEGER,
        webhook_delivered_at INTEGER,
        expires_at INTEGER,
        result_expired INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, created_at);
      CREATE INDEX IF NOT EXISTS jobs_webhook ON jobs (webhook_state, webhook_next_at);
      CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_at);
    `);
    this._db = db;
    return db;
  }

  private get audio(): FileAudioStore {
    this._audio ??= new FileAudioStore(path.join(this.o.dir, 'audio'));
    return this._audio;
  }

  /** True once a database exists (opened now if it is on disk). */
  private ready(): boolean {
    if (this._db) return true;
    if (!fs.existsSync(this.file)) return false;
    void this.db;
    return true;
  }

  async enqueue(spec: JobSpec, audio: Buffer | undefined): Promise<void> {
    if (audio) await this.audio.put(spec.id, audio);
    this.db.pragma('synchronous = FULL');
    try {
      this.db
        .prepare(`INSERT INTO jobs (id, spec, state, created_at) VALUES (?, ?, 'queued', ?)`)
        .run(spec.id, JSON.stringify(spec), spec.createdAt);
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
    setImmediate(() => this.pump());
  }

  async depth(): Promise<number> {
    if (!this.ready()) return 0;
    return (this.db.prepare(`SELECT count(*) AS n FROM jobs WHERE state = 'queued'`).get() as { n: number }).n;
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => this.tick(), this.o.tickMs ?? 250);
    this.timer.unref();
    if (!this.ready()) return;
    // Jobs that were running when the last process died run again.
    const requeued = this.db.prepare(`UPDATE jobs SET state = 'queued', started_at = NULL WHERE state = 'processing'`).run().changes;
    if (requeued) this.o.log.warn({ jobs: requeued }, 'jobs interrupted by the last shutdown were queued again');
    // Audio without a row: the process died between writing it and committing the job.
    const known = new Set((this.db.prepare(`SELECT id FROM jobs WHERE state = 'queued'`).all() as { id: string }[]).map((r) => r.id));
    for (const id of this.audio.ids()) if (!known.has(id)) await this.audio.delete(id);
    this.tick();
  }

  private tick(): void {
    if (!this._db) return;
    this.pump();
    this.deliverDue();
    if (Date.now() - this.lastSweep > 60_000) {
      this.lastSweep = Date.now();
      void this.sweep();
    }
  }

  /** Start queued jobs while there are free slots. */
  private pump(): void {
    const claim = this.db.prepare(
      `UPDATE jobs SET state = 'processing', started_at = ?, attempts = attempts + 1
       WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY created_at, rowid LIMIT 1) RETURNING *`,
    );
    while (!this.closing && this.running.size < this.o.concurrency) {
      const row = claim.get(Date.now()) as Row | undefined;
      if (!row) return;
      const ac = new AbortController();
      const done = this.process(row, ac).finally(() => {
        this.running.delete(row.id);
        setImmediate(() => this.pump());
      });
      this.running.set(row.id, { ac, done });
    }
  }

  private async process(row: Row, ac: AbortController): Promise<void> {
    const spec = JSON.parse(row.spec) as JobSpec;
    let outcome: JobOutcome;
    try {
      const audio = spec.source.kind === 'body' ? await this.audio.get(spec.id) : undefined;
      outcome = await this.o.runner.run(spec, audio, ac.signal);
    } catch (e) {
      if (e instanceof TransientJobError && row.attempts < MAX_TRANSIENT_ATTEMPTS) {
        this.db.prepare(`UPDATE jobs SET state = 'queued', started_at = NULL WHERE id = ?`).run(row.id);
        this.o.log.info({ request_id: row.id, reason: e.message }, 'job re-queued');
        return;
      }
      this.o.log.error({ err: e, request_id: row.id }, 'job failed');
      const now = Date.now();
      outcome = { ok: false, httpStatus: 500, body: { error: 'Internal server error' }, startedAt: row.started_at ?? now, finishedAt: now };
    }
    const now = Date.now();
    this.db
      .prepare(
        `UPDATE jobs SET state = ?, finished_at = ?, outcome = ?, webhook_state = 'delivering', webhook_next_at = ?, expires_at = ? WHERE id = ?`,
      )
      .run(outcome.ok ? 'completed' : 'failed', outcome.finishedAt, JSON.stringify(outcome), now, now + this.o.retentionHours * 3_600_000, row.id);
    await this.audio.delete(spec.id);
    this.o.log.info({ request_id: row.id, ok: outcome.ok, ms: outcome.finishedAt - outcome.startedAt }, 'job finished');
    this.deliverDue();
  }

  /** Send every webhook whose (re)try time has come. */
  private deliverDue(force = false): void {
    if (this.closing && !force) return;
    const rows = this.db
      .prepare(`SELECT * FROM jobs WHERE webhook_state = 'delivering' AND webhook_next_at <= ? ORDER BY webhook_next_at LIMIT 64`)
      .all(Date.now()) as Row[];
    for (const row of rows) {
      if (this.delivering.has(row.id)) continue;
      const p = this.deliver(row).finally(() => this.delivering.delete(row.id));
      this.delivering.set(row.id, p);
    }
  }

  private async deliver(row: Row): Promise<void> {
    const spec = JSON.parse(row.spec) as JobSpec;
    const outcome = JSON.parse(row.outcome!) as JobOutcome;
    const attempt = row.webhook_attempts + 1;
    const r = await this.o.sender.deliver(spec, outcome, attempt);
    const now = Date.now();
    if (r.delivered) {
      this.db
        .prepare(
          `UPDATE jobs SET webhook_state = 'delivered', webhook_attempts = ?, webhook_last_status = ?, webhook_delivered_at = ?, webhook_next_at = NULL${
            spec.expireContent ? ', outcome = NULL, result_expired = 1' : ''
          } WHERE id = ?`,
        )
        .run(attempt, r.status ?? null, now, row.id);
      this.o.log.info({ request_id: row.id, attempt, status: r.status }, 'webhook delivered');
      reportWebhook('delivered');
      return;
    }
    const giveUp = !r.retry || attempt > this.o.webhookRetries;
    reportWebhook(giveUp ? 'failed' : 'retry');
    this.db
      .prepare(`UPDATE jobs SET webhook_state = ?, webhook_attempts = ?, webhook_last_status = ?, webhook_next_at = ? WHERE id = ?`)
      .run(giveUp ? 'gave_up' : 'delivering', attempt, r.status ?? null, giveUp ? null : now + backoffMs(this.o.webhookBackoffMs, attempt), row.id);
    this.o.log[giveUp ? 'error' : 'warn']({ request_id: row.id, attempt, status: r.status, error: r.error }, giveUp ? 'webhook delivery gave up' : 'webhook delivery failed; will retry');
  }

  /** Retention: drop finished jobs (and any audio) past their expiry. */
  private async sweep(): Promise<void> {
    const gone = this.db.prepare(`DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ? AND webhook_state != 'delivering' RETURNING id`).all(Date.now()) as { id: string }[];
    for (const { id } of gone) await this.audio.delete(id);
  }

  async get(id: string): Promise<JobView | undefined> {
    if (!this.ready()) return undefined;
    const row = this.db.prepare(`SELECT * FROM jobs WHERE id = ?`).get(id) as Row | undefined;
    if (!row) return undefined;
    if (row.expires_at !== null && row.expires_at <= Date.now()) return undefined;
    return viewOf(row);
  }

  /** The API key id a job belongs to. */
  async owner(id: string): Promise<string | undefined> {
    if (!this.ready()) return undefined;
    const row = this.db.prepare(`SELECT spec FROM jobs WHERE id = ?`).get(id) as { spec: string } | undefined;
    return row ? (JSON.parse(row.spec) as JobSpec).keyId : undefined;
  }

  async cancel(id: string): Promise<CancelResult> {
    if (!this.ready()) return 'not_found';
    const now = Date.now();
    const changed = this.db
      .prepare(`UPDATE jobs SET state = 'cancelled', finished_at = ?, webhook_state = 'not_sent', expires_at = ? WHERE id = ? AND state = 'queued'`)
      .run(now, now + this.o.retentionHours * 3_600_000, id).changes;
    if (changed) {
      await this.audio.delete(id);
      return 'cancelled';
    }
    return this.db.prepare(`SELECT 1 FROM jobs WHERE id = ?`).get(id) ? 'not_cancellable' : 'not_found';
  }

  async close(drainMs: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    const all = () => Promise.allSettled([...this.running.values()].map((r) => r.done));
    const timedOut = await Promise.race([all().then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), drainMs).unref())]);
    if (timedOut) {
      // Still running: abort; the runner reports a transient error and the job is queued again.
      for (const r of this.running.values()) r.ac.abort();
      await all();
    }
    // Results finished during the drain go out now; deliveries still unfinished after a few seconds
    // (slow receiver) resume at the next start.
    if (this._db) this.deliverDue(true);
    await Promise.race([Promise.allSettled([...this.delivering.values()]), new Promise((r) => setTimeout(r, Math.min(drainMs, 5000)).unref())]);
    this._db?.close();
  }
}

function iso(ms: number | null | undefined): string | undefined {
  return ms ? new Date(ms).toISOString() : undefined;
}

function viewOf(row: Row): JobView {
  const spec = JSON.parse(row.spec) as JobSpec;
  const outcome = row.outcome ? (JSON.parse(row.outcome) as JobOutcome) : undefined;
  return buildView(spec, {
    state: row.state,
    startedAt: row.started_at ?? undefined,
    finishedAt: row.finished_at ?? undefined,
    attempts: row.attempts,
    outcome,
    webhook: { state: row.webhook_state, attempts: row.webhook_attempts, lastStatus: row.webhook_last_status ?? undefined, deliveredAt: row.webhook_delivered_at ?? undefined },
    resultExpired: !!row.result_expired,
  });
}

export interface ViewParts {
  state: JobState;
  startedAt?: number;
  finishedAt?: number;
  attempts: number;
  outcome?: Pick<JobOutcome, 'body' | 'ok' | 'httpStatus'>;
  webhook: { state: WebhookState; attempts: number; lastStatus?: number; deliveredAt?: number };
  resultExpired: boolean;
}

export function buildView(spec: JobSpec, p: ViewParts): JobView {
  const v: JobView = {
    request_id: spec.id,
    status: p.state,
    created_at: iso(spec.createdAt)!,
    started_at: iso(p.startedAt),
    finished_at: iso(p.finishedAt),
    attempts: p.attempts,
    webhook: {
      url: spec.webhook.url,
      method: spec.webhook.method,
      status: p.webhook.state,
      attempts: p.webhook.attempts,
      last_status: p.webhook.lastStatus,
      delivered_at: iso(p.webhook.deliveredAt),
    },
  };
  if (p.startedAt) {
    v.timings = { queued_ms: p.startedAt - spec.createdAt };
    if (p.finishedAt) {
      v.timings.processing_ms = p.finishedAt - p.startedAt;
      v.timings.total_ms = p.finishedAt - spec.createdAt;
    }
  }
  if (p.outcome) v.result = { ...p.outcome.body, request_id: spec.id };
  if (p.resultExpired) v.result_expired = true;
  return v;
}
