/**
 * Asynchronous jobs (Pulse's `webhook_url` flow). A request with a webhook is validated, its audio
 * stored, and answered at once; a worker transcribes it and delivers the result to the webhook.
 * Two `JobQueue`s implement the same contract: `EmbeddedJobQueue` (SQLite, one process, durable on
 * local disk) and `RedisJobQueue` (BullMQ, any number of replicas).
 */

export type JobState = 'queued' | 'processing' | 'completed' | 'failed' | 'cancelled';
export type WebhookState = 'pending' | 'delivering' | 'delivered' | 'gave_up' | 'not_sent';

export interface WebhookTarget {
  url: string;
  method: 'GET' | 'POST';
  /** `webhook_extra` pairs, returned verbatim. */
  extra: Record<string, string>;
}

/** Everything needed to run a job, stored with it (JSON). */
export interface JobSpec {
  id: string;
  /** ms since epoch. */
  createdAt: number;
  /** The request's path and query, re-parsed by the worker exactly as the sync route would. */
  path: string;
  query: Record<string, unknown>;
  /** Audio: the stored request body, or a URL the worker fetches (through the SSRF guard). */
  source: { kind: 'body'; bytes: number; filename?: string } | { kind: 'url'; url: string };
  webhook: WebhookTarget;
  /** Opaque id of the API key (a digest prefix), for per-key accounting. */
  keyId: string;
  /** `x-expire-content: true`: delete the result as soon as the webhook acknowledged it. */
  expireContent: boolean;
}

/** What a run produced: the Pulse response, or a Pulse-shaped error with its HTTP status. */
export interface JobOutcome {
  ok: boolean;
  httpStatus: number;
  body: Record<string, unknown>;
  /** ms. */
  startedAt: number;
  finishedAt: number;
}

export interface JobView {
  request_id: string;
  status: JobState;
  created_at: string;
  started_at?: string;
  finished_at?: string;
  /** Transcription attempts so far (> 1 after a crash/stall). */
  attempts: number;
  timings?: { queued_ms?: number; processing_ms?: number; total_ms?: number };
  webhook: { url: string; method: string; status: WebhookState; attempts: number; last_status?: number; delivered_at?: string };
  /** The Pulse response (or error body) while retained. */
  result?: Record<string, unknown>;
  result_expired?: boolean;
}

export type CancelResult = 'cancelled' | 'not_found' | 'not_cancellable';

export interface JobQueue {
  readonly kind: 'embedded' | 'redis';
  /** Store the job (and its audio) durably; resolves once a crash can no longer lose it. */
  enqueue(spec: JobSpec, audio: Buffer | undefined): Promise<void>;
  /** Jobs accepted but not yet started (cluster-wide with Redis). */
  depth(): Promise<number>;
  get(id: string): Promise<JobView | undefined>;
  cancel(id: string): Promise<CancelResult>;
  /** The key id that submitted a job (jobs are visible to that key only). */
  owner(id: string): Promise<string | undefined>;
  /** Begin consuming jobs. */
  start(): Promise<void>;
  /** Stop taking jobs; let running ones finish within `drainMs`, then re-queue what is left. */
  close(drainMs: number): Promise<void>;
}

/** Runs one job: decode, transcribe, format. Never throws: failures are Pulse-shaped outcomes. */
export interface JobRunner {
  run(spec: JobSpec, audio: Buffer | undefined, signal: AbortSignal): Promise<JobOutcome>;
}

export interface DeliveryResult {
  /** 2xx: acknowledged. */
  delivered: boolean;
  /** Network error or 5xx (or 408/429): try again later. Other 4xx: give up at once. */
  retry: boolean;
  status?: number;
  error?: string;
}

/** Delay before retry `n` (1-based): base·2^(n-1), capped at 10 minutes. */
export function backoffMs(base: number, n: number): number {
  return Math.min(base * 2 ** (n - 1), 10 * 60_000);
}
