/**
 * Diarization stage (`diarize=true`): who spoke when, first in the stage order so every later
 * stage (utterances break at speaker changes; gender per speaker) sees speakers on the words.
 *
 * All audio work runs in the analysis worker (`diarize` task, pipeline/speakers/task.ts):
 *   - neural path when `pyannote-segmentation-3-0` and a speaker-embedding model are installed
 *     (sherpa-onnx OfflineSpeakerDiarization for batch; embedding + nearest centroid in real time);
 *   - otherwise the weight-free classical diarizer (BIC change detection, agglomerative BIC
 *     clustering, GMM/Viterbi resegmentation; pipeline/speakers/classical.ts) for batch and
 *     sequential BIC clustering (pipeline/speakers/online.ts) in real time.
 * Speech regions come from Silero VAD when a VAD model is configured, else an energy detector.
 *
 * Real time: the session's speaker models live in `ctx.state` (per session); finals are diarized
 * strictly in order (a per-session promise chain), so labels are assigned once and never change.
 */
import type { RegisteredStage } from '../pipeline.ts';
import type { StageContext, Transcript } from '../types.ts';
import type { ClassicalOptions } from '../speakers/classical.ts';
import type { NeuralModels, NeuralOptions } from '../speakers/neural.ts';
import type { OnlineOptions } from '../speakers/online.ts';
import type { DiarizeInput, DiarizeOutput, DiarizeState } from '../speakers/task.ts';

export interface DiarizationStageOptions {
  /** Silero VAD ONNX file (config COCHLEA_VAD_MODEL); energy-based speech detection without it. */
  vadModel?: string;
  /** The neural models when installed; asked per request so a `cochlea models pull` takes effect. */
  neuralModels?: () => NeuralModels | undefined;
  classical?: ClassicalOptions;
  online?: OnlineOptions;
  neural?: NeuralOptions;
}

/** Catalog models of the neural path. */
export const SEGMENTATION_MODEL = 'pyannote-segmentation-3-0';
export const EMBEDDING_MODEL = 'wespeaker-en-voxceleb-campp';

/** Neural model paths from a model manager (both installed), else undefined. */
export function neuralModelsFrom(manager: { isInstalled(name: string): boolean; files(name: string): Record<string, string> }): () => NeuralModels | undefined {
  return () => {
    if (!manager.isInstalled(SEGMENTATION_MODEL) || !manager.isInstalled(EMBEDDING_MODEL)) return undefined;
    return { segmentation: manager.files(SEGMENTATION_MODEL).model, embedding: manager.files(EMBEDDING_MODEL).model };
  };
}

interface SessionDiarization {
  state?: DiarizeState;
  /** The path chosen at the session's first final (a session never switches models midway). */
  neural?: NeuralModels | null;
  chain: Promise<unknown>;
}

export function diarizationStage(opts: DiarizationStageOptions = {}): RegisteredStage {
  return {
    name: 'diarization',
    serves: ['diarize'],
    enabled: (o) => o.diarize,
    needsAudio: true,
    partials: false,
    async run(t: Transcript, ctx: StageContext): Promise<Transcript> {
      const audio = ctx.audio!;
      const words = t.words.map((w) => ({ start: w.start, end: w.end }));
      if (ctx.mode === 'batch') {
        const out = await call(ctx, {
          pcm: audio.pcm.slice(), // a copy is transferred: later stages still read ctx.audio
          offset: audio.offset,
          words,
          mode: 'batch',
          vadModel: opts.vadModel,
          neural: opts.neuralModels?.(),
          classical: opts.classical,
          neuralOptions: opts.neural,
        });
        return apply(t, out, out.speakerCount);
      }
      const s = ctx.state.get<SessionDiarization>('diarization', () => ({ chain: Promise.resolve() }));
      if (s.neural === undefined) s.neural = opts.neuralModels?.() ?? null;
      const run = s.chain.then(async () => {
        const out = await call(ctx, {
          pcm: audio.pcm.slice(),
          offset: audio.offset,
          words,
          mode: 'online',
          vadModel: opts.vadModel,
          neural: s.neural ?? undefined,
          online: opts.online,
          neuralOptions: opts.neural,
          state: s.state,
        });
        s.state = out.state;
        return out;
      });
      s.chain = run.catch(() => undefined);
      const out = await run;
      return apply(t, out, out.speakerCount);
    },
  };
}

function call(ctx: StageContext, input: DiarizeInput): Promise<DiarizeOutput> {
  return ctx.analysis.run<DiarizeInput, DiarizeOutput>('diarize', input, { transfer: [input.pcm.buffer as ArrayBuffer], signal: ctx.signal });
}

function apply(t: Transcript, out: DiarizeOutput, speakerCount: number): Transcript {
  return {
    ...t,
    words: t.words.map((w, i) => ({ ...w, speaker: out.words[i]?.speaker ?? 0, speakerConfidence: out.words[i]?.confidence ?? 0 })),
    turns: out.turns,
    // Words always carry a speaker; with no speech found they are speaker 0 of one.
    speakerCount: Math.max(speakerCount, t.words.length ? 1 : 0),
  };
}
