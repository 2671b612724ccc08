/**
 * `Engine` over a WorkerPool: recognition and streaming run in worker threads; the main thread
 * only moves PCM and events. Used for every worker-hosted backend (pocketsphinx, sherpa-onnx).
 */
import type {
  Engine,
  EngineInfo,
  RecognitionResult,
  RecognizeOptions,
  SpeechEvent,
  SpeechStream,
  StreamOptions,
} from './types.ts';
import { ENGINE_SAMPLE_RATE } from './types.ts';
import { WorkerPool, type PoolSession, type WorkerPoolOptions } from './pool.ts';
import type { SessionOptions } from './protocol.ts';
import { EngineError } from './errors.ts';

export const STREAM_DEFAULTS = {
  endpointSilenceMs: 800,
  maxWords: 0,
  maxSegmentSeconds: 30,
  vadEvents: false,
} as const;

function sessionOptions(o: StreamOptions): SessionOptions {
  const r: SessionOptions = {
    language: o.language,
    keywords: o.keywords,
    endpointSilenceMs: o.endpointSilenceMs ?? STREAM_DEFAULTS.endpointSilenceMs,
    maxWords: o.maxWords ?? STREAM_DEFAULTS.maxWords,
    maxSegmentSeconds: o.maxSegmentSeconds ?? STREAM_DEFAULTS.maxSegmentSeconds,
    vadEvents: o.vadEvents ?? STREAM_DEFAULTS.vadEvents,
  };
  if (!(r.endpointSilenceMs > 0)) throw new RangeError('endpointSilenceMs must be > 0');
  if (!(r.maxWords >= 0) || !Number.isInteger(r.maxWords)) throw new RangeError('maxWords must be an integer ≥ 0');
  if (!(r.maxSegmentSeconds > 0)) throw new RangeError('maxSegmentSeconds must be > 0');
  return r;
}

/** Copy a view into its own buffer so only its samples cross the thread boundary. */
function ownCopy(pcm: Float32Array): Float32Array {
  return pcm.slice();
}

let failedCounter = 0;

class PooledSpeechStream implements SpeechStream {
  readonly id: string;
  private readonly session: PoolSession;
  private readonly buffered: SpeechEvent[] = [];
  private waiter: ((r: IteratorResult<SpeechEvent>) => void) | null = null;
  private done = false;
  private ending = false;
  private pushed = 0;
  private consumed = 0;
  private iterating = false;

  constructor(open: (h: Parameters<WorkerPool['openSession']>[1]) => PoolSession, signal?: AbortSignal) {
    const handlers = {
      onEvent: (e: SpeechEvent) => this.deliver(e),
      onProgress: (c: number) => {
        this.consumed = c;
      },
      onClosed: () => this.finish(),
    };
    try {
      this.session = open(handlers);
    } catch (err) {
      // No worker to host it (engine closed, or every worker restarting): the stream answers
      // with one error event and ends, like a session whose worker failed.
      const e = err as { message?: string; code?: string };
      this.session = { id: `failed-${++failedCounter}`, push() {}, finalize() {}, end() {}, abort() {} };
      this.deliver({ type: 'error', message: e.message ?? String(err), code: e.code });
      this.finish();
    }
    this.id = this.session.id;
    if (signal) {
      if (signal.aborted) this.abort();
      else signal.addEventListener('abort', () => this.abort(), { once: true });
    }
  }

  get pendingSeconds(): number {
    return Math.max(0, this.pushed - this.consumed) / ENGINE_SAMPLE_RATE;
  }

  pushAudio(pcm: Float32Array): void {
    if (this.done || this.ending) throw new EngineError('closed', 'stream already ended');
    if (pcm.length === 0) return;
    this.pushed += pcm.length;
    this.session.push(ownCopy(pcm));
  }

  finalize(): void {
    if (this.done || this.ending) return;
    this.session.finalize();
  }

  end(): void {
    if (this.done || this.ending) return;
    this.ending = true;
    this.session.end();
  }

  abort(): void {
    if (this.done) return;
    this.session.abort(); // calls onClosed → finish()
    this.buffered.length = 0;
    this.finish();
  }

  private deliver(e: SpeechEvent): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: e, done: false });
    } else {
      this.buffered.push(e);
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.waiter && this.buffered.length === 0) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<SpeechEvent> {
    if (this.iterating) throw new Error('a SpeechStream can be iterated only once');
    this.iterating = true;
    return {
      next: () => {
        const e = this.buffered.shift();
        if (e) return Promise.resolve({ value: e, done: false });
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiter = resolve;
        });
      },
      return: () => {
        // Consumer stopped iterating (break / throw): free the session.
        this.abort();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export class WorkerEngine implements Engine {
  readonly pool: WorkerPool;
  private readonly fallbackInfo: EngineInfo;

  constructor(options: WorkerPoolOptions, info: EngineInfo) {
    this.pool = new WorkerPool(options);
    this.fallbackInfo = info;
  }

  /** Static info until the workers report theirs. */
  get info(): EngineInfo {
    return this.pool.info ?? this.fallbackInfo;
  }

  async init(): Promise<void> {
    await this.pool.init();
  }

  recognize(pcm: Float32Array, options: RecognizeOptions = {}): Promise<RecognitionResult> {
    return this.pool.recognize(pcm, options);
  }

  stream(options: StreamOptions = {}): SpeechStream {
    const opts = sessionOptions(options);
    // stream() is synchronous: start the workers if nobody did; messages queue until they are up.
    void this.pool.init().catch(() => undefined);
    return new PooledSpeechStream((h) => this.pool.openSession(opts, h), options.signal);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
