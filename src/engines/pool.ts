/**
 * A pool of worker threads, each hosting one backend instance (worker-host.ts).
 *
 * - Batch jobs wait in a FIFO queue (bounded by `maxQueue`) and run on the least-busy worker,
 *   at most `jobsPerWorker` at a time per worker, so N parallel requests use N cores.
 * - Streaming sessions are pinned to one worker for their life, placed on the worker with the
 *   fewest sessions (running jobs break ties).
 * - A worker that dies (uncaught error, exit) fails its in-flight jobs and sessions with an
 *   EngineError('worker_crashed') and is replaced; queued jobs then run on the replacement.
 * - `close()` rejects queued jobs, ends sessions and terminates every worker.
 *
 * Written here rather than taken from piscina/workerpool: sessions are stateful and pinned to a
 * worker with their own message stream, which task-oriented pools do not model.
 */
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import type { BackendSpec } from './backend.ts';
import type { EngineInfo, RecognitionResult, RecognizeOptions, SpeechEvent } from './types.ts';
import type { MainToWorker, SessionOptions, VadSettings, WorkerInit, WorkerStats, WorkerToMain } from './protocol.ts';
import { DEFAULT_JOB_DEADLINE, EngineError, engineErrorFrom } from './errors.ts';
import { ENGINE_SAMPLE_RATE } from './types.ts';

export interface WorkerPoolOptions {
  backend: BackendSpec;
  /** Worker threads. Default os.availableParallelism(). */
  size?: number;
  /** Batch jobs one worker runs at once. Default 1. */
  jobsPerWorker?: number;
  /** Batch jobs allowed to wait; beyond it recognize() rejects with 'queue_full'. Default 1000. */
  maxQueue?: number;
  /** Silero VAD for streaming endpointing; without it the backend's inSpeech() is used. */
  vad?: VadSettings;
  /** Max audio one session feeds per worker pass, seconds. Default 0.25. */
  passSeconds?: number;
  /** Reset a streaming segment that saw no speech for this long, seconds. Default 5. */
  idleResetSeconds?: number;
  /** Milliseconds to wait before restarting a worker that crashed again quickly. Default 1000. */
  restartBackoffMs?: number;
  /** On close, time a worker gets to exit by itself before it is terminated, ms. Default 5000. */
  shutdownTimeoutMs?: number;
  /** Per-worker V8 limits. */
  resourceLimits?: import('node:worker_threads').ResourceLimits;
  /**
   * Default job deadline (when RecognizeOptions.deadlineSeconds is not given): factor × audio
   * seconds + floorSeconds, from when a worker starts the job. Both 0: none. Default DEFAULT_JOB_DEADLINE.
   */
  jobDeadline?: { factor: number; floorSeconds: number };
}

interface Job {
  id: number;
  pcm: Float32Array;
  options: Omit<RecognizeOptions, 'signal'>;
  signal?: AbortSignal;
  onAbort?: () => void;
  resolve: (r: RecognitionResult) => void;
  reject: (e: Error) => void;
  slot?: Slot;
  /** performance.now() when queued (queue-wait metric). */
  queuedAt: number;
  deadlineTimer?: NodeJS.Timeout;
}

export interface SessionHandlers {
  onEvent(event: SpeechEvent): void;
  /** Cumulative samples the worker has decoded. */
  onProgress(consumed: number): void;
  /** The session is gone (normally after isLast, after abort, or because of an error). */
  onClosed(): void;
}

export interface PoolSession {
  readonly id: string;
  /** Queue audio; the buffer is transferred to the worker (the caller must not use it again). */
  push(pcm: Float32Array): void;
  finalize(): void;
  end(): void;
  abort(): void;
}

interface SessionRec {
  id: string;
  handlers: SessionHandlers;
  slot: Slot;
  closed: boolean;
}

class Slot {
  worker!: Worker;
  ready = false;
  jobs = new Map<number, Job>();
  sessions = new Map<string, SessionRec>();
  stats = new Map<number, { resolve: (s: WorkerStats) => void; reject: (e: Error) => void }>();
  startedAt = 0;
  dead = false;
  /** Event-loop active time of this slot's earlier (crashed) workers, ms. */
  activeBeforeMs = 0;
  /** Last active time read from the current worker, ms (kept when it dies). */
  lastActiveMs = 0;
  constructor(readonly index: number) {}

  /** Cumulative busy time of this slot's worker threads (event-loop utilisation), ms. */
  activeMs(): number {
    try {
      const elu = this.worker?.performance.eventLoopUtilization();
      if (elu && !this.dead) this.lastActiveMs = elu.active;
    } catch {
      /* worker gone: keep the last reading */
    }
    return this.activeBeforeMs + this.lastActiveMs;
  }
}

/** The pool's public state, read synchronously (readiness probe, metrics). */
export interface PoolSnapshot {
  size: number;
  /** Every worker has started once (models loaded). */
  initialized: boolean;
  closed: boolean;
  queued: number;
  maxQueue: number;
  /** Workers replaced after a crash since the pool started. */
  restarts: number;
  workers: { index: number; ready: boolean; jobs: number; sessions: number; activeSeconds: number }[];
}

let sessionCounter = 0;

const HOST_URL = new URL('./worker-host.ts', import.meta.url);

/**
 * How to start a worker on worker-host.ts. When running from TypeScript sources under tsx, a
 * worker does NOT get tsx's loader from the inherited execArgv (Node 20: `--import tsx` in a
 * worker's execArgv still fails with 'Unknown file extension ".ts"'; verified), so the worker
 * starts from a tiny eval'd bootstrap that registers tsx's ESM hooks via its public API
 * (`tsx/esm/api` register()) and then imports the host. Compiled .js builds start the host
 * directly.
 */
function workerEntry(): [string | URL, { eval?: boolean }] {
  if (!HOST_URL.pathname.endsWith('.ts')) return [HOST_URL, {}];
  const tsxApi = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const code =
    `import(${JSON.stringify(tsxApi)})` +
    `.then((tsx) => { tsx.register(); return import(${JSON.stringify(HOST_URL.href)}); })` +
    `.catch((err) => { setImmediate(() => { throw err; }); });`;
  return [code, { eval: true }];
}

/** Ask a worker to exit between tasks; terminate it only if it does not within `timeoutMs`. */
function stopWorker(worker: Worker, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => void worker.terminate().then(resolve, () => resolve(-1)), timeoutMs);
    worker.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    try {
      worker.postMessage({ t: 'shutdown' } satisfies MainToWorker);
    } catch {
      clearTimeout(timer);
      void worker.terminate().then(resolve, () => resolve(-1));
    }
  });
}

export class WorkerPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly opts: Required<Omit<WorkerPoolOptions, 'vad' | 'resourceLimits'>> & Pick<WorkerPoolOptions, 'vad' | 'resourceLimits'>;
  /** Jobs stopped at their deadline so far. */
  deadlinesExceeded = 0;
  private nextId = 1;
  private closed = false;
  private initPromise: Promise<EngineInfo> | null = null;
  private infoValue: EngineInfo | null = null;
  /** Worker threads started since construction (initial ones and restarts). */
  workersStarted = 0;
  /** Workers replaced after a crash. */
  restarts = 0;
  private readonly queueWaitListeners = new Set<(seconds: number) => void>();

  constructor(options: WorkerPoolOptions) {
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    this.opts = {
      size: os.availableParallelism(),
      jobsPerWorker: 1,
      maxQueue: 1000,
      passSeconds: 0.25,
      idleResetSeconds: 5,
      restartBackoffMs: 1000,
      shutdownTimeoutMs: 5000,
      jobDeadline: DEFAULT_JOB_DEADLINE,
      ...(given as Partial<WorkerPoolOptions>),
      backend: options.backend,
    };
    if (!Number.isInteger(this.opts.size) || this.opts.size < 1) throw new Error(`invalid worker count ${this.opts.size}`);
    this.size = this.opts.size;
  }

  get info(): EngineInfo | null {
    return this.infoValue;
  }

  /** Start all workers; resolves once each has loaded its backend. Idempotent. */
  init(): Promise<EngineInfo> {
    if (this.closed) return Promise.reject(new EngineError('closed', 'worker pool closed'));
    this.initPromise ??= (async () => {
      const readies: Promise<EngineInfo>[] = [];
      for (let i = 0; i < this.size; i++) {
        const slot = new Slot(i);
        this.slots.push(slot);
        readies.push(this.spawn(slot));
      }
      try {
        const infos = await Promise.all(readies);
        this.infoValue = infos[0];
        return infos[0];
      } catch (err) {
        await this.close();
        throw err;
      }
    })();
    return this.initPromise;
  }

  private spawn(slot: Slot): Promise<EngineInfo> {
    const init: WorkerInit = {
      backend: this.opts.backend,
      vad: this.opts.vad,
      passSeconds: this.opts.passSeconds,
      idleResetSeconds: this.opts.idleResetSeconds,
    };
    const [entry, entryOpts] = workerEntry();
    const worker = new Worker(entry, {
      ...entryOpts,
      workerData: init,
      resourceLimits: this.opts.resourceLimits,
      name: `cochlea-engine-${slot.index}`,
    });
    if (slot.worker) {
      slot.activeBeforeMs += slot.lastActiveMs;
      slot.lastActiveMs = 0;
    }
    slot.worker = worker;
    slot.ready = false;
    slot.dead = false;
    slot.startedAt = Date.now();
    this.workersStarted++;
    return new Promise<EngineInfo>((resolve, reject) => {
      let settled = false;
      worker.on('message', (msg: WorkerToMain) => {
        if (msg.t === 'ready') {
          slot.ready = true;
          settled = true;
          resolve(msg.info);
          this.dispatch();
          return;
        }
        if (msg.t === 'init_error') {
          settled = true;
          reject(new EngineError('backend_error', `engine worker failed to start: ${msg.message}`));
          void worker.terminate();
          return;
        }
        this.onMessage(slot, msg);
      });
      const onDeath = (err: Error) => {
        if (slot.worker !== worker || slot.dead) return;
        slot.dead = true;
        slot.ready = false;
        if (!settled) {
          settled = true;
          reject(new EngineError('backend_error', `engine worker failed to start: ${err.message}`));
        }
        this.onWorkerDeath(slot, err);
      };
      worker.on('error', (err) => onDeath(err));
      worker.on('exit', (code) => onDeath(new Error(`engine worker exited with code ${code}`)));
    });
  }

  private onWorkerDeath(slot: Slot, err: Error): void {
    const e = new EngineError('worker_crashed', `engine worker ${slot.index} crashed: ${err.message}`);
    for (const job of slot.jobs.values()) this.settleJob(job, e);
    slot.jobs.clear();
    for (const s of slot.sessions.values()) {
      if (s.closed) continue;
      s.closed = true;
      s.handlers.onEvent({ type: 'error', message: e.message, code: e.code });
      s.handlers.onClosed();
    }
    slot.sessions.clear();
    for (const st of slot.stats.values()) st.reject(e);
    slot.stats.clear();
    if (this.closed) return;
    this.restarts++;
    const quick = Date.now() - slot.startedAt < 5000;
    const delay = quick ? this.opts.restartBackoffMs : 0;
    setTimeout(() => {
      if (this.closed) return;
      this.spawn(slot).catch(() => {
        /* its death handler schedules the next attempt */
      });
    }, delay).unref();
  }

  private onMessage(slot: Slot, msg: WorkerToMain): void {
    switch (msg.t) {
      case 'result':
      case 'error': {
        const job = slot.jobs.get(msg.id);
        if (!job) return;
        slot.jobs.delete(msg.id);
        if (msg.t === 'result') this.settleJob(job, null, msg.result);
        else this.settleJob(job, engineErrorFrom(msg.message, msg.code));
        this.dispatch();
        return;
      }
      case 'event': {
        const s = slot.sessions.get(msg.sid);
        if (s && !s.closed) s.handlers.onEvent(msg.event);
        return;
      }
      case 'progress': {
        const s = slot.sessions.get(msg.sid);
        if (s && !s.closed) s.handlers.onProgress(msg.consumed);
        return;
      }
      case 'closed': {
        const s = slot.sessions.get(msg.sid);
        slot.sessions.delete(msg.sid);
        if (s && !s.closed) {
          s.closed = true;
          s.handlers.onClosed();
        }
        return;
      }
      case 'stats': {
        const st = slot.stats.get(msg.id);
        slot.stats.delete(msg.id);
        st?.resolve(msg.stats);
        return;
      }
    }
  }

  private settleJob(job: Job, err: Error | null, result?: RecognitionResult): void {
    if (job.deadlineTimer) clearTimeout(job.deadlineTimer);
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (err) job.reject(err);
    else job.resolve(result!);
  }

  recognize(pcm: Float32Array, options: RecognizeOptions = {}): Promise<RecognitionResult> {
    if (this.closed) return Promise.reject(new EngineError('closed', 'engine closed'));
    if (options.signal?.aborted) return Promise.reject(new EngineError('aborted', 'recognition aborted'));
    if (this.queue.length >= this.opts.maxQueue) {
      return Promise.reject(new EngineError('queue_full', `recognition queue full (${this.opts.maxQueue} waiting)`));
    }
    const { signal, ...rest } = options;
    return new Promise<RecognitionResult>((resolve, reject) => {
      const job: Job = { id: this.nextId++, pcm, options: rest, signal, resolve, reject, queuedAt: performance.now() };
      if (signal) {
        job.onAbort = () => {
          const qi = this.queue.indexOf(job);
          if (qi >= 0) this.queue.splice(qi, 1);
          if (job.slot) {
            job.slot.jobs.delete(job.id);
            this.post(job.slot, { t: 'cancel', id: job.id });
            // The worker stops at its next slice; its slot is free for dispatch from now on.
            job.slot = undefined;
          }
          reject(new EngineError('aborted', 'recognition aborted'));
          this.dispatch();
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      if (!this.initPromise) void this.init().catch(() => undefined);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let best: Slot | null = null;
      for (const s of this.slots) {
        if (!s.ready || s.jobs.size >= this.opts.jobsPerWorker) continue;
        if (!best || s.jobs.size < best.jobs.size || (s.jobs.size === best.jobs.size && s.sessions.size < best.sessions.size)) {
          best = s;
        }
      }
      if (!best) return;
      const job = this.queue.shift()!;
      job.slot = best;
      best.jobs.set(job.id, job);
      if (this.queueWaitListeners.size) {
        const waited = (performance.now() - job.queuedAt) / 1000;
        for (const l of this.queueWaitListeners) l(waited);
      }
      this.post(best, { t: 'recognize', id: job.id, pcm: job.pcm, options: job.options });
      this.armDeadline(job);
    }
  }

  /**
   * Per-job deadline, counted from dispatch (when a worker starts it): on expiry the worker is told
   * to cancel (cooperative, at its next slice, like an abort), the slot is freed for the queue and
   * the caller gets EngineError('deadline_exceeded').
   */
  private armDeadline(job: Job): void {
    const d = this.opts.jobDeadline;
    const seconds = job.options.deadlineSeconds ?? d.factor * (job.pcm.length / ENGINE_SAMPLE_RATE) + d.floorSeconds;
    if (!(seconds > 0) || !Number.isFinite(seconds)) return;
    job.deadlineTimer = setTimeout(() => {
      const slot = job.slot;
      if (!slot || !slot.jobs.has(job.id)) return;
      slot.jobs.delete(job.id);
      this.post(slot, { t: 'cancel', id: job.id });
      job.slot = undefined;
      this.deadlinesExceeded++;
      const audio = job.pcm.length / ENGINE_SAMPLE_RATE;
      this.settleJob(job, new EngineError('deadline_exceeded', `Recognition of ${audio.toFixed(1)} s of audio took longer than its ${seconds.toFixed(1)} s deadline and was stopped`));
      this.dispatch();
    }, seconds * 1000);
    job.deadlineTimer.unref();
  }

  private post(slot: Slot, msg: MainToWorker, transfer?: ArrayBuffer[]): void {
    if (slot.dead) return;
    slot.worker.postMessage(msg, transfer);
  }

  /** Pick the worker for a new session: fewest sessions, then fewest running jobs. */
  private pickSessionSlot(): Slot {
    let best: Slot | null = null;
    for (const s of this.slots) {
      if (s.dead) continue;
      const load = s.sessions.size * 2 + s.jobs.size + (s.ready ? 0 : 1);
      const bestLoad = best ? best.sessions.size * 2 + best.jobs.size + (best.ready ? 0 : 1) : Infinity;
      if (load < bestLoad) best = s;
    }
    if (!best) throw new EngineError('worker_crashed', 'no engine worker available');
    return best;
  }

  openSession(options: SessionOptions, handlers: SessionHandlers): PoolSession {
    if (this.closed) throw new EngineError('closed', 'engine closed');
    if (this.slots.length === 0) throw new EngineError('closed', 'engine not initialized (call init() first)');
    const slot = this.pickSessionSlot();
    const id = `s${++sessionCounter}`;
    const rec: SessionRec = { id, handlers, slot, closed: false };
    slot.sessions.set(id, rec);
    // Messages to a worker that is still starting are queued by its port and run after init.
    this.post(slot, { t: 'open', sid: id, options });
    const send = (msg: MainToWorker, transfer?: ArrayBuffer[]) => {
      if (!rec.closed) this.post(slot, msg, transfer);
    };
    return {
      id,
      // The stream hands over its own copy (worker-engine.ts ownCopy), so move it, don't clone it.
      push: (pcm) => send({ t: 'audio', sid: id, pcm }, [pcm.buffer as ArrayBuffer]),
      finalize: () => send({ t: 'finalize', sid: id }),
      end: () => send({ t: 'end', sid: id }),
      abort: () => {
        if (rec.closed) return;
        send({ t: 'abort', sid: id });
        // The worker frees it at once; stop routing its events now.
        rec.closed = true;
        slot.sessions.delete(id);
        handlers.onClosed();
      },
    };
  }

  /** Per-worker statistics (sessions, decoders, memory). */
  async stats(): Promise<(WorkerStats & { index: number; jobs: number; queued: number })[]> {
    return Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<WorkerStats & { index: number; jobs: number; queued: number }>((resolve, reject) => {
            if (slot.dead) return reject(new EngineError('worker_crashed', `worker ${slot.index} is restarting`));
            const id = this.nextId++;
            slot.stats.set(id, { resolve: (s) => resolve({ ...s, index: slot.index, jobs: slot.jobs.size, queued: this.queue.length }), reject });
            this.post(slot, { t: 'stats', id });
          }),
      ),
    );
  }

  /** Synchronous view of the main thread's bookkeeping: jobs/sessions per worker, queue length. */
  load(): { queued: number; workers: { index: number; ready: boolean; jobs: number; sessions: number }[] } {
    return {
      queued: this.queue.length,
      workers: this.slots.map((s) => ({ index: s.index, ready: s.ready && !s.dead, jobs: s.jobs.size, sessions: s.sessions.size })),
    };
  }

  /** Synchronous public state for readiness and metrics: no message round trip to the workers. */
  snapshot(): PoolSnapshot {
    return {
      size: this.size,
      initialized: this.infoValue !== null,
      closed: this.closed,
      queued: this.queue.length,
      maxQueue: this.opts.maxQueue,
      restarts: this.restarts,
      workers: this.slots.map((s) => ({
        index: s.index,
        ready: s.ready && !s.dead,
        jobs: s.jobs.size,
        sessions: s.sessions.size,
        activeSeconds: s.activeMs() / 1000,
      })),
    };
  }

  /** Call `fn` with the seconds each batch job waited in the queue, as it is dispatched. Returns an unsubscribe. */
  observeQueueWait(fn: (seconds: number) => void): () => void {
    this.queueWaitListeners.add(fn);
    return () => this.queueWaitListeners.delete(fn);
  }

  /** Live worker thread ids (changes when a worker is restarted). */
  workerThreadIds(): number[] {
    return this.slots.map((s) => s.worker.threadId);
  }

  /** Resolves when every worker is up (e.g. after a crash restart). */
  async whenAllReady(timeoutMs = 30000): Promise<void> {
    const t0 = Date.now();
    while (!this.slots.every((s) => s.ready && !s.dead)) {
      if (Date.now() - t0 > timeoutMs) throw new Error('workers not ready in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const e = new EngineError('closed', 'engine closed');
    for (const job of this.queue.splice(0)) this.settleJob(job, e);
    const terms: Promise<number>[] = [];
    for (const slot of this.slots) {
      for (const job of slot.jobs.values()) this.settleJob(job, e);
      slot.jobs.clear();
      for (const s of slot.sessions.values()) {
        if (s.closed) continue;
        s.closed = true;
        s.handlers.onEvent({ type: 'error', message: 'engine closed', code: 'closed' });
        s.handlers.onClosed();
      }
      slot.sessions.clear();
      for (const st of slot.stats.values()) st.reject(e);
      slot.stats.clear();
      slot.dead = true;
      if (slot.worker) terms.push(stopWorker(slot.worker, this.opts.shutdownTimeoutMs));
    }
    await Promise.allSettled(terms);
  }
}
