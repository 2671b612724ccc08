/**
 * Audio-analysis tasks that run in the analysis worker threads (never on the event loop). Each is
 * a plain function of structured-clone data; register new ones in `TASKS`. The same functions can
 * be called inline in unit tests.
 */
import { diarizeTask } from '../speakers/task.ts';

export type Task = (input: any) => unknown | Promise<unknown>;

/** Energy statistics of a PCM buffer: a trivial task that keeps the worker path tested. */
function rms(input: { pcm: Float32Array }): { rms: number; samples: number } {
  let s = 0;
  for (let i = 0; i < input.pcm.length; i++) s += input.pcm[i] * input.pcm[i];
  return { rms: input.pcm.length ? Math.sqrt(s / input.pcm.length) : 0, samples: input.pcm.length };
}

export const TASKS: Record<string, Task> = {
  rms,
  /** Speaker diarization: batch (whole file) or one real-time final with the session's speaker state. */
  diarize: diarizeTask,
};

/** Entry used by the worker: `{ task, input }` → result. */
export async function runTask(msg: { task: string; input: unknown }): Promise<unknown> {
  const fn = TASKS[msg.task];
  if (!fn) throw new Error(`unknown analysis task "${msg.task}"`);
  return fn(msg.input);
}
