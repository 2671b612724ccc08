/**
 * The engine interface: PCM in, words with times out. Nothing here knows about Pulse or HTTP;
 * the pipeline and server map these results to Pulse's shapes.
 *
 * Modelled on livekit/agents-js `stt.ts`: `recognize()` for whole buffers, `stream()` for a live
 * session that yields typed speech events as an async iterable.
 *
 * Audio contract: every engine receives 16 kHz mono float32 PCM in [-1, 1] (`ENGINE_SAMPLE_RATE`).
 * The `audio/` layer turns any input into that.
 */

export const ENGINE_SAMPLE_RATE = 16000;

/** One recognized word. Times are seconds from the start of the audio given to the engine. */
export interface EngineWord {
  word: string;
  start: number;
  end: number;
  /** 0..1 */
  confidence: number;
}

/** A stretch of speech the engine decoded as one unit (e.g. between two pauses). */
export interface EngineSegment {
  text: string;
  start: number;
  end: number;
  words: EngineWord[];
}

export interface RecognitionResult {
  text: string;
  words: EngineWord[];
  segments: EngineSegment[];
  /** Language the engine decoded in (BCP-47-ish code, e.g. "en"). */
  language: string;
  /** Seconds of audio processed. */
  duration: number;
  /** Wall-clock seconds the engine spent decoding (excludes queueing). */
  decodeSeconds: number;
}

export interface RecognizeOptions {
  /** Requested language code, or "multi" for auto-detection. */
  language?: string;
  /** Words/phrases to boost, engine permitting. Format "word" or "word:boost". */
  keywords?: string[];
  signal?: AbortSignal;
  /**
   * Stop the job (EngineError 'deadline_exceeded') when it has run this long, seconds, counted from
   * when a worker starts it. Default (worker pool): its jobDeadline factor × duration + floor.
   */
  deadlineSeconds?: number;
}

export interface StreamOptions extends RecognizeOptions {
  /** Trailing silence (ms) after which the current segment is finalized. */
  endpointSilenceMs?: number;
  /** Finalize a segment once it holds this many words (0 = off). */
  maxWords?: number;
  /** Finalize a segment once it is this long (seconds). */
  maxSegmentSeconds?: number;
  /** Emit speech_started / speech_ended events. */
  vadEvents?: boolean;
}

export type FinalReason = 'endpoint' | 'finalize' | 'max_words' | 'max_length' | 'end_of_stream';

export type SpeechEvent =
  | { type: 'partial'; text: string; words: EngineWord[]; start: number; end: number }
  | {
      type: 'final';
      text: string;
      words: EngineWord[];
      start: number;
      end: number;
      reason: FinalReason;
      /** True for the final emitted in answer to `finalize()`. */
      fromFinalize: boolean;
      /** True for the very last event of the stream (after `end()`). */
      isLast: boolean;
      /** Engine time spent on this segment's decode, seconds. */
      decodeSeconds?: number;
    }
  | { type: 'speech_started'; timestamp: number }
  | { type: 'speech_ended'; timestamp: number }
  | { type: 'error'; message: string; code?: string };

/**
 * A live recognition session. Audio is pushed in; events come out in order through async
 * iteration. The iterator ends after the `isLast` final (after `end()`) or after `abort()`.
 */
export interface SpeechStream extends AsyncIterable<SpeechEvent> {
  readonly id: string;
  /** Queue 16 kHz mono float32 PCM. Never blocks the caller; decoding happens elsewhere. */
  pushAudio(pcm: Float32Array): void;
  /** Flush: decode everything pushed so far and emit a final (fromFinalize), keep the session. */
  finalize(): void;
  /** No more audio: flush, emit the last final with isLast, then end the iterator. */
  end(): void;
  /** Stop now, drop pending work, free resources. The iterator ends without an isLast final. */
  abort(): void;
  /** Seconds of audio pushed but not yet decoded (for back-pressure and lag metrics). */
  readonly pendingSeconds: number;
}

export interface EngineInfo {
  name: string;
  /** Language codes this engine can transcribe. */
  languages: string[];
  streaming: boolean;
  wordTimestamps: boolean;
  /** Whether per-word confidences are real posteriors (false: a constant placeholder). */
  wordConfidence: boolean;
  /** True when the engine boosts `keywords`; absent or false: keywords are ignored (and the response says so). */
  keywords?: boolean;
}

export interface Engine {
  readonly info: EngineInfo;
  /** Load models / start workers. Idempotent. */
  init(): Promise<void>;
  recognize(pcm: Float32Array, options?: RecognizeOptions): Promise<RecognitionResult>;
  stream(options?: StreamOptions): SpeechStream;
  /** Stop workers and free native resources. */
  close(): Promise<void>;
}
