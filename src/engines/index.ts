/**
 * Public entry of the engine layer: `createEngine(config)` → an `Engine` (see types.ts) whose
 * recognition runs in a pool of worker threads.
 *
 *   const engine = createEngine({ kind: 'pocketsphinx' });
 *   await engine.init();
 *   const result = await engine.recognize(pcm16kMonoFloat32, { language: 'en' });
 *   await engine.close();
 */
import type { VadSettings } from './protocol.ts';
import { ENGINES, ENGINE_KINDS, type EngineKind } from './registry.ts';
import { WorkerEngine } from './worker-engine.ts';
import type { WorkerPoolOptions } from './pool.ts';

export type { EngineKind } from './registry.ts';
export { ENGINES, ENGINE_KINDS, isEngineKind, parseEngineKind } from './registry.ts';

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
  maxIdle: 8,
};

export function createEngine(cfg: EngineConfig): WorkerEngine {
  const spec = ENGINES[cfg.kind];
  if (!spec) throw new Error(`unknown engine kind "${String(cfg.kind)}" (expected one of ${ENGINE_KINDS.join(', ')})`);
  const vad: VadSettings | undefined = cfg.vadModel ? { model: cfg.vadModel, ...VAD_DEFAULTS, ...cfg.vad } : undefined;
  return new WorkerEngine(
    {
      ...cfg.pool,
      backend: { module: spec.backendModule.href, config: cfg.backendConfig ?? {} },
      size: cfg.workers,
      vad,
    },
    spec.info,
  );
}

export type { Engine, EngineInfo, RecognitionResult, SpeechEvent, SpeechStream } from './types.ts';
export { EngineError } from './errors.ts';
export { WorkerEngine } from './worker-engine.ts';
