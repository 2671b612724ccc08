/**
 * Split a word stream into sentence-like utterances: a new utterance starts after a pause of at
 * least `gapSeconds`, after a word ending a sentence (engines with punctuation), or when an
 * utterance would exceed `maxSeconds`.
 */
import type { EngineWord } from '../engines/types.ts';

export interface UtteranceOptions {
  gapSeconds: number;
  maxSeconds: number;
}

export interface WordSpan<W extends EngineWord = EngineWord> {
  words: W[];
  start: number;
  end: number;
}

const SENTENCE_END = /[.?!。？！]["')\]]*$/;

export function splitUtterances<W extends EngineWord>(words: W[], opts: UtteranceOptions): WordSpan<W>[] {
  const out: WordSpan<W>[] = [];
  let cur: W[] = [];
  const flush = () => {
    if (cur.length) out.push({ words: cur, start: cur[0].start, end: cur[cur.length - 1].end });
    cur = [];
  };
  for (const w of words) {
    if (cur.length) {
      const prev = cur[cur.length - 1];
      const gap = w.start - prev.end;
      if (gap >= opts.gapSeconds || SENTENCE_END.test(prev.word) || w.end - cur[0].start > opts.maxSeconds) flush();
    }
    cur.push(w);
  }
  flush();
  return out;
}

export function joinWords(words: { word: string }[]): string {
  return words.map((w) => w.word).join(' ');
}
