/**
 * What a recognizer must provide to run inside Cochlea's worker threads.
 *
 * The worker host (generic, see `worker-host.ts`) owns sessions, VAD, endpointing and event
 * emission; a backend only turns PCM into words. One backend instance lives in each worker
 * thread and is only ever called from that thread, so backends may hold non-thread-safe native
 * state. Mirrors sherpa-onnx's websocket server: each worker pass calls `decodeReady()` once with
 * every session that has new audio, so batched backends (sherpa `decodeStreams`) decode them in
 * one call.
 *
 * Audio is 16 kHz mono float32. Word times returned by a `StreamingDecoder` are seconds relative
 * to the first sample fed to it since it was created or last `endSegment()`ed; the host adds the
 * session offset.
 */
import type { EngineInfo, EngineWord, RecognizeOptions, RecognitionResult } from './types.ts';

export interface Hypothesis {
  text: string;
  words: EngineWord[];
}

export interface StreamingDecoder {
  /** Append audio to the current segment (no decoding yet). */
  accept(pcm: Float32Array): void;
  /** Current best hypothesis of the segment so far (after the last decode pass). */
  hypothesis(): Hypothesis;
  /** The recognizer's own end-of-speech signal, if it has one (e.g. pocketsphinx in_speech). */
  inSpeech?(): boolean;
  /**
   * True when the decoder has work left from audio already accepted (e.g. a re-decode it spreads
   * over several passes): the host runs another pass for it even without new audio.
   */
  hasBacklog?(): boolean;
  /** Decode all remaining audio, return the segment's final words, start a fresh segment. */
  endSegment(): Hypothesis;
  /** Release native resources. The decoder is not used afterwards. */
  free(): void;
}

export interface StreamingDecoderOptions {
  language?: string;
  keywords?: string[];
}

export interface Backend {
  readonly info: EngineInfo;
  /** Called once in the worker before anything else. */
  init(): Promise<void>;
  /** Whole-buffer recognition (runs in the worker thread; may block it). */
  recognize(pcm: Float32Array, options: RecognizeOptions): Promise<RecognitionResult> | RecognitionResult;
  createDecoder(options: StreamingDecoderOptions): StreamingDecoder;
  /** One decode pass over every decoder with newly accepted audio. */
  decodeReady(decoders: StreamingDecoder[]): void;
  /**
   * True when `decodeReady(ds)` is just each decoder in turn (nothing batched across streams):
   * the worker then decodes a pass session by session and serves a finalize that arrives
   * mid-pass between two of them. Batching backends (sherpa-onnx) leave it unset.
   */
  readonly independentDecoders?: boolean;
  dispose(): void;
}

/** How a worker finds its backend: a module path exporting `createBackend(config)`. */
export interface BackendSpec {
  /** Absolute file URL of a module exporting `createBackend(config: unknown): Backend`. */
  module: string;
  config: unknown;
}
