/**
 * Words → speakers. A word takes the speaker it overlaps most (a word split across a turn boundary
 * goes to the side holding more of it); a word in no turn (the speech detector missed it) takes
 * the nearest turn. Its confidence is the margin between the assigned speaker and the strongest
 * other speaker: σ(d), d = mean per-frame log-likelihood ratio over the word's frames (0.5 = a
 * tie, → 1 = clearly this speaker). With one speaker found there is no competitor: 1.
 */
import type { Turn } from './classical.ts';

export interface Span {
  start: number;
  end: number;
}

export interface WordSpeaker {
  speaker: number;
  confidence: number;
}

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Speaker with the most overlap with [s, e), or the nearest turn; −1 when there are no turns. */
export function speakerByOverlap(turns: Turn[], s: number, e: number): number {
  const ov = new Map<number, number>();
  for (const t of turns) {
    const o = Math.min(e, t.end) - Math.max(s, t.start);
    if (o > 0) ov.set(t.speaker, (ov.get(t.speaker) ?? 0) + o);
  }
  if (ov.size) return [...ov.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
  let best = -1;
  let dist = Infinity;
  for (const t of turns) {
    const d = t.start >= e ? t.start - e : s >= t.end ? s - t.end : 0;
    if (d < dist) {
      dist = d;
      best = t.speaker;
    }
  }
  return best;
}

/**
 * `score(f, k)`: log-likelihood of frame f under speaker k's model; `hop`: seconds per frame;
 * spans are in seconds on the same axis as the turns and frames (frame f starts at f·hop).
 */
export function assignWords(words: Span[], turns: Turn[], K: number, frames: number, hop: number, score: (f: number, k: number) => number): WordSpeaker[] {
  return words.map((w) => {
    const speaker = Math.max(0, speakerByOverlap(turns, w.start, w.end));
    if (K < 2) return { speaker, confidence: 1 };
    let a = Math.max(0, Math.floor(w.start / hop));
    let b = Math.min(frames, Math.ceil(w.end / hop));
    if (b <= a) {
      a = Math.max(0, Math.min(frames - 1, a));
      b = Math.min(frames, a + 1);
    }
    const mean = new Float64Array(K);
    for (let f = a; f < b; f++) for (let k = 0; k < K; k++) mean[k] += score(f, k);
    let other = -Infinity;
    for (let k = 0; k < K; k++) if (k !== speaker) other = Math.max(other, mean[k]);
    const d = (mean[speaker] - other) / Math.max(1, b - a);
    return { speaker, confidence: round3(Number.isFinite(d) ? sigmoid(d) : 0.5) };
  });
}
