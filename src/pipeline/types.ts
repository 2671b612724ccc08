/**
 * The transcription pipeline's typed model. The recognizer gives words with times; ordered stages
 * (diarization, punctuation and casing, inverse text normalization, redaction, utterances, gender,
 * emotion) each take the transcript so far and return the next one. Batch requests and real-time
 * finals go through the same stages; only the `StageContext` differs (whole file vs one segment of
 * a session whose state persists across finals).
 *
 * Nothing here knows about HTTP or Pulse's JSON: `server/` formats a `Transcript` into Pulse's or
 * OpenAI's shapes.
 */
import type { EngineInfo } from '../engines/types.ts';

/** One token of the transcript. Times are seconds (batch: from the file start; real time: from the session start). */
export interface Word {
  /** Display form: punctuated, cased, normalized ("$25", "Hello,") or a placeholder ("[FIRSTNAME_1]"). */
  word: string;
  start: number;
  end: number;
  /** 0..1 */
  confidence: number;
  /** Zero-based speaker label (diarization). */
  speaker?: number;
  /** 0..1: margin between the best and second-best speaker for this word. */
  speakerConfidence?: number;
  /** The recognizer's words this token was made from, when a stage merged or rewrote them (ITN, redaction). */
  spoken?: string;
  /** Set on redacted tokens: the entity type (e.g. "FIRSTNAME"). */
  entity?: string;
}

export interface Utterance {
  text: string;
  start: number;
  end: number;
  speaker?: number;
}

/** A stretch of audio attributed to one speaker (diarization output). */
export interface SpeakerTurn {
  start: number;
  end: number;
  speaker: number;
}

export type Gender = 'male' | 'female';

export interface GenderEstimate {
  gender: Gender;
  /** 0..1 */
  confidence: number;
}

/** Pulse's five emotion scores, each 0..1. */
export interface EmotionScores {
  happiness: number;
  sadness: number;
  disgust: number;
  fear: number;
  anger: number;
}

/** Something the server could not do as asked: reported in the response, never silently dropped. */
export interface Warning {
  /** The request option concerned (`emotion_detection`, `keywords`, ...), or the stage name. */
  option: string;
  message: string;
  /** A command that installs what is missing, when one exists. */
  fix?: string;
}

/** A detected and replaced entity. */
export interface RedactedEntity {
  /** The placeholder, e.g. "[FIRSTNAME_1]". */
  placeholder: string;
  /** Entity type, e.g. "FIRSTNAME", "CREDITCARDNUMBER". */
  type: string;
  start: number;
  end: number;
}

export interface Transcript {
  /** The whole text (of the file, or of this real-time final). */
  text: string;
  words: Word[];
  utterances: Utterance[];
  /** Language served / detected. */
  language: string;
  /** Seconds of audio covered. */
  duration: number;
  /** Start and end of this piece, seconds (batch: 0..duration; real time: the segment). */
  start: number;
  end: number;
  /** Diarization: speaker turns, when diarized. */
  turns?: SpeakerTurn[];
  /** Number of distinct speakers found, when diarized. */
  speakerCount?: number;
  /** Dominant speaker's gender, and per speaker when diarized. */
  gender?: GenderEstimate & { bySpeaker?: Record<number, GenderEstimate> };
  emotions?: EmotionScores;
  /** Entities replaced by redaction, in order of appearance. */
  redacted?: RedactedEntity[];
  warnings: Warning[];
  /** Wall time each stage took, ms (diagnostics, metrics). */
  timings: Record<string, number>;
}

export type Numerals = 'true' | 'false' | 'auto';

export interface Keyword {
  phrase: string;
  /** Pulse's intensifier, >= 0, default 1. */
  intensity: number;
}

/** What the request asked for, engine- and protocol-neutral. */
export interface TranscriptionOptions {
  language: string;
  /** Words in the response (batch: word_timestamps; real time: word_timestamps). */
  wordTimestamps: boolean;
  /** Utterances in the response (batch: with word_timestamps; real time: sentence_timestamps). */
  utterances: boolean;
  diarize: boolean;
  genderDetection: boolean;
  emotionDetection: boolean;
  /** Retired by Pulse (2026-05): always answered with a warning. */
  ageDetection: boolean;
  /** Sentence punctuation ('.', ',', '?', '!'). */
  punctuate: boolean;
  /** Sentence case, "I", proper nouns. */
  capitalize: boolean;
  /** Inverse text normalization (numbers, dates, money ...). */
  itn: boolean;
  redactPii: boolean;
  redactPci: boolean;
  keywords: Keyword[];
}

export const DEFAULT_OPTIONS: TranscriptionOptions = {
  language: 'en',
  wordTimestamps: false,
  utterances: false,
  diarize: false,
  genderDetection: false,
  emotionDetection: false,
  ageDetection: false,
  punctuate: true,
  capitalize: true,
  itn: false,
  redactPii: false,
  redactPci: false,
  keywords: [],
};

/** 16 kHz mono float32 PCM and where its first sample sits on the transcript's time axis. */
export interface AudioView {
  pcm: Float32Array;
  /** Seconds: time of pcm[0] in the transcript's time base. */
  offset: number;
  sampleRate: 16000;
}

/**
 * Heavy audio analysis (diarization, pitch, emotion) runs off the event loop through this.
 * `task` names a function registered in `pipeline/analysis/tasks.ts`; inputs and outputs are
 * structured-clone data (typed arrays are transferred where listed).
 */
export interface AnalysisRunner {
  run<I, O>(task: string, input: I, options?: { transfer?: ArrayBuffer[]; signal?: AbortSignal }): Promise<O>;
  close(): Promise<void>;
}

/** Per-session (real time) or per-request (batch) state a stage keeps, keyed by stage name. */
export class StageState {
  private readonly map = new Map<string, unknown>();
  get<T>(stage: string, init: () => T): T {
    let v = this.map.get(stage) as T | undefined;
    if (v === undefined) {
      v = init();
      this.map.set(stage, v);
    }
    return v;
  }
}

export interface StageContext {
  mode: 'batch' | 'realtime';
  /** Real time: a partial (interim) hypothesis; only stages with `partials: true` run on it. */
  partial: boolean;
  options: TranscriptionOptions;
  /** The audio this transcript covers (batch: the file; real time: the final's segment, with margin). */
  audio?: AudioView;
  /** Survives across the finals of one real-time session; fresh per batch request. */
  state: StageState;
  analysis: AnalysisRunner;
  engine: EngineInfo;
  signal?: AbortSignal;
}

/** What a stage says about a request before anything runs: served, or a warning why not. */
export type Capability = { ok: true } | { ok: false; warning: Warning };

export interface Stage {
  readonly name: string;
  /** Whether this request asks for what the stage does (mode-aware). */
  enabled(options: TranscriptionOptions, mode: 'batch' | 'realtime'): boolean;
  /** Whether the stage can serve it here (models installed, engine able, ...). Default: yes. */
  capability?(options: TranscriptionOptions, ctx: Pick<StageContext, 'mode' | 'engine'>): Capability;
  /** Runs on real-time partials too (redaction must: no PII in any event). */
  readonly partials?: boolean;
  /**
   * On failure, drop the piece's text and words instead of passing them on unprocessed (redaction:
   * an unredacted transcript must never reach the client). Default: pass the input on, with a warning.
   */
  readonly failClosed?: boolean;
  /** Needs `ctx.audio`. */
  readonly needsAudio?: boolean;
  run(t: Transcript, ctx: StageContext): Transcript | Promise<Transcript>;
}
