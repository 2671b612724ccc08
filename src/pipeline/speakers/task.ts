/**
 * The `diarize` analysis task (runs in the analysis worker threads): one entry for the four paths
 * (batch/real time × classical/neural). Times in and out are on the transcript's axis.
 */
import { diarizeClassical, type ClassicalOptions, type Turn } from './classical.ts';
import { gmmLogLik } from './gmm.ts';
import { diarizeNeural, diarizeNeuralOnline, type NeuralModels, type NeuralOnlineState, type NeuralOptions } from './neural.ts';
import { diarizeOnline, newOnlineState, type OnlineOptions, type OnlineState } from './online.ts';
import { assignWords, type Span, type WordSpeaker } from './words.ts';

export interface DiarizeInput {
  pcm: Float32Array;
  /** Transcript time of pcm[0], s. */
  offset: number;
  words: Span[];
  mode: 'batch' | 'online';
  vadModel?: string;
  neural?: NeuralModels;
  classical?: ClassicalOptions;
  online?: OnlineOptions;
  neuralOptions?: NeuralOptions;
  /** Real time: the session's speaker state from the previous final. */
  state?: DiarizeState;
}

export type DiarizeState = { kind: 'classical'; s: OnlineState } | { kind: 'neural'; s: NeuralOnlineState };

export interface DiarizeOutput {
  turns: Turn[];
  speakerCount: number;
  words: WordSpeaker[];
  method: 'classical' | 'neural';
  speech: 'silero' | 'energy' | 'pyannote';
  state?: DiarizeState;
}

const shift = (turns: Turn[], dt: number): Turn[] => turns.map((t) => ({ start: Math.round((t.start + dt) * 1000) / 1000, end: Math.round((t.end + dt) * 1000) / 1000, speaker: t.speaker }));

export function diarizeTask(input: DiarizeInput): DiarizeOutput {
  const { pcm, offset } = input;
  if (input.mode === 'online') {
    if (input.neural) {
      const prev = input.state?.kind === 'neural' ? input.state.s : { centroids: [], counts: [] };
      const r = diarizeNeuralOnline(pcm, offset, input.words, prev, input.neural.embedding, input.neuralOptions);
      return { turns: r.turns, speakerCount: r.speakerCount, words: r.words, method: 'neural', speech: 'pyannote', state: { kind: 'neural', s: r.state } };
    }
    const prev = input.state?.kind === 'classical' ? input.state.s : newOnlineState();
    const r = diarizeOnline(pcm, offset, input.words, prev, { vadModel: input.vadModel, ...input.online });
    return { turns: r.turns, speakerCount: r.speakerCount, words: r.words, method: 'classical', speech: input.vadModel ? 'silero' : 'energy', state: { kind: 'classical', s: r.state } };
  }
  const local = input.words.map((w) => ({ start: w.start - offset, end: w.end - offset }));
  if (input.neural) {
    const r = diarizeNeural(pcm, local, input.neural, input.neuralOptions);
    return { turns: shift(r.turns, offset), speakerCount: r.speakerCount, words: r.words, method: 'neural', speech: 'pyannote' };
  }
  const r = diarizeClassical(pcm, { vadModel: input.vadModel, ...input.classical });
  const tmp = new Float64Array(64);
  const words = assignWords(local, r.turns, r.speakerCount, r.fs.frames, 0.01, (f, k) => gmmLogLik(r.models[k], r.fs.x, f, tmp));
  return { turns: shift(r.turns, offset), speakerCount: r.speakerCount, words, method: 'classical', speech: r.fs.speechMethod };
}
