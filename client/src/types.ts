/**
 * Types of the Pulse-compatible API as Cochlea speaks it (batch over HTTPS, real time over
 * WebSocket). Field names are Pulse's own (snake_case on the wire); unknown extra fields the
 * server adds are kept at run time, the types list the documented ones.
 */

/** Language codes Pulse documents, plus its auto-detection values. */
export type PulseLanguage =
  | 'it' | 'es' | 'en' | 'pt' | 'hi' | 'de' | 'fr' | 'uk' | 'ru' | 'kn' | 'ml' | 'pl' | 'mr' | 'gu' | 'cs'
  | 'sk' | 'te' | 'or' | 'nl' | 'bn' | 'lv' | 'et' | 'ro' | 'pa' | 'fi' | 'sv' | 'bg' | 'ta' | 'hu' | 'da'
  | 'lt' | 'mt' | 'ja' | 'ko' | 'zh' | 'yue' | 'multi' | 'multi-asian';

export type AudioEncoding = 'linear16' | 'linear32' | 'alaw' | 'mulaw' | 'opus' | 'ogg_opus';

export interface PulseWord {
  word: string;
  /** Seconds from the start of the audio (batch) or of the session (real time). */
  start: number;
  end: number;
  confidence: number;
  speaker?: number | string;
  speaker_confidence?: number;
}

export interface PulseUtterance {
  text: string;
  start: number;
  end: number;
  speaker?: number | string;
}

/** Response of a pre-recorded (batch) transcription. */
export interface PulseTranscription {
  status: 'success';
  transcription: string;
  /** Present with `wordTimestamps: true`. */
  words?: PulseWord[];
  /** Present with `wordTimestamps: true` (Pulse turns both on together). */
  utterances?: PulseUtterance[];
  language?: string;
  metadata: { duration: number; fileSize: number; filename?: string };
  request_id: string;
}

/** Body of an error response in Pulse's shapes (400 / 401 / 413 / 500 ...). */
export interface PulseErrorBody {
  status?: 'error';
  message?: string;
  error?: string;
  errors?: { field: string; message: string }[];
}

// ---------------------------------------------------------------------------------------------
// Real-time events (server → client)

export interface TranscriptionEvent {
  type: 'transcription';
  status: 'success';
  session_id: string;
  external_session_id?: string;
  transcript: string;
  is_final: boolean;
  is_last: boolean;
  language: string;
  /** Segment start/end in seconds from the session start. */
  start?: number;
  end?: number;
  /** With word timestamps (default on for pulse/get_text). Times relative to the session start. */
  words?: PulseWord[];
  /** On finals, with `fullTranscript: true`. */
  full_transcript?: string;
  /** On finals, with `sentenceTimestamps: true`. */
  utterances?: PulseUtterance[];
  /** True on the final answering a `finalize()`. */
  from_finalize?: boolean;
}

export interface SpeechStartedEvent {
  type: 'speech_started';
  session_id: string;
  timestamp: number;
}

export interface SpeechEndedEvent {
  type: 'speech_ended';
  session_id: string;
  timestamp: number;
}

/**
 * An error the server reported on an open session (bad frame, wrong encoding, buffer limit...).
 * Some are followed by the server closing the session; that surfaces separately as a close.
 */
export interface ServerErrorEvent {
  type: 'error';
  status: 'error';
  session_id?: string;
  message: string;
}

export type StreamEvent = TranscriptionEvent | SpeechStartedEvent | SpeechEndedEvent | ServerErrorEvent;

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
  redactPii?: boolean;
  redactPci?: boolean;
  /** Boosted words, "word" or "word:weight". */
  keywords?: string[];
  webhookUrl?: string;
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
  vadEvents?: boolean;
  maxWords?: number;
  externalSessionId?: string;
  keywords?: string[];
  diarize?: boolean;
  numerals?: boolean | 'auto';
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
