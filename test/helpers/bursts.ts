/**
 * Audio for the scripted engine: tone bursts (each becomes the next script word, with the burst's
 * true start and end) grouped into "sentences" separated by long pauses.
 */
import { makeWav } from './wav.ts';

export interface BurstPlan {
  /** Word bursts, seconds. */
  words: { start: number; end: number }[];
  /** Indices into `words` where a new sentence starts. */
  sentenceStarts: number[];
  duration: number;
  pcm: Float32Array;
  wav: Buffer;
}

/**
 * `sentences[i]` words per sentence; each word a 0.25 s burst, 0.15 s apart; `pause` s between
 * sentences; 0.3 s lead-in and tail.
 */
export function burstAudio(sentences: number[], pause = 1.5, word = 0.25, gap = 0.15): BurstPlan {
  const words: { start: number; end: number }[] = [];
  const sentenceStarts: number[] = [];
  let t = 0.3;
  for (const n of sentences) {
    sentenceStarts.push(words.length);
    for (let i = 0; i < n; i++) {
      words.push({ start: t, end: t + word });
      t += word + gap;
    }
    t += pause - gap;
  }
  const duration = t - pause + gap + 0.3 + 1.0;
  const pcm = new Float32Array(Math.round(duration * 16000));
  for (const w of words) {
    for (let i = Math.round(w.start * 16000); i < Math.round(w.end * 16000); i++) pcm[i] = 0.3 * Math.sin((2 * Math.PI * 300 * i) / 16000);
  }
  return { words, sentenceStarts, duration: pcm.length / 16000, pcm, wav: makeWav(pcm) };
}

export const SCRIPT = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];

/** Env for a scripted test server that endpoints on its own energy detector (no Silero on tones). */
export function scriptedEnv(extra: Record<string, unknown> = {}): Record<string, string> {
  return {
    COCHLEA_ENGINE: 'scripted',
    COCHLEA_VAD_MODEL: '',
    COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ words: SCRIPT, ...extra }),
  };
}
