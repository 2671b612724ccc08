/**
 * The one place Pulse's JSON is made: `Transcript` (the pipeline's typed model) → the batch
 * response, real-time transcription events, VAD events and error events. The shapes are the wire
 * types shared with the client (`client/src/wire.ts`).
 *
 * Field mapping (pulse-spec §2, §3):
 *   words       → {word, start, end, confidence, speaker?, speaker_confidence?}
 *   utterances  → {text, start, end, speaker?}
 *   gender      → top-level "male"/"female" (gender_detection)
 *   emotions    → top-level scores object (emotion_detection)
 *   redacted    → redacted_entities: the placeholder strings (whenever redact_pii/redact_pci is on)
 *   warnings    → [{option, message, fix?}] when non-empty
 */
import type { Transcript, TranscriptionOptions, Utterance, Word, Warning } from '../pipeline/types.ts';
import type {
  PulseTranscription,
  PulseUtterance,
  PulseWarning,
  PulseWord,
  ServerErrorEvent,
  SpeechEndedEvent,
  SpeechStartedEvent,
  TranscriptionEvent,
} from '../../client/src/wire.ts';

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function formatWord(w: Word): PulseWord {
  // Pulse shows redaction placeholders lowercase in words[] (uppercase in the transcript).
  const o: PulseWord = { word: w.entity ? w.word.toLowerCase() : w.word, start: round3(w.start), end: round3(w.end), confidence: w.confidence };
  if (w.speaker !== undefined) o.speaker = w.speaker;
  if (w.speakerConfidence !== undefined) o.speaker_confidence = w.speakerConfidence;
  return o;
}

export function formatUtterance(u: Utterance): PulseUtterance {
  const o: PulseUtterance = { text: u.text, start: round3(u.start), end: round3(u.end) };
  if (u.speaker !== undefined) o.speaker = u.speaker;
  return o;
}

export function formatWarnings(ws: Warning[]): PulseWarning[] {
  return ws.map((w) => (w.fix ? { option: w.option, message: w.message, fix: w.fix } : { option: w.option, message: w.message }));
}

/** The enrichment fields batch responses and real-time finals share. */
function enrichments(t: Transcript, o: TranscriptionOptions, target: Partial<PulseTranscription & TranscriptionEvent>): void {
  if (o.genderDetection && t.gender) target.gender = t.gender.gender;
  if (o.emotionDetection && t.emotions) target.emotions = { ...t.emotions };
  if (o.redactPii || o.redactPci) target.redacted_entities = (t.redacted ?? []).map((r) => r.placeholder);
  if (t.warnings.length) target.warnings = formatWarnings(t.warnings);
}

export interface BatchFormatContext {
  options: TranscriptionOptions;
  model: 'pulse' | 'pulse-pro';
  requestId: string;
  fileSize: number;
  filename?: string;
  /** Wall time of the whole request, ms (Pulse Pro metadata). */
  processingMs?: number;
}

/**
 * Pulse batch: status, transcription, words[] and utterances[] (always present, filled with
 * word_timestamps=true), metadata{duration, fileSize, filename?}. Cochlea also reports the served
 * `language` and `request_id` (extra fields; Pulse clients ignore them).
 * Pulse Pro: adds language, request_id, totalBytes and metadata{processing_time_ms, rtfx, num_chunks};
 * no utterances.
 */
export function formatBatchResponse(t: Transcript, ctx: BatchFormatContext): PulseTranscription {
  const o = ctx.options;
  const body: PulseTranscription = {
    status: 'success',
    transcription: t.text,
    words: o.wordTimestamps ? t.words.map(formatWord) : [],
    metadata: { duration: round3(t.duration) },
    request_id: ctx.requestId,
  };
  if (ctx.model !== 'pulse-pro') body.utterances = o.wordTimestamps ? t.utterances.map(formatUtterance) : [];
  body.language = t.language;
  enrichments(t, o, body);
  if (ctx.model === 'pulse-pro') {
    const ms = Math.round(ctx.processingMs ?? 0);
    body.metadata = {
      duration: round3(t.duration),
      processing_time_ms: ms,
      rtfx: ms > 0 ? Math.round((t.duration * 1000 * 100) / ms) / 100 : 0,
      num_chunks: 1,
    };
    body.totalBytes = ctx.fileSize;
  } else {
    body.metadata.fileSize = ctx.fileSize;
    if (ctx.filename) body.metadata.filename = ctx.filename;
  }
  return body;
}

export interface EventContext {
  sessionId: string;
  externalSessionId?: string;
  options: TranscriptionOptions;
}

function base(ctx: EventContext): { session_id: string; external_session_id?: string } {
  return ctx.externalSessionId ? { session_id: ctx.sessionId, external_session_id: ctx.externalSessionId } : { session_id: ctx.sessionId };
}

export interface FinalInfo {
  isLast: boolean;
  fromFinalize: boolean;
  /** Everything finalized so far (sent when full_transcript is on). */
  fullTranscript?: string;
}

/**
 * A real-time transcription event. `transcript` and `transcription` carry the same text (Pulse
 * sends both). Interim events carry text only (pulse-spec §3.1: only finals carry words;
 * language/languages only on finals, §3.2); finals add words (word_timestamps), utterances
 * (sentence_timestamps), language/languages, enrichments and, on the first final, warnings.
 */
export function formatTranscriptionEvent(t: Transcript, ctx: EventContext, final?: FinalInfo): TranscriptionEvent {
  const ev: TranscriptionEvent = {
    type: 'transcription',
    status: 'success',
    ...base(ctx),
    transcript: t.text,
    transcription: t.text,
    is_final: final !== undefined,
    is_last: final?.isLast ?? false,
    start: round3(t.start),
    end: round3(t.end),
  };
  if (!final) return ev;
  const o = ctx.options;
  ev.language = t.language;
  ev.languages = [t.language];
  if (final.fromFinalize) ev.from_finalize = true;
  if (final.fullTranscript !== undefined) ev.full_transcript = final.fullTranscript;
  if (o.wordTimestamps) ev.words = t.words.map(formatWord);
  if (o.utterances) ev.utterances = t.utterances.map(formatUtterance);
  enrichments(t, o, ev);
  return ev;
}

export function formatVadEvent(type: 'speech_started' | 'speech_ended', timestamp: number, ctx: Pick<EventContext, 'sessionId' | 'externalSessionId'>): SpeechStartedEvent | SpeechEndedEvent {
  return { type, ...base(ctx as EventContext), timestamp: round3(timestamp) };
}

export function formatErrorEvent(message: string, sessionId?: string, errorCode?: string): ServerErrorEvent {
  const ev: ServerErrorEvent = { type: 'error', status: 'error', message };
  if (sessionId) ev.session_id = sessionId;
  if (errorCode) ev.error_code = errorCode;
  return ev;
}
