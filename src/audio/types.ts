/**
 * The audio layer's contract: bytes in (any container/codec Pulse accepts), 16 kHz mono float32
 * PCM out. Implementations live beside this file; `index.ts` is the public entry point.
 */
import type { Readable } from 'node:stream';

export const TARGET_SAMPLE_RATE = 16000;

/** Raw (headerless) encodings Pulse names for real-time and for raw pre-recorded bodies. */
export type RawEncoding = 'linear16' | 'linear32' | 'alaw' | 'mulaw' | 'opus' | 'ogg_opus';

export interface DecodeOptions {
  /** For headerless bodies: how the bytes are encoded. Ignored when a container is detected. */
  encoding?: RawEncoding;
  /** For headerless bodies: their sample rate. */
  sampleRate?: number;
  /** Refuse audio longer than this many seconds (AudioDecodeError code 'too_long'). */
  maxDurationSeconds?: number;
  signal?: AbortSignal;
  /** Stop decoding (AudioDecodeError code 'timeout') after this many ms. Default DEFAULT_DECODE_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Stop when the decoder makes no progress (no input read, no output) for this long. Default DEFAULT_STALL_TIMEOUT_MS. */
  stallTimeoutMs?: number;
  /** ffmpeg binary for containers other than WAV (default: $COCHLEA_FFMPEG or `ffmpeg` on PATH). */
  ffmpegPath?: string;
  /**
   * Process-wide budget of decoded audio in flight (see budget.ts). The decode reserves what it
   * produces (or the declared duration up front) and fails with code 'server' (and
   * `retryAfterSeconds`) when the budget is spent; the returned DecodedAudio holds the reservation until `release()`.
   */
  budget?: import('./budget.ts').AudioBudget;
}

export const DEFAULT_DECODE_TIMEOUT_MS = 10 * 60 * 1000;
export const DEFAULT_STALL_TIMEOUT_MS = 30 * 1000;

/** Pulse's message for a body that is no audio at all (code 'invalid_format'). */
export const INVALID_FORMAT_MESSAGE = 'Invalid file format. Supported formats: audio/*';

export interface DecodedAudio {
  /** 16 kHz mono float32 PCM in [-1, 1]. */
  pcm: Float32Array;
  sampleRate: typeof TARGET_SAMPLE_RATE;
  /** Seconds. */
  duration: number;
  /** Detected container/codec, e.g. "wav/pcm_s16le", "mp3", "ogg/opus". */
  format: string;
  sourceSampleRate: number;
  sourceChannels: number;
  /** Non-fatal problems, e.g. a WAV whose data chunk was shorter than its header said. */
  warnings?: string[];
  /**
   * Give back this audio's share of DecodeOptions.budget (idempotent; a no-op without a budget).
   * Call it once the PCM is no longer needed (after recognition).
   */
  release(): void;
}

export type AudioErrorCode =
  | 'invalid_format'
  | 'corrupt'
  | 'empty'
  | 'too_long'
  | 'unsupported'
  | 'aborted'
  /** The decoder ran past DecodeOptions.timeoutMs / stallTimeoutMs and was stopped. */
  | 'timeout'
  /** Not the audio's fault: ffmpeg missing, temp storage full or read-only. A 5xx, not a 400. */
  | 'server';

/** Every decode failure is one of these; the server maps it to a Pulse 400. */
export class AudioDecodeError extends Error {
  readonly code: AudioErrorCode;
  /** For 'server' errors that pass (the in-flight audio budget): seconds to send as Retry-After. */
  retryAfterSeconds?: number;
  constructor(code: AudioErrorCode, message: string) {
    super(message);
    this.name = 'AudioDecodeError';
    this.code = code;
  }
}

/** Incremental decoder for one real-time session: bytes in any chunking, PCM out. */
export interface StreamDecoder {
  /** Decode a chunk; returns the 16 kHz mono PCM it completes (possibly empty). Throws AudioDecodeError. */
  push(chunk: Uint8Array): Float32Array;
  /** End of input: returns whatever is still buffered (e.g. resampler tail). */
  flush(): Float32Array;
  /**
   * Mid-stream: returns the audio held back only because the decoder was not initialised when it
   * arrived (queued Opus packets, early resampler input). Call after `await ready`. The stream
   * stays open; a split sample, a partial Ogg page and the resampler's filter delay stay pending.
   */
  drain(): Float32Array;
  /**
   * Resolves when the decoder's wasm parts are initialised (normally at once: they are pooled and
   * pre-compiled at import). push() before that buffers the input; flush() before that throws.
   */
  readonly ready?: Promise<void>;
  /** Bytes held back because they do not yet form a whole sample frame / Ogg page. */
  readonly pendingBytes?: number;
}

export interface StreamDecoderOptions {
  /**
   * Refuse (AudioDecodeError 'too_long', nothing decoded) a push whose bytes would decode to more
   * than this many seconds. The duration is computed before decoding (PCM: byte count; Opus: the
   * TOC byte of each packet), so one WebSocket frame can never hold the event loop for longer
   * than decoding this much audio takes. Default DEFAULT_MAX_PUSH_SECONDS; Infinity = off.
   */
  maxPushSeconds?: number;
}

/**
 * Default per-push bound (COCHLEA_MAX_FRAME_SECONDS). Measured CPU per second of audio decoded in
 * one push (test/audio/hardening.test.ts prints it; bench/audio-bomb.ts): 48 kHz Ogg Opus and
 * 44.1/48 kHz linear16 cost ~15-25 ms per second on a loaded 2-core host (the resampler
 * dominates), 16 kHz linear16 ~0.1 ms. 2 s keeps one frame's decode to tens of ms at worst there
 * while accepting any sane chunking (Pulse suggests 4096-byte chunks every 50-100 ms); a refused
 * frame costs ~2-5 ms whatever its size.
 */
export const DEFAULT_MAX_PUSH_SECONDS = 2;

export type AudioInput = Uint8Array | Readable;

/** The AudioDecodeError for a push over StreamDecoderOptions.maxPushSeconds. */
export function tooMuchInOnePush(seconds: number, limit: number, atLeast = false): AudioDecodeError {
  return new AudioDecodeError(
    'too_long',
    `One audio frame holds ${atLeast ? 'more than ' : ''}${seconds.toFixed(1)} s of audio, more than the ${limit} s allowed per frame; it was not decoded. Send audio in smaller frames (Pulse suggests 4096-byte chunks every 50-100 ms).`,
  );
}
