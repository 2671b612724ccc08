/**
 * The Pulse wire format: the JSON the server sends (batch responses, real-time events, error
 * bodies). One source of truth: the Cochlea server formats its responses with these types
 * (`src/server/pulse-format.ts` imports them) and the client parses with them. Field names are
 * Pulse's own (snake_case on the wire); the types list the documented fields.
 */

/** Language codes and multi-language modes Pulse documents (batch and streaming lists). */
export const PULSE_LANGUAGE_CODES = [
  'en', 'hi', 'de', 'es', 'ru', 'it', 'fr', 'nl', 'pt', 'uk', 'pl', 'cs', 'sk', 'lv', 'et', 'ro', 'fi', 'sv',
  'bg', 'hu', 'da', 'lt', 'mt', 'zh', 'yue', 'ja', 'ko', 'gu', 'mr', 'or', 'bn', 'ta', 'te', 'kn', 'ml', 'pa',
  'hi-dev',
] as const;

/** Multi-language (detection) modes: Pulse's regional aggregators and the legacy `multi`. */
export const PULSE_MULTI_LANGUAGES = ['multi', 'auto', 'multi-eu', 'multi-asian', 'multi-indic', 'north_indic', 'multi-south-indic'] as const;

export type PulseLanguage = (typeof PULSE_LANGUAGE_CODES)[number] | (typeof PULSE_MULTI_LANGUAGES)[number];

export type AudioEncoding = 'linear16' | 'linear32' | 'alaw' | 'mulaw' | 'opus' | 'ogg_opus';

export interface PulseWord {
  word: string;
  /** Seconds from the start of the audio (batch) or of the session (real time). */
  start: number;
  end: number;
  confidence: number;
  /** Zero-based speaker label (diarize=true). */
  speaker?: number;
  speaker_confidence?: number;
}

export interface PulseUtterance {
  text: string;
  start: number;
  end: number;
  speaker?: number;
}

/** An option the server could not honour as asked (Cochlea extension; Pulse clients ignore it). */
export interface PulseWarning {
  /** The request parameter concerned, e.g. `emotion_detection`. */
  option: string;
  message: string;
  /** The command that installs what is missing, when one exists. */
  fix?: string;
}

export interface PulseEmotions {
  happiness: number;
  sadness: number;
  disgust: number;
  fear: number;
  anger: number;
}

/** Response of a pre-recorded (batch) transcription. */
export interface PulseTranscription {
  status: 'success';
  transcription: string;
  /** Always present; filled with `word_timestamps=true`. */
  words: PulseWord[];
  /** Always present on `model=pulse`; filled with `word_timestamps=true`. Absent on Pulse Pro. */
  utterances?: PulseUtterance[];
  /** Language served / detected. */
  language?: string;
  /** gender_detection=true: the dominant speaker's gender. */
  gender?: 'male' | 'female';
  /** emotion_detection=true: scores 0..1. */
  emotions?: PulseEmotions;
  /** redact_pii / redact_pci: the placeholders used, in order. */
  redacted_entities?: string[];
  warnings?: PulseWarning[];
  metadata: {
    duration: number;
    fileSize?: number;
    filename?: string;
    processing_time_ms?: number;
    rtfx?: number;
    num_chunks?: number;
  };
  /** Cochlea always sends it (Pulse sends it on Pulse Pro only). */
  request_id: string;
  /** Pulse Pro: bytes received. */
  totalBytes?: number;
}

/** `{"status":"processing","request_id"}`: the immediate answer to a webhook request. */
export interface PulseProcessing {
  status: 'processing';
  request_id: string;
}

/** Body of an error response: Pulse's legacy shape (`status/message/errors`) or the unified one (`error/request_id/details`). */
export interface PulseErrorBody {
  status?: 'error';
  message?: string;
  error?: string;
  errors?: { field: string; message: string }[];
  request_id?: string;
  details?: { field: string; message: string }[];
}

// ---------------------------------------------------------------------------------------------
// Real-time events (server → client)

export interface TranscriptionEvent {
  type: 'transcription';
  status: 'success';
  session_id: string;
  external_session_id?: string;
  transcript: string;
  /** The same text as `transcript` (Pulse sends both; the official SDK reads this one). */
  transcription?: string;
  is_final: boolean;
  is_last: boolean;
  /** On finals: the primary language served / detected. */
  language?: string;
  /** On finals: every language in the segment. */
  languages?: string[];
  /** Segment start/end in seconds from the session start. */
  start?: number;
  end?: number;
  /** On finals, with word timestamps. Times relative to the session start. */
  words?: PulseWord[];
  /** On finals: everything finalized so far in the session. */
  full_transcript?: string;
  /** On finals, with `sentence_timestamps=true`. */
  utterances?: PulseUtterance[];
  /** True on the final answering a `finalize`. */
  from_finalize?: boolean;
  redacted_entities?: string[];
  gender?: 'male' | 'female';
  emotions?: PulseEmotions;
  /** On the session's first final: options the server could not honour. */
  warnings?: PulseWarning[];
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

/** Answer to `{"type":"keepalive"}`. */
export interface PongEvent {
  type: 'pong';
  session_id: string;
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
  error_code?: string;
}

export type StreamEvent = TranscriptionEvent | SpeechStartedEvent | SpeechEndedEvent | PongEvent | ServerErrorEvent;
