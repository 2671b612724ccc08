/**
 * Types of the Pulse-compatible API as Cochlea speaks it (batch over HTTPS, real time over
 * WebSocket). Field names are Pulse's own (snake_case on the wire); unknown extra fields the
 * server adds are kept at run time, the types list the documented ones.
 */

export * from './wire.ts';
import type { AudioEncoding, PulseLanguage, ServerErrorEvent, StreamEvent, TranscriptionEvent } from './wire.ts';

// ---------------------------------------------------------------------------------------------
// Options

export interface RetryOptions {
  /** Extra attempts after the first (default 3). 0 turns retrying off. */
  retries?: number;
  /** First back-off delay in ms (default 250); doubles every attempt, with full jitter. */
  minDelayMs?: number;
  /** Cap on one delay, including a server's Retry-After (default 10 000). */
  maxDelayMs?: number;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  error: Error;
}

/** Minimal shape of a WebSocket implementation (the browser's, Node 22's, or `ws`). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: { code: number; reason: string; wasClean?: boolean }) => void) | null;
}

export type WebSocketFactory = (url: string, headers: Record<string, string>) => WebSocketLike;

export interface ClientOptions {
  /** Server address, e.g. "http://localhost:8080". Node: defaults to $COCHLEA_URL, then http://localhost:8080. Browser: the page's origin. */
  baseUrl?: string;
  /** API key. Node: defaults to $COCHLEA_API_KEY. */
  apiKey?: string;
  retry?: RetryOptions;
  /** Called before every retry (the SDK never retries silently). */
  onRetry?: (info: RetryInfo) => void;
  /** fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /**
   * WebSocket implementation. Default: the `ws` package in Node (sends the key in the
   * Authorization header), else the global WebSocket (sends it as `?token=`, as browsers must).
   */
  webSocket?: WebSocketFactory | (new (url: string, protocols?: string | string[]) => WebSocketLike);
}

/** Audio for `transcribe`. A string is a file path (Node only); `{url}` makes the server fetch it. */
export type AudioInput =
  | string
  | { url: string }
  | { path: string }
  | Uint8Array
  | ArrayBuffer
  | Blob
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array>;

export interface TranscribeOptions {
  language?: PulseLanguage | (string & {});
  /** Words with times and utterances (default false, as Pulse). */
  wordTimestamps?: boolean;
  diarize?: boolean;
  emotionDetection?: boolean;
  genderDetection?: boolean;
  ageDetection?: boolean;
  numerals?: boolean | 'auto';
  /** Inverse text normalization (numbers, dates, money → written form). */
  itnNormalize?: boolean;
  /** Master switch for punctuation, casing and ITN (default true). */
  format?: boolean;
  punctuate?: boolean;
  capitalize?: boolean;
  redactPii?: boolean;
  redactPci?: boolean;
  /** Boosted words, "word" or "word:weight". */
  keywords?: string[];
  webhookUrl?: string;
  webhookMethod?: 'POST' | 'GET';
  /** Returned with the webhook delivery. */
  webhookExtra?: Record<string, string>;
  /** Raw (headerless) audio: its encoding and sample rate. */
  encoding?: AudioEncoding;
  sampleRate?: number;
  /** Content-Type to send (default: from the file name or Blob type, else application/octet-stream). */
  contentType?: string;
  /** File name reported back in `metadata.filename` (default: the path's base name). */
  filename?: string;
  /** Extra query parameters, passed through as-is. */
  params?: Record<string, string | number | boolean>;
  /** API path (default /waves/v1/pulse/get_text). */
  path?: string;
  signal?: AbortSignal;
  /** Give up after this many ms (whole call, retries included). */
  timeoutMs?: number;
}

export interface StreamOptions {
  language?: PulseLanguage | (string & {});
  /** Encoding of the bytes you write (default linear16). */
  encoding?: AudioEncoding;
  /** Sample rate of the bytes you write (default 16000). */
  sampleRate?: number;
  /** Default true on /waves/v1/pulse/get_text. */
  wordTimestamps?: boolean;
  fullTranscript?: boolean;
  sentenceTimestamps?: boolean;
  /** Trailing silence that ends a segment, 100..10000 ms (server default 800). */
  eouTimeoutMs?: number;
  endpointing?: boolean;
  /** Trailing silence (ms) that ends a segment when endpointing (capped by eouTimeoutMs). */
  endpointingTimeoutMs?: number;
  vadEvents?: boolean;
  maxWords?: number;
  /** false: no word-count finals (finalize yourself). */
  finalizeOnWords?: boolean;
  externalSessionId?: string;
  keywords?: string[];
  diarize?: boolean;
  numerals?: boolean | 'auto';
  /** Inverse text normalization (numbers, dates, money → written form). */
  itnNormalize?: boolean;
  /** Master switch for punctuation, casing and ITN (default true). */
  format?: boolean;
  punctuate?: boolean;
  capitalize?: boolean;
  emotionDetection?: boolean;
  genderDetection?: boolean;
  redactPii?: boolean;
  redactPci?: boolean;
  params?: Record<string, string | number | boolean>;
  /** API path (default /waves/v1/pulse/get_text). */
  path?: string;
  signal?: AbortSignal;
  /** Largest binary frame the SDK sends; bigger writes are split (default 32 KiB). */
  maxFrameBytes?: number;
  /** `write()` returns false once this many bytes wait in the socket (default 1 MiB). */
  highWaterMark?: number;
  // Callbacks (you can also iterate the session, or use `session.on(...)`).
  onEvent?: (ev: StreamEvent) => void;
  onPartial?: (ev: TranscriptionEvent) => void;
  onFinal?: (ev: TranscriptionEvent) => void;
  onServerError?: (ev: ServerErrorEvent) => void;
  /** A fatal error: the session is over. */
  onError?: (err: Error) => void;
  onOpen?: () => void;
  onClose?: (info: { code: number; reason: string }) => void;
}
