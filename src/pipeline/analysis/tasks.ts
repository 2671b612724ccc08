/**
 * Audio-analysis tasks that run in the analysis worker threads (never on the event loop). Each is
 * a plain function of structured-clone data; register new ones in `TASKS`. The same functions can
 * be called inline in unit tests.
 */
import { voiceFeatures, type VoiceFeatures } from '../voice/features.ts';
import { classifyGender, type GenderDecision } from '../voice/gender.ts';
import { senseVoiceEmotions } from '../voice/emotion.ts';
import { punctuationTask } from '../text/neural.ts';
import { diarizeTask } from '../speakers/task.ts';

export type Task = (input: any) => unknown | Promise<unknown>;

export interface GenderTaskInput {
  /** Per speaker (or one group for the whole file): that speaker's 16 kHz mono PCM segments. */
  groups: Float32Array[][];
}
export type GenderTaskOutput = Array<{ features: VoiceFeatures; decision: GenderDecision | null }>;

/** Voice features (YIN f0, LPC formant spacing) and the gender decision per group of spans. */
function gender(input: GenderTaskInput): GenderTaskOutput {
  return voiceFeatures(input.groups).map((features) => ({ features, decision: classifyGender(features) }));
}

/** Energy statistics of a PCM buffer: a trivial task that keeps the worker path tested. */
function rms(input: { pcm: Float32Array }): { rms: number; samples: number } {
  let s = 0;
  for (let i = 0; i < input.pcm.length; i++) s += input.pcm[i] * input.pcm[i];
  return { rms: input.pcm.length ? Math.sqrt(s / input.pcm.length) : 0, samples: input.pcm.length };
}

export const TASKS: Record<string, Task> = {
  rms,
  gender,
  /** SenseVoice emotion tag per chunk (sherpa-onnx OfflineRecognizer `emotion`). */
  emotion: senseVoiceEmotions,
  /** sherpa-onnx punctuation models (pipeline/text/neural.ts). */
  punctuate: punctuationTask,
  /** Speaker diarization: batch (whole file) or one real-time final with the session's speaker state. */
  diarize: diarizeTask,
};

/** Entry used by the worker: `{ task, input }` → result. */
export async function runTask(msg: { task: string; input: unknown }): Promise<unknown> {
  const fn = TASKS[msg.task];
  if (!fn) throw new Error(`unknown analysis task "${msg.task}"`);
  return fn(msg.input);
}
