/**
 * Runtime configuration, from environment variables (CLI flags are applied as variables before
 * anything is derived, so `--engine sherpa` and `COCHLEA_ENGINE=sherpa` give the same config).
 * Every limit the server enforces lives here, so each is configurable. This is the only module
 * that reads `process.env`; code that runs without a Config at hand (worker threads, the model
 * tools, the ffmpeg wrapper) uses the small getters at the end of this file.
 */
import os from 'node:os';
import path from 'node:path';
import { backendConfigFromEnv, jsonSetting, parseEngineKind, type EngineKind } from './engines/registry.ts';
import { DEFAULT_MAX_PUSH_SECONDS } from './audio/types.ts';
import { DEFAULT_JOB_DEADLINE } from './engines/errors.ts';

export type { EngineKind } from './engines/registry.ts';
export { DEFAULT_SHERPA_CONFIG } from './engines/registry.ts';

export interface Limits {
  /** Largest accepted request body / fetched URL, bytes. */
  maxBodyBytes: number;
  /** Longest accepted audio, seconds. */
  maxAudioSeconds: number;
  /** Time allowed to fetch an audio URL, ms. */
  urlFetchTimeoutMs: number;
  /** Redirects followed when fetching an audio URL. */
  urlMaxRedirects: number;
  /** Batch jobs waiting for a worker beyond which new requests get 503. */
  maxQueuedJobs: number;
  /** Concurrent real-time sessions. */
  maxSessions: number;
  /** Close a real-time session that sent no audio for this long, ms. */
  sessionIdleMs: number;
  /** Longest real-time session, seconds. */
  maxSessionSeconds: number;
  /** Largest single WebSocket frame, bytes. */
  maxFrameBytes: number;
  /** Audio a session may have queued but not yet decoded, seconds. */
  maxBufferedSeconds: number;
  /** On shutdown, time given to live sessions to deliver their last final, ms. */
  shutdownDrainMs: number;
  /** On a client's close frame, time allowed to flush and send the last final before closing, ms. */
  closeFlushMs: number;
  /** A connection must send complete request headers (or a WebSocket upgrade) within this, ms. */
  headersTimeoutMs: number;
  /** An upload that sends nothing for this long is closed, ms. */
  bodyIdleMs: number;
  /** After the first 10 s, an upload averaging less than this is closed, bytes/s. */
  minUploadBytesPerSecond: number;
  /** Concurrent connections one client address may hold. */
  maxConnectionsPerAddress: number;
  /** Audio one WebSocket frame may hold, seconds (checked before decoding it). */
  maxFrameSeconds: number;
  /** Decoded batch audio the whole process may hold at once, seconds (beyond it: 503 + Retry-After). */
  maxInflightAudioSeconds: number;
  /** A recognition job may run for this many times its audio duration... */
  jobDeadlineFactor: number;
  /** ...plus this many seconds, before it is stopped (0 factor and floor: no deadline). */
  jobDeadlineFloorSeconds: number;
  /**
   * On SIGTERM, time `/ready` answers 503 (draining) while the server still serves everything,
   * before it starts closing, ms: lets a load balancer take it out of rotation first.
   */
  shutdownDelayMs: number;
  /**
   * Bytes a real-time socket may have queued for sending (replies its client has not read) before
   * the session is closed 1008: a client that does not read cannot make the server buffer forever.
   */
  wsMaxBufferedBytes: number;
  /**
   * Invalid client messages (non-JSON text, undecodable or oversized audio frames) a real-time
   * session tolerates after the first, which alone is answered with an error event; one more
   * closes the session 1008.
   */
  wsErrorBudget: number;
}

/** `/metrics` exposure: on the API port with a key (default), without one, or not at all. */
export type MetricsMode = 'auth' | 'public' | 'off';

export interface MetricsConfig {
  mode: MetricsMode;
  /** Serve `/metrics` (and `/health`, `/ready`) on this separate port instead of the API port. */
  port?: number;
  /** Interface of the separate metrics port (default: HOST). */
  host: string;
}

export interface Config {
  host: string;
  port: number;
  logLevel: string;
  /** Where generated keys and local state live (XDG config dir by default). */
  configDir: string;
  auth: {
    /** False only when explicitly turned off. */
    enabled: boolean;
    keys: string[];
    /** File with one key per line; read if present, written with a generated key on first start. */
    keysFile: string;
  };
  url: {
    /** Hosts, IPs or CIDRs that may be fetched even though they are private/loopback/link-local. */
    allow: string[];
  };
  engine: {
    kind: EngineKind;
    /** Worker threads; default: one per core. */
    workers: number;
    /** Silero VAD ONNX file, if available. */
    vadModel?: string;
    /** Idle Silero VADs kept per worker (COCHLEA_MAX_IDLE_VADS). */
    maxIdleVads: number;
    backendConfig?: unknown;
  };
  pipeline: {
    /** Pause (s) that splits utterances. */
    utteranceGapSeconds: number;
    /** Utterances longer than this (s) are split at their longest pause. */
    maxUtteranceSeconds: number;
    /** Worker threads for audio analysis (diarization, gender, emotion). */
    analysisThreads: number;
  };
  limits: Limits;
  metrics: MetricsConfig;
  jobs: JobsConfig;
}

/** Per-key limits (COCHLEA_KEY_LIMITS); 0 means unlimited. */
export interface KeyLimits {
  /** Batch/HTTP requests per minute. */
  requestsPerMinute: number;
  /** Concurrent real-time sessions. */
  maxSessions: number;
}

export interface KeyLimitsConfig {
  default: KeyLimits;
  /** By API key, or by `sha256:<hex>` of the key (so the file need not hold keys). */
  keys: Record<string, Partial<KeyLimits>>;
}

/** Asynchronous jobs (webhook_url), their queue, webhooks and cluster-wide limits. */
export interface JobsConfig {
  /** COCHLEA_REDIS_URL: jobs go through BullMQ on this Redis; limits are cluster-wide. Unset: embedded SQLite queue. */
  redisUrl?: string;
  /** Where the embedded queue keeps its database and audio (default <configDir>/jobs). */
  stateDir: string;
  /** COCHLEA_JOBS_DIR: directory every replica can read (Redis mode: audio goes there instead of into Redis). */
  sharedDir?: string;
  /** Redis mode without a shared dir: largest audio body kept in Redis, bytes (larger: 413). */
  redisMaxAudioBytes: number;
  /** Jobs one process transcribes at once. */
  concurrency: number;
  /** Accepted jobs waiting beyond which new ones get 503 (cluster-wide with Redis). */
  maxQueued: number;
  /** Results (and any audio left) are deleted this long after a job finishes, hours. */
  retentionHours: number;
  /** HMAC-SHA256 key for webhook signatures; generated into `webhookSecretFile` when unset. */
  webhookSecret?: string;
  /** The secret being rotated out: deliveries carry a signature with each. */
  webhookSecretPrevious?: string;
  webhookSecretFile: string;
  /** Retries after the first attempt (Pulse: 10). */
  webhookRetries: number;
  /** First retry delay, ms; doubles each retry (capped at 10 min). */
  webhookBackoffMs: number;
  webhookTimeoutMs: number;
  /** Redis mode: a job whose worker stopped renewing its lock for this long is retried elsewhere, ms. */
  stalledMs: number;
  /** Real-time sessions in total across every replica (per process without Redis); 0 = no limit beyond COCHLEA_MAX_SESSIONS per process. */
  maxSessionsTotal: number;
  keyLimits: KeyLimitsConfig;
}

function num(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const v = env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${v}"`);
  return n;
}

function list(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function boolEnv(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new Error(`expected a boolean, got "${v}"`);
}

function keyLimits(env: NodeJS.ProcessEnv): KeyLimitsConfig {
  const def: KeyLimits = {
    requestsPerMinute: num(env, 'COCHLEA_RATE_LIMIT_RPM', 0),
    maxSessions: num(env, 'COCHLEA_MAX_SESSIONS_PER_KEY', 0),
  };
  const raw = jsonSetting('COCHLEA_KEY_LIMITS', env.COCHLEA_KEY_LIMITS, {}) as { default?: Partial<KeyLimits>; keys?: Record<string, Partial<KeyLimits>> };
  if (!raw || typeof raw !== 'object') throw new Error('COCHLEA_KEY_LIMITS must be a JSON object {"default": {...}, "keys": {...}}');
  const check = (where: string, l: unknown): Partial<KeyLimits> => {
    if (!l || typeof l !== 'object') throw new Error(`COCHLEA_KEY_LIMITS ${where} must be an object`);
    for (const [k, v] of Object.entries(l)) {
      if (k !== 'requestsPerMinute' && k !== 'maxSessions') throw new Error(`COCHLEA_KEY_LIMITS ${where}: unknown limit "${k}" (requestsPerMinute, maxSessions)`);
      if (typeof v !== 'number' || !(v >= 0)) throw new Error(`COCHLEA_KEY_LIMITS ${where}.${k} must be a non-negative number`);
    }
    return l as Partial<KeyLimits>;
  };
  const keys: Record<string, Partial<KeyLimits>> = {};
  for (const [k, l] of Object.entries(raw.keys ?? {})) keys[k] = check(`keys entry`, l);
  return { default: { ...def, ...(raw.default ? check('default', raw.default) : {}) }, keys };
}

export function defaultConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.COCHLEA_CONFIG_DIR) return path.resolve(env.COCHLEA_CONFIG_DIR);
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'cochlea');
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const configDir = defaultConfigDir(env);
  const kind: EngineKind = parseEngineKind(env.COCHLEA_ENGINE);
  const MB = 1024 * 1024;
  const metricsMode = (env.COCHLEA_METRICS || 'auth') as MetricsMode;
  if (!['auth', 'public', 'off'].includes(metricsMode)) {
    throw new Error(`COCHLEA_METRICS must be auth, public or off, got "${metricsMode}"`);
  }
  return {
    host: env.HOST || '0.0.0.0',
    port: num(env, 'PORT', 8080),
    logLevel: env.LOG_LEVEL || 'info',
    configDir,
    auth: {
      enabled: !(boolEnv(env.COCHLEA_DISABLE_AUTH) ?? false),
      keys: list(env.COCHLEA_API_KEYS),
      keysFile: env.COCHLEA_API_KEYS_FILE ? path.resolve(env.COCHLEA_API_KEYS_FILE) : path.join(configDir, 'api-keys'),
    },
    url: { allow: list(env.COCHLEA_URL_ALLOW) },
    engine: {
      kind,
      workers: num(env, 'COCHLEA_WORKERS', os.availableParallelism()),
      vadModel: env.COCHLEA_VAD_MODEL || undefined,
      maxIdleVads: num(env, 'COCHLEA_MAX_IDLE_VADS', 8),
      backendConfig: backendConfigFromEnv(kind, env),
    },
    pipeline: {
      utteranceGapSeconds: num(env, 'COCHLEA_UTTERANCE_GAP', 0.8),
      maxUtteranceSeconds: num(env, 'COCHLEA_MAX_UTTERANCE_SECONDS', 30),
      analysisThreads: Math.max(1, num(env, 'COCHLEA_ANALYSIS_THREADS', 1)),
    },
    limits: {
      maxBodyBytes: num(env, 'COCHLEA_MAX_BODY_MB', 250) * MB,
      maxAudioSeconds: num(env, 'COCHLEA_MAX_AUDIO_SECONDS', 4 * 3600),
      urlFetchTimeoutMs: num(env, 'COCHLEA_URL_TIMEOUT_MS', 120_000),
      urlMaxRedirects: num(env, 'COCHLEA_URL_MAX_REDIRECTS', 5),
      maxQueuedJobs: num(env, 'COCHLEA_MAX_QUEUED_JOBS', 256),
      maxSessions: num(env, 'COCHLEA_MAX_SESSIONS', 64),
      sessionIdleMs: num(env, 'COCHLEA_SESSION_IDLE_MS', 30_000),
      maxSessionSeconds: num(env, 'COCHLEA_MAX_SESSION_SECONDS', 4 * 3600),
      maxFrameBytes: num(env, 'COCHLEA_MAX_FRAME_BYTES', 1 * MB),
      maxBufferedSeconds: num(env, 'COCHLEA_MAX_BUFFERED_SECONDS', 60),
      shutdownDrainMs: num(env, 'COCHLEA_SHUTDOWN_DRAIN_MS', 10_000),
      closeFlushMs: num(env, 'COCHLEA_CLOSE_FLUSH_MS', 5_000),
      headersTimeoutMs: num(env, 'COCHLEA_HEADERS_TIMEOUT_MS', 15_000),
      bodyIdleMs: num(env, 'COCHLEA_BODY_IDLE_MS', 30_000),
      minUploadBytesPerSecond: num(env, 'COCHLEA_MIN_UPLOAD_BYTES_PER_SEC', 1024),
      maxConnectionsPerAddress: num(env, 'COCHLEA_MAX_CONNECTIONS_PER_ADDRESS', 128),
      maxFrameSeconds: num(env, 'COCHLEA_MAX_FRAME_SECONDS', DEFAULT_MAX_PUSH_SECONDS),
      maxInflightAudioSeconds: num(env, 'COCHLEA_MAX_INFLIGHT_AUDIO_SECONDS', 4 * 3600),
      jobDeadlineFactor: num(env, 'COCHLEA_JOB_DEADLINE_FACTOR', DEFAULT_JOB_DEADLINE.factor),
      jobDeadlineFloorSeconds: num(env, 'COCHLEA_JOB_DEADLINE_FLOOR_SECONDS', DEFAULT_JOB_DEADLINE.floorSeconds),
      shutdownDelayMs: num(env, 'COCHLEA_SHUTDOWN_DELAY_MS', 0),
      wsMaxBufferedBytes: num(env, 'COCHLEA_WS_MAX_BUFFERED_BYTES', 1 * MB),
      wsErrorBudget: num(env, 'COCHLEA_WS_ERROR_BUDGET', 10),
    },
    metrics: {
      mode: metricsMode,
      port: env.COCHLEA_METRICS_PORT ? num(env, 'COCHLEA_METRICS_PORT', 0) : undefined,
      host: env.COCHLEA_METRICS_HOST || env.HOST || '0.0.0.0',
    },
    jobs: {
      redisUrl: env.COCHLEA_REDIS_URL || undefined,
      stateDir: path.join(configDir, 'jobs'),
      sharedDir: env.COCHLEA_JOBS_DIR ? path.resolve(env.COCHLEA_JOBS_DIR) : undefined,
      redisMaxAudioBytes: num(env, 'COCHLEA_JOBS_REDIS_MAX_MB', 32) * MB,
      concurrency: Math.max(1, num(env, 'COCHLEA_JOB_CONCURRENCY', Math.max(1, num(env, 'COCHLEA_WORKERS', os.availableParallelism())))),
      maxQueued: num(env, 'COCHLEA_MAX_QUEUED_ASYNC_JOBS', 10_000),
      retentionHours: num(env, 'COCHLEA_JOB_RETENTION_HOURS', 24),
      webhookSecret: env.COCHLEA_WEBHOOK_SECRET || undefined,
      webhookSecretPrevious: env.COCHLEA_WEBHOOK_SECRET_PREVIOUS || undefined,
      webhookSecretFile: env.COCHLEA_WEBHOOK_SECRET_FILE ? path.resolve(env.COCHLEA_WEBHOOK_SECRET_FILE) : path.join(configDir, 'webhook-secret'),
      webhookRetries: num(env, 'COCHLEA_WEBHOOK_RETRIES', 10),
      webhookBackoffMs: num(env, 'COCHLEA_WEBHOOK_BACKOFF_MS', 1000),
      webhookTimeoutMs: num(env, 'COCHLEA_WEBHOOK_TIMEOUT_MS', 15_000),
      stalledMs: Math.max(500, num(env, 'COCHLEA_JOBS_STALLED_MS', 30_000)),
      maxSessionsTotal: num(env, 'COCHLEA_MAX_SESSIONS_TOTAL', 0),
      keyLimits: keyLimits(env),
    },
  };
}

/** The process environment (for the CLI's IO, which passes it to clients: COCHLEA_URL, COCHLEA_API_KEY). */
export function processEnv(): NodeJS.ProcessEnv {
  return process.env;
}

/** `COCHLEA_FFMPEG`: the ffmpeg binary used for container formats (default `ffmpeg` on PATH). */
export function ffmpegPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.COCHLEA_FFMPEG || 'ffmpeg';
}

/** `COCHLEA_MODELS_CATALOG`: a model catalog JSON replacing the bundled one (mirrors, air-gapped installs). */
export function modelsCatalogFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.COCHLEA_MODELS_CATALOG || undefined;
}
