/**
 * Utterances: split the words into sentence-like pieces at pauses of at least `gapSeconds`, after
 * sentence-ending punctuation, at speaker changes (diarization), and before an utterance would
 * exceed `maxSeconds`. Runs after the text stages so utterance text is punctuated, normalized and
 * redacted exactly as the words are.
 */
import type { Transcript, Utterance, Word } from '../types.ts';
import type { RegisteredStage } from '../pipeline.ts';
import { joinWords } from '../pipeline.ts';

export interface UtteranceOptions {
  gapSeconds: number;
  maxSeconds: number;
}

const SENTENCE_END = /[.?!。？！]["')\]]*$/;

export function splitUtterances(words: Word[], opts: UtteranceOptions): Utterance[] {
  const out: Utterance[] = [];
  let cur: Word[] = [];
  const flush = () => {
    if (!cur.length) return;
    const u: Utterance = { text: joinWords(cur), start: cur[0].start, end: cur[cur.length - 1].end };
    if (cur[0].speaker !== undefined) u.speaker = cur[0].speaker;
    out.push(u);
    cur = [];
  };
  for (const w of words) {
    if (cur.length) {
      const prev = cur[cur.length - 1];
      if (
        w.start - prev.end >= opts.gapSeconds ||
        SENTENCE_END.test(prev.word) ||
        w.end - cur[0].start > opts.maxSeconds ||
        (w.speaker !== undefined && w.speaker !== prev.speaker)
      ) {
        flush();
      }
    }
    cur.push(w);
  }
  flush();
  return out;
}

export function utteranceStage(opts: UtteranceOptions): RegisteredStage {
  return {
    name: 'utterances',
    serves: [],
    enabled: () => true,
    partials: false,
    run(t: Transcript): Transcript {
      return { ...t, utterances: splitUtterances(t.words, opts) };
    },
  };
}
