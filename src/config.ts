/**
 * Runtime configuration, from environment variables (and CLI flags layered on top by the CLI).
 * Every limit the server enforces lives here, so each is configurable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type EngineKind = 'pocketsphinx' | 'sherpa' | 'scripted';

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
  /** A connection must send complete request headers (or a WebSocket upgrade) within this, ms. */
  headersTimeoutMs: number;
  /** An upload that sends nothing for this long is closed, ms. */
  bodyIdleMs: number;
  /** After the first 10 s, an upload averaging less than this is closed, bytes/s. */
  minUploadBytesPerSecond: number;
  /** Concurrent connections one client address may hold. */
  maxConnectionsPerAddress: number;
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

/**
 * The sherpa-onnx backend's model choice: COCHLEA_SHERPA_CONFIG is inline JSON or a JSON file path.
 * Default: English streaming Zipformer, finals re-decoded by SenseVoice (two-pass), Whisper for
 * other languages, Silero VAD for long files. Catalog names refer to `cochlea models pull` bundles.
 */
export const DEFAULT_SHERPA_CONFIG = {
  streaming: 'streaming-zipformer-en-2023-06-26',
  offline: ['sense-voice-zh-en-ja-ko-yue-2024-07-17', 'whisper-tiny'],
  vad: 'silero-vad',
  twoPass: true,
};

function sherpaConfig(v: string | undefined): unknown {
  return jsonSetting('COCHLEA_SHERPA_CONFIG', v, DEFAULT_SHERPA_CONFIG);
}

/** A backend setting given as inline JSON or as the path of a JSON file. */
function jsonSetting(name: string, v: string | undefined, def: unknown): unknown {
  if (!v) return def;
  const text = v.trim().startsWith('{') ? v : fs.readFileSync(v, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${name} is not valid JSON: ${(e as Error).message}`);
  }
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
  const kind = (env.COCHLEA_ENGINE ?? 'pocketsphinx') as EngineKind;
  if (kind !== 'pocketsphinx' && kind !== 'sherpa' && kind !== 'scripted') {
    throw new Error(`COCHLEA_ENGINE must be pocketsphinx, sherpa or scripted (tests), got "${kind}"`);
  }
  const MB = 1024 * 1024;
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
      backendConfig:
        kind === 'sherpa'
          ? sherpaConfig(env.COCHLEA_SHERPA_CONFIG)
          : kind === 'scripted'
            ? jsonSetting('COCHLEA_SCRIPTED_CONFIG', env.COCHLEA_SCRIPTED_CONFIG, undefined)
            : jsonSetting('COCHLEA_POCKETSPHINX_CONFIG', env.COCHLEA_POCKETSPHINX_CONFIG, undefined),
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
      headersTimeoutMs: num(env, 'COCHLEA_HEADERS_TIMEOUT_MS', 15_000),
      bodyIdleMs: num(env, 'COCHLEA_BODY_IDLE_MS', 30_000),
      minUploadBytesPerSecond: num(env, 'COCHLEA_MIN_UPLOAD_BYTES_PER_SEC', 1024),
      maxConnectionsPerAddress: num(env, 'COCHLEA_MAX_CONNECTIONS_PER_ADDRESS', 128),
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
