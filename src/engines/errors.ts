/**
 * Errors the engine layer reports to its callers. `code` survives the worker-thread boundary
 * (see pool.ts), so the server can map e.g. 'unsupported_language' to a 400 and the rest to 500.
 */
export type EngineErrorCode =
  | 'unsupported_language'
  | 'invalid_audio'
  | 'aborted'
  | 'worker_crashed'
  | 'closed'
  | 'queue_full'
  /** The job ran past its deadline (RecognizeOptions.deadlineSeconds / the pool's factor + floor) and was stopped. */
  | 'deadline_exceeded'
  | 'backend_error';

/**
 * Default per-job deadline: `factor` × audio duration + `floorSeconds`, counted from when a worker
 * starts the job (queueing excluded). It is wall-clock time, so it must leave room for a host
 * whose cores are shared: pocketsphinx runs at ~0.1-0.3× real time on a free core, and the test
 * suite on a 2-core box at load 20 ran a 10 s job in over 25 s. 3× + 30 s never fires on healthy
 * jobs there; on dedicated cores 1.5× + 10 s (COCHLEA_JOB_DEADLINE_FACTOR=1.5,
 * COCHLEA_JOB_DEADLINE_FLOOR_SECONDS=10) also stops the bit-flipped 8 s clips of issue 15 (25.5 s)
 * at 22 s.
 */
export const DEFAULT_JOB_DEADLINE = { factor: 3, floorSeconds: 30 } as const;

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** Rebuild an EngineError from its wire form ({ message, code }). */
export function engineErrorFrom(message: string, code: string | undefined): EngineError {
  const known: EngineErrorCode[] = [
    'unsupported_language',
    'invalid_audio',
    'aborted',
    'worker_crashed',
    'closed',
    'queue_full',
    'deadline_exceeded',
    'backend_error',
  ];
  return new EngineError(known.includes(code as EngineErrorCode) ? (code as EngineErrorCode) : 'backend_error', message);
}
