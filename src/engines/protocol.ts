/**
 * Messages between the main thread (pool.ts) and a worker thread (worker-host.ts).
 * Plain structured-clone data only; Float32Arrays travel as copies.
 */
import type { BackendSpec } from './backend.ts';
import type { EngineInfo, RecognitionResult, RecognizeOptions, SpeechEvent } from './types.ts';

/** Per-session streaming options after defaults are applied (no AbortSignal: not cloneable). */
export interface SessionOptions {
  language?: string;
  keywords?: string[];
  endpointSilenceMs: number;
  maxWords: number;
  maxSegmentSeconds: number;
  vadEvents: boolean;
}

export interface VadSettings {
  /** Silero VAD ONNX weights (sherpa-onnx `Vad`). */
  model: string;
  threshold: number;
  minSpeechSeconds: number;
  minSilenceSeconds: number;
  /** Idle VAD instances kept per worker for reuse (each ~9 MB); beyond it released ones are freed. */
  maxIdle: number;
}

export interface WorkerInit {
  backend: BackendSpec;
  vad?: VadSettings;
  /** Max audio one session feeds its decoder per pass, seconds. */
  passSeconds: number;
  /** Reset a segment that has seen no speech for this long, seconds (saves decode state). */
  idleResetSeconds: number;
}

export type MainToWorker =
  | { t: 'recognize'; id: number; pcm: Float32Array; options: Omit<RecognizeOptions, 'signal'> }
  | { t: 'cancel'; id: number }
  | { t: 'open'; sid: string; options: SessionOptions }
  | { t: 'audio'; sid: string; pcm: Float32Array }
  | { t: 'finalize'; sid: string }
  | { t: 'end'; sid: string }
  | { t: 'abort'; sid: string }
  | { t: 'stats'; id: number }
  /** Free everything and exit the thread (between tasks, never inside a native call). */
  | { t: 'shutdown' };

export interface WorkerStats {
  sessions: number;
  /** Backend-specific decoder accounting, if the backend exposes `stats()`. */
  backend?: Record<string, number>;
  /** Process-wide resident set size (all threads share it), bytes. */
  rss: number;
  heapUsed: number;
}

export type WorkerToMain =
  | { t: 'ready'; info: EngineInfo }
  | { t: 'init_error'; message: string }
  | { t: 'result'; id: number; result: RecognitionResult }
  | { t: 'error'; id: number; message: string; code?: string }
  | { t: 'event'; sid: string; event: SpeechEvent }
  /** Samples of this session's audio the worker has fed to the decoder so far (cumulative). */
  | { t: 'progress'; sid: string; consumed: number }
  /** Session fully released in the worker (after its isLast final, an abort or an error). */
  | { t: 'closed'; sid: string }
  | { t: 'stats'; id: number; stats: WorkerStats };
