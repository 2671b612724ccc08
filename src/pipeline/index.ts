/**
 * Words → transcript: the engine-neutral result the server formats into Pulse's shapes.
 * Later stages (numerals, redaction, diarization, emotion) plug in here, each a pure function of
 * the transcript so far.
 */
import type { EngineWord, RecognitionResult } from '../engines/types.ts';
import { joinWords, splitUtterances, type UtteranceOptions } from './utterances.ts';

export interface TranscriptWord extends EngineWord {
  speaker?: string;
  speakerConfidence?: number;
}

export interface TranscriptUtterance {
  text: string;
  start: number;
  end: number;
  speaker?: string;
}

export interface Transcript {
  text: string;
  words: TranscriptWord[];
  utterances: TranscriptUtterance[];
  language: string;
  duration: number;
}

export interface PipelineOptions {
  utterances: UtteranceOptions;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function buildTranscript(result: RecognitionResult, opts: PipelineOptions): Transcript {
  const words: TranscriptWord[] = result.words.map((w) => ({
    word: w.word,
    start: round3(w.start),
    end: round3(w.end),
    confidence: Math.round(Math.min(1, Math.max(0, w.confidence)) * 10000) / 10000,
  }));
  const utterances = splitUtterances(words, opts.utterances).map((u) => ({
    text: joinWords(u.words),
    start: u.start,
    end: u.end,
  }));
  return {
    text: words.length ? joinWords(words) : result.text.trim(),
    words,
    utterances,
    language: result.language,
    duration: result.duration,
  };
}
