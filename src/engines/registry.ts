/**
 * The engine registry: every engine kind, defined once. Config parsing (`config.ts`), the CLI
 * (`--engine` choices) and `createEngine` all read this table; adding an engine is one entry here.
 *
 * Deliberately light (no worker or native imports): config.ts and the CLI import it at start-up.
 */
import fs from 'node:fs';
import type { EngineInfo } from './types.ts';

export const ENGINE_KINDS = ['pocketsphinx', 'sherpa', 'scripted'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export interface EngineKindSpec {
  /** Shown by `cochlea serve --help`. */
  description: string;
  /** Offered as a `--engine` choice (the scripted test engine is env-only). */
  cli: boolean;
  /** Module exporting `createBackend(config)`, loaded in every worker. */
  backendModule: URL;
  /** What the kind can do before its workers are up (workers report the real info). */
  info: EngineInfo;
  /** Environment variable holding the backend config (inline JSON or a JSON file path). */
  configEnv: string;
  /** Backend config when the variable is unset. */
  defaultConfig: unknown;
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

export const ENGINES: Record<EngineKind, EngineKindSpec> = {
  pocketsphinx: {
    description: 'CMU PocketSphinx, English, bundled model (default)',
    cli: true,
    backendModule: new URL('./pocketsphinx/backend.ts', import.meta.url),
    info: { name: 'pocketsphinx', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: true, keywords: true },
    configEnv: 'COCHLEA_POCKETSPHINX_CONFIG',
    defaultConfig: undefined,
  },
  sherpa: {
    description: 'sherpa-onnx neural models installed with `cochlea models pull`',
    cli: true,
    backendModule: new URL('./sherpa/backend.ts', import.meta.url),
    info: { name: 'sherpa-onnx', languages: [], streaming: true, wordTimestamps: true, wordConfidence: false },
    configEnv: 'COCHLEA_SHERPA_CONFIG',
    defaultConfig: DEFAULT_SHERPA_CONFIG,
  },
  scripted: {
    description: 'test double: every burst of sound becomes the next word of a script',
    cli: false,
    backendModule: new URL('./scripted/backend.ts', import.meta.url),
    info: { name: 'scripted', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: false, keywords: false },
    configEnv: 'COCHLEA_SCRIPTED_CONFIG',
    defaultConfig: undefined,
  },
};

export function isEngineKind(v: unknown): v is EngineKind {
  return typeof v === 'string' && (ENGINE_KINDS as readonly string[]).includes(v);
}

export function parseEngineKind(v: string | undefined, source = 'COCHLEA_ENGINE'): EngineKind {
  const kind = v || 'pocketsphinx';
  if (!isEngineKind(kind)) throw new Error(`${source} must be one of ${ENGINE_KINDS.join(', ')}, got "${kind}"`);
  return kind;
}

/** A backend setting given as inline JSON or as the path of a JSON file. */
export function jsonSetting(name: string, v: string | undefined, def: unknown): unknown {
  if (!v) return def;
  const text = v.trim().startsWith('{') ? v : fs.readFileSync(v, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The backend config of `kind` from its environment variable (or its default). */
export function backendConfigFromEnv(kind: EngineKind, env: Record<string, string | undefined>): unknown {
  const spec = ENGINES[kind];
  return jsonSetting(spec.configEnv, env[spec.configEnv], spec.defaultConfig);
}
