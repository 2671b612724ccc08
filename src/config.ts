/**
 * Runtime configuration, from environment variables (and CLI flags layered on top by the CLI).
 * Every limit the server enforces lives here, so each is configurable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_MAX_PUSH_SECONDS } from './audio/types.ts';
import { DEFAULT_JOB_DEADLINE } from './engines/errors.ts';

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
  /** Audio one WebSocket frame may hold, seconds (checked before decoding it). */
  maxFrameSeconds: number;
  /** Decoded batch audio the whole process may hold at once, seconds (beyond it: 503 + Retry-After). */
  maxInflightAudioSeconds: number;
  /** A recognition job may run for this many times its audio duration... */
  jobDeadlineFactor: number;
  /** ...plus this many seconds, before it is stopped (0 factor and floor: no deadline). */
  jobDeadlineFloorSeconds: number;
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
      maxFrameSeconds: num(env, 'COCHLEA_MAX_FRAME_SECONDS', DEFAULT_MAX_PUSH_SECONDS),
      maxInflightAudioSeconds: num(env, 'COCHLEA_MAX_INFLIGHT_AUDIO_SECONDS', 4 * 3600),
      jobDeadlineFactor: num(env, 'COCHLEA_JOB_DEADLINE_FACTOR', DEFAULT_JOB_DEADLINE.factor),
      jobDeadlineFloorSeconds: num(env, 'COCHLEA_JOB_DEADLINE_FLOOR_SECONDS', DEFAULT_JOB_DEADLINE.floorSeconds),
    },
  };
}
