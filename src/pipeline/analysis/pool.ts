/**
 * The analysis worker pool: heavy audio analysis (diarization, pitch tracking, emotion models)
 * runs in Piscina worker threads, never on the event loop. Separate from the recognition workers
 * so a long diarization never delays a live session's decode pass.
 */
import { Piscina } from 'piscina';
import type { AnalysisRunner } from '../types.ts';
import { runTask } from './tasks.ts';

export interface AnalysisPoolOptions {
  /** Worker threads (default 1). */
  threads?: number;
  /** Idle workers exit after this long (ms). */
  idleTimeoutMs?: number;
}

export class AnalysisPool implements AnalysisRunner {
  private readonly pool: Piscina;
  constructor(opts: AnalysisPoolOptions = {}) {
    const threads = Math.max(1, opts.threads ?? 1);
    this.pool = new Piscina({
      filename: new URL('./worker.mjs', import.meta.url).href,
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: opts.idleTimeoutMs ?? 60_000,
    });
  }

  run<I, O>(task: string, input: I, options: { transfer?: ArrayBuffer[]; signal?: AbortSignal } = {}): Promise<O> {
    return this.pool.run({ task, input }, { transferList: options.transfer, signal: options.signal }) as Promise<O>;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/** Runs tasks on the calling thread: for unit tests of stages only, never in the server. */
export class InlineAnalysis implements AnalysisRunner {
  async run<I, O>(task: string, input: I): Promise<O> {
    return (await runTask({ task, input })) as O;
  }
  async close(): Promise<void> {}
}
