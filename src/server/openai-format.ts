/**
 * Engine-neutral transcripts → the OpenAI audio API's shapes (the `openai` npm package's
 * `Transcription`, `TranscriptionVerbose`, `TranscriptionTextDeltaEvent`/`DoneEvent` types), and
 * OpenAI's error body. Every OpenAI shape the server sends is made here.
 *
 * Fields whisper-1 has and our engines do not produce are filled with what is true of them:
 *   segments   = the transcript's utterances (split at pauses and sentence ends), text with the
 *                leading space whisper-1 puts on segment text;
 *   tokens     = [] (no BPE token ids exist);
 *   seek       = the segment start in 10 ms frames (whisper's unit; there is no 30 s window);
 *   temperature = 0 (decoding is deterministic);
 *   avg_logprob = mean natural log of the segment's word confidences;
 *   compression_ratio = the segment text's UTF-8 size over its zlib-compressed size, as whisper
 *                computes it (a repetition detector);
 *   no_speech_prob = 0 (a segment only exists where words were recognised).
 */
import zlib from 'node:zlib';
import type { Transcript, Warning, Word } from '../pipeline/index.ts';
import { buildCues, toSrt, toVtt } from '../util/captions.ts';

export type OpenAiResponseFormat = 'json' | 'text' | 'srt' | 'vtt' | 'verbose_json';
export const OPENAI_RESPONSE_FORMATS: readonly OpenAiResponseFormat[] = ['json', 'text', 'srt', 'vtt', 'verbose_json'];
export type Granularity = 'word' | 'segment';

const round3 = (x: number) => Math.round(x * 1000) / 1000;

const languageNames = new Intl.DisplayNames(['en'], { type: 'language' });

/** whisper-1 reports the language by English name, lower case ("english"). */
export function languageName(code: string): string {
  try {
    const n = languageNames.of(code);
    return n ? n.toLowerCase() : code;
  } catch {
    return code;
  }
}

/** OpenAI bills (and reports `usage.seconds`) in whole seconds, rounded up. */
function usage(t: Transcript): { type: 'duration'; seconds: number } {
  return { type: 'duration', seconds: Math.ceil(t.duration) };
}

function withWarnings<T extends Record<string, unknown>>(body: T, warnings: Warning[]): T & { warnings?: Warning[] } {
  return warnings.length ? { ...body, warnings } : body;
}

/** `response_format=json`: `{text, usage}` (+ `warnings` when an option could not be honoured). */
export function formatJson(t: Transcript, warnings: Warning[] = t.warnings): Record<string, unknown> {
  return withWarnings({ text: t.text, usage: usage(t) }, warnings);
}

/** `response_format=text`: the transcript and a newline, as OpenAI sends it. */
export function formatText(t: Transcript): string {
  return t.text + '\n';
}

function captionSource(t: Transcript) {
  return { transcription: t.text, words: t.words, utterances: t.utterances, metadata: { duration: t.duration } };
}

export function formatSrt(t: Transcript): string {
  return toSrt(buildCues(captionSource(t)));
}

export function formatVtt(t: Transcript): string {
  return toVtt(buildCues(captionSource(t)));
}

export interface OpenAiSegment {
  id: number;
  seek: number;
  start: number;
  end: number;
  text: string;
  tokens: number[];
  temperature: number;
  avg_logprob: number;
  compression_ratio: number;
  no_speech_prob: number;
}

function compressionRatio(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return 0;
  return Math.round((bytes.length / zlib.deflateSync(bytes).length) * 10000) / 10000;
}

function avgLogprob(words: Word[]): number {
  if (!words.length) return 0;
  const sum = words.reduce((a, w) => a + Math.log(Math.max(1e-6, w.confidence)), 0);
  return Math.round((sum / words.length) * 10000) / 10000;
}

/** Words of each utterance, by time (utterances and words are both in time order). */
function wordsByUtterance(t: Transcript): Word[][] {
  const groups: Word[][] = t.utterances.map(() => []);
  let u = 0;
  for (const w of t.words) {
    const mid = (w.start + w.end) / 2;
    while (u < t.utterances.length - 1 && mid > t.utterances[u].end) u++;
    groups[u]?.push(w);
  }
  return groups;
}

export function segments(t: Transcript): OpenAiSegment[] {
  const groups = wordsByUtterance(t);
  return t.utterances.map((u, i) => ({
    id: i,
    seek: Math.round(u.start * 100),
    start: round3(u.start),
    end: round3(u.end),
    text: ' ' + u.text,
    tokens: [],
    temperature: 0,
    avg_logprob: avgLogprob(groups[i]),
    compression_ratio: compressionRatio(u.text),
    no_speech_prob: 0,
  }));
}

/**
 * `response_format=verbose_json`: task, language (English name), duration, text, and `segments`
 * and/or `words` per `timestamp_granularities[]` (default: segments only, as OpenAI).
 */
export function formatVerbose(t: Transcript, granularities: Granularity[], warnings: Warning[] = t.warnings): Record<string, unknown> {
  const g = granularities.length ? granularities : ['segment'];
  const body: Record<string, unknown> = {
    task: 'transcribe',
    language: languageName(t.language),
    duration: round3(t.duration),
    text: t.text,
  };
  if (g.includes('segment')) body.segments = segments(t);
  if (g.includes('word')) body.words = t.words.map((w) => ({ word: w.word, start: round3(w.start), end: round3(w.end) }));
  body.usage = usage(t);
  return withWarnings(body, warnings);
}

/** `stream=true`: one event per piece of newly final text. */
export function deltaEvent(delta: string): { type: 'transcript.text.delta'; delta: string } {
  return { type: 'transcript.text.delta', delta };
}

/** `stream=true`: the last event, with the whole text. */
export function doneEvent(text: string, warnings: Warning[] = []): Record<string, unknown> {
  return withWarnings({ type: 'transcript.text.done', text }, warnings);
}

/** One server-sent event (data only, as OpenAI sends them). */
export function sse(obj: unknown): string {
  return `data: ${JSON.stringify(obj)}\n\n`;
}

export type OpenAiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'server_error' | 'rate_limit_error';

/** OpenAI's error body: `{"error":{"message","type","param","code"}}`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class OpenAiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly type: OpenAiErrorType = statusCode >= 500 ? 'server_error' : 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'OpenAiError';
  }

  get body(): OpenAiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** The request's warnings as an ASCII header value (for text/srt/vtt bodies, which have no room for them). */
export function warningsHeader(warnings: Warning[]): string | undefined {
  if (!warnings.length) return undefined;
  return JSON.stringify(warnings.map((w) => `${w.option}: ${w.message}`)).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
