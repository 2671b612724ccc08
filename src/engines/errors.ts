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
  | 'backend_error';

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
    'backend_error',
  ];
  return new EngineError(known.includes(code as EngineErrorCode) ? (code as EngineErrorCode) : 'backend_error', message);
}
