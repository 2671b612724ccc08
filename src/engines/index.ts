/**
 * Public entry of the engine layer: `createEngine(config)` → an `Engine` (see types.ts) whose
 * recognition runs in a pool of worker threads.
 *
 *   const engine = createEngine({ kind: 'pocketsphinx' });
 *   await engine.init();
 *   const result = await engine.recognize(pcm16kMonoFloat32, { language: 'en' });
 *   await engine.close();
 */
import type { EngineInfo } from './types.ts';
import type { VadSettings } from './protocol.ts';
import { WorkerEngine } from './worker-engine.ts';
import type { WorkerPoolOptions } from './pool.ts';

export type EngineKind = 'pocketsphinx' | 'sherpa' | 'scripted';

export interface EngineConfig {
  kind: EngineKind;
  /** Worker threads. Default os.availableParallelism(). */
  workers?: number;
  /** Silero VAD ONNX weights for streaming endpointing (optional; else the recognizer's own signal). */
  vadModel?: string;
  /** Passed to the backend's createBackend() in every worker. */
  backendConfig?: unknown;
  /** Silero tuning (used with vadModel). */
  vad?: Partial<Omit<VadSettings, 'model'>>;
  /** Pool limits: queue size, jobs per worker, streaming pass size, ... */
  pool?: Omit<WorkerPoolOptions, 'backend' | 'size' | 'vad'>;
}

export const VAD_DEFAULTS: Omit<VadSettings, 'model'> = {
  threshold: 0.5,
  minSpeechSeconds: 0.25,
  minSilenceSeconds: 0.25,
};

const BACKEND_MODULES: Record<EngineKind, URL> = {
  pocketsphinx: new URL('./pocketsphinx/backend.ts', import.meta.url),
  sherpa: new URL('./sherpa/backend.ts', import.meta.url),
  scripted: new URL('./scripted/backend.ts', import.meta.url),
};

/** What an engine kind can do, before its workers are up (workers report the real info). */
const STATIC_INFO: Record<EngineKind, EngineInfo> = {
  pocketsphinx: { name: 'pocketsphinx', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: true, keywords: true },
  sherpa: { name: 'sherpa-onnx', languages: [], streaming: true, wordTimestamps: true, wordConfidence: false },
  scripted: { name: 'scripted', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: false, keywords: false },
};

export function createEngine(cfg: EngineConfig): WorkerEngine {
  const module = BACKEND_MODULES[cfg.kind];
  if (!module) throw new Error(`unknown engine kind "${String(cfg.kind)}" (expected pocketsphinx or sherpa)`);
  const vad: VadSettings | undefined = cfg.vadModel ? { model: cfg.vadModel, ...VAD_DEFAULTS, ...cfg.vad } : undefined;
  return new WorkerEngine(
    {
      ...cfg.pool,
      backend: { module: module.href, config: cfg.backendConfig ?? {} },
      size: cfg.workers,
      vad,
    },
    STATIC_INFO[cfg.kind],
  );
}

export type { Engine, EngineInfo, RecognitionResult, SpeechEvent, SpeechStream } from './types.ts';
export { EngineError } from './errors.ts';
export { WorkerEngine, eventReceivedAt } from './worker-engine.ts';
