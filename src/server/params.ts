/**
 * Query parameters of the Pulse API, validated with TypeBox and mapped onto the pipeline's
 * protocol-neutral `TranscriptionOptions`. Unknown parameters are ignored (Pulse clients send
 * vendor-specific extras); known ones must be well-formed or the request gets a 400 naming them.
 *
 * Defaults follow Pulse (see ../shared/pulse-spec.md §3):
 *   format / punctuate / capitalize  true; format=false forces punctuate, capitalize and ITN off
 *   ITN                              itn_normalize=true or numerals=true → on; numerals=false → off;
 *                                    numerals=auto (default) → on for batch (Pulse batch has no
 *                                    itn_normalize and normalizes numbers), off on real time
 *   word_timestamps                  false on batch and /stt/live; true on the legacy WebSocket path
 *   utterances                       batch: with word_timestamps; real time: sentence_timestamps
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { badRequest, type FieldError } from './errors.ts';
import type { RawEncoding } from '../audio/types.ts';
import { DEFAULT_OPTIONS, type Keyword, type TranscriptionOptions } from '../pipeline/types.ts';
import { PULSE_LANGUAGE_CODES, PULSE_MULTI_LANGUAGES } from '../../client/src/wire.ts';

/** Every language value Pulse documents: concrete codes and multi-language modes. */
export const PULSE_LANGUAGES: readonly string[] = [...PULSE_LANGUAGE_CODES, ...PULSE_MULTI_LANGUAGES];

export const MAX_KEYWORDS = 100;
export const MAX_KEYWORDS_CHARS = 4096;
export const MAX_WEBHOOK_URL_CHARS = 2048;

const Bool = Type.Union([Type.Literal('true'), Type.Literal('false')]);
const Numerals = Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('auto')]);
const Encoding = Type.Union(['linear16', 'linear32', 'alaw', 'mulaw', 'opus', 'ogg_opus'].map((e) => Type.Literal(e)));
const Int = (digits: number) => Type.String({ pattern: `^[0-9]{1,${digits}}$` });

/** Parameters both paths accept. */
const common = {
  language: Type.Optional(Type.String()),
  word_timestamps: Type.Optional(Bool),
  diarize: Type.Optional(Bool),
  diarization: Type.Optional(Bool),
  emotion_detection: Type.Optional(Bool),
  gender_detection: Type.Optional(Bool),
  age_detection: Type.Optional(Bool),
  numerals: Type.Optional(Numerals),
  itn_normalize: Type.Optional(Bool),
  format: Type.Optional(Bool),
  punctuate: Type.Optional(Bool),
  capitalize: Type.Optional(Bool),
  redact_pii: Type.Optional(Bool),
  redact_pci: Type.Optional(Bool),
  keywords: Type.Optional(Type.String({ maxLength: MAX_KEYWORDS_CHARS })),
  encoding: Type.Optional(Encoding),
  sample_rate: Type.Optional(Int(6)),
};

export const BatchQuery = Type.Object(
  {
    ...common,
    model: Type.Optional(Type.Union([Type.Literal('pulse'), Type.Literal('pulse-pro')])),
    webhook_url: Type.Optional(Type.String({ maxLength: MAX_WEBHOOK_URL_CHARS })),
    webhook_method: Type.Optional(Type.Union([Type.Literal('POST'), Type.Literal('GET'), Type.Literal('post'), Type.Literal('get')])),
    webhook_extra: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  { additionalProperties: true },
);
export type BatchQueryT = Static<typeof BatchQuery>;

export const RealtimeQuery = Type.Object(
  {
    ...common,
    model: Type.Optional(Type.String()),
    full_transcript: Type.Optional(Bool),
    sentence_timestamps: Type.Optional(Bool),
    eou_timeout_ms: Type.Optional(Int(6)),
    endpointing: Type.Optional(Bool),
    endpointing_timeout: Type.Optional(Int(6)),
    vad_events: Type.Optional(Bool),
    vad: Type.Optional(Bool),
    max_words: Type.Optional(Int(5)),
    finalize_on_words: Type.Optional(Bool),
    external_session_id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' })),
  },
  { additionalProperties: true },
);
export type RealtimeQueryT = Static<typeof RealtimeQuery>;

const batchCheck = TypeCompiler.Compile(BatchQuery);
const realtimeCheck = TypeCompiler.Compile(RealtimeQuery);

/** What is wrong with one query field, in words a caller can act on. */
function describe(field: string, value: unknown, schema: TSchema | undefined): string {
  switch (field) {
    case 'numerals':
      return 'numerals must be "true", "false" or "auto"';
    case 'sample_rate':
      return 'sample_rate must be an integer number of Hz';
    case 'encoding':
      return 'encoding must be one of linear16, linear32, alaw, mulaw, opus, ogg_opus';
    case 'model':
      return 'model must be "pulse" or "pulse-pro"';
    case 'keywords':
      return `keywords must be at most ${MAX_KEYWORDS_CHARS} characters (a comma-separated list of KEYWORD[:INTENSIFIER])`;
    case 'webhook_url':
      return `webhook_url must be an http(s) URL of at most ${MAX_WEBHOOK_URL_CHARS} characters`;
    case 'webhook_method':
      return 'webhook_method must be "POST" or "GET"';
    case 'webhook_extra':
      return 'webhook_extra must be at most 4096 characters of comma-separated key:value pairs';
    case 'external_session_id':
      return 'external_session_id must be 1 to 128 characters of A-Z, a-z, 0-9, "_", "." or "-"';
    case 'eou_timeout_ms':
    case 'endpointing_timeout':
    case 'max_words':
      return `${field} must be a non-negative integer`;
  }
  if (schema && 'anyOf' in schema) return `${field} must be "true" or "false"`;
  return `${field} has an invalid value "${String(value)}"`;
}

type Check = { Errors(v: unknown): Iterable<{ path: string; value: unknown; schema: TSchema }>; Check(v: unknown): boolean };

export function validateQuery<T>(check: Check, query: unknown): T {
  if (check.Check(query)) return query as T;
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of check.Errors(query)) {
    const field = e.path.replace(/^\//, '').split('/')[0] || 'query';
    if (seen.has(field)) continue;
    seen.add(field);
    // A repeated parameter arrives as an array: say so rather than "must be true or false".
    const message = Array.isArray(e.value) ? `${field} was given more than once` : describe(field, e.value, e.schema);
    errors.push({ field, message });
  }
  throw badRequest(errors.length === 1 ? errors[0].message : `Invalid query parameters: ${errors.map((e) => e.message).join('; ')}`, errors);
}

function keywordError(message: string): never {
  throw badRequest(`Invalid keywords: ${message}`, [{ field: 'keywords', message }]);
}

/**
 * `KEYWORD[:INTENSIFIER],...` → keywords. The intensifier is a non-negative number (default 1);
 * spaces are allowed in phrases. A JSON-ish list (`['a:5','b']`) is unwrapped rather than taken
 * literally. More than 100 keywords, or an intensifier that is not a non-negative number, is a 400.
 */
export function parseKeywords(raw: string | undefined): Keyword[] {
  if (!raw) return [];
  const cleaned = raw.replace(/^\s*\[|\]\s*$/g, '');
  const out: Keyword[] = [];
  for (const part of cleaned.split(',')) {
    const k = part.trim().replace(/^['"]|['"]$/g, '').trim();
    if (!k) continue;
    const colon = k.lastIndexOf(':');
    let phrase = k;
    let intensity = 1;
    if (colon >= 0) {
      phrase = k.slice(0, colon).trim();
      const v = k.slice(colon + 1).trim();
      if (!/^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(v)) keywordError(`"${k}": the intensifier after ":" must be a number, got "${v}"`);
      intensity = Number(v);
      if (intensity < 0) keywordError(`"${k}": the intensifier must be non-negative`);
    }
    if (!phrase) keywordError(`"${k}": empty keyword`);
    out.push({ phrase, intensity });
  }
  if (out.length > MAX_KEYWORDS) keywordError(`${out.length} keywords given; at most ${MAX_KEYWORDS} are allowed`);
  return out;
}

/** `key:value,key2:value2` → object (webhook_extra). */
export function parseWebhookExtra(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    if (!part.trim()) continue;
    const i = part.indexOf(':');
    if (i <= 0) throw badRequest(`webhook_extra: "${part.trim()}" is not a key:value pair`, [{ field: 'webhook_extra', message: 'expected key:value pairs' }]);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function parseLanguage(raw: string | undefined, def: string): string {
  const lang = raw === undefined || raw === '' ? def : raw;
  if (!PULSE_LANGUAGES.includes(lang)) {
    throw badRequest(`Unsupported language "${lang}". Supported: ${PULSE_LANGUAGES.join(', ')}`, [{ field: 'language', message: 'unsupported language' }]);
  }
  return lang;
}

function parseSampleRate(v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (n < min || n > max) throw badRequest(`sample_rate must be between ${min} and ${max}`, [{ field: 'sample_rate', message: 'out of range' }]);
  return n;
}

type CommonQuery = Static<ReturnType<typeof Type.Object<typeof common>>>;

/** The enrichment and formatting options both paths share. */
function transcriptionOptions(q: CommonQuery, mode: 'batch' | 'realtime', language: string): Omit<TranscriptionOptions, 'wordTimestamps' | 'utterances'> {
  const format = q.format !== 'false';
  let itn: boolean;
  if (!format || q.numerals === 'false') itn = false;
  else if (q.itn_normalize === 'true' || q.numerals === 'true') itn = true;
  else if (q.itn_normalize === 'false') itn = false;
  else itn = mode === 'batch';
  return {
    ...DEFAULT_OPTIONS,
    language,
    diarize: (q.diarize ?? q.diarization) === 'true',
    genderDetection: q.gender_detection === 'true',
    emotionDetection: q.emotion_detection === 'true',
    ageDetection: q.age_detection === 'true',
    punctuate: format && q.punctuate !== 'false',
    capitalize: format && q.capitalize !== 'false',
    itn,
    redactPii: q.redact_pii === 'true',
    redactPci: q.redact_pci === 'true',
    keywords: parseKeywords(q.keywords),
  };
}

export type PulseModel = 'pulse' | 'pulse-pro';

export interface BatchRequest {
  /** `language` is the requested value; the route resolves it against the engine. */
  options: TranscriptionOptions;
  model: PulseModel;
  /** Whether `model` was given (the legacy paths have none; /waves/v1/stt requires it). */
  modelGiven: boolean;
  webhook?: { url: string; method: 'POST' | 'GET'; extra: Record<string, string> };
  encoding?: RawEncoding;
  sampleRate?: number;
}

/** @param defaultLanguage the legacy batch path defaults to multi-eu (Pulse), the others to en. */
export function parseBatchQuery(query: unknown, defaultLanguage = 'en'): BatchRequest {
  const q = validateQuery<BatchQueryT>(batchCheck, query ?? {});
  const sampleRate = parseSampleRate(q.sample_rate, 8000, 192000);
  if (q.encoding && sampleRate === undefined && q.encoding !== 'ogg_opus') {
    throw badRequest('sample_rate is required with a raw encoding', [{ field: 'sample_rate', message: 'required with encoding' }]);
  }
  const wordTimestamps = q.word_timestamps === 'true';
  let webhook: BatchRequest['webhook'];
  if (q.webhook_url !== undefined) {
    let ok = false;
    try {
      ok = /^https?:$/.test(new URL(q.webhook_url).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw badRequest(`webhook_url must be an http(s) URL, got "${q.webhook_url.slice(0, 100)}"`, [{ field: 'webhook_url', message: 'not an http(s) URL' }]);
    webhook = { url: q.webhook_url, method: (q.webhook_method ?? 'POST').toUpperCase() as 'POST' | 'GET', extra: parseWebhookExtra(q.webhook_extra) };
  }
  return {
    options: { ...transcriptionOptions(q, 'batch', parseLanguage(q.language, defaultLanguage)), wordTimestamps, utterances: wordTimestamps },
    model: q.model ?? 'pulse',
    modelGiven: q.model !== undefined,
    webhook,
    encoding: q.encoding as RawEncoding | undefined,
    sampleRate,
  };
}

export interface RealtimeRequest {
  options: TranscriptionOptions;
  encoding: RawEncoding;
  sampleRate: number;
  fullTranscript: boolean;
  /** Silence (ms) that ends a segment: eou_timeout_ms, or endpointing_timeout when smaller. */
  eouTimeoutMs: number;
  endpointing: boolean;
  vadEvents: boolean;
  /** 0 = no word-count finals. */
  maxWords: number;
  externalSessionId?: string;
}

/**
 * @param wordTimestampsDefault true on the legacy pulse/get_text path, false on /stt/live (as Pulse).
 * `full_transcript` defaults to true: Pulse's own examples read it on every final and extra
 * fields are harmless to clients that do not; `full_transcript=false` turns it off.
 */
export function parseRealtimeQuery(query: unknown, wordTimestampsDefault: boolean): RealtimeRequest {
  const q = validateQuery<RealtimeQueryT>(realtimeCheck, query ?? {});
  if (q.model !== undefined && q.model !== 'pulse') {
    throw badRequest(
      q.model === 'pulse-pro'
        ? 'model "pulse-pro" is batch only (as on Pulse); use model=pulse for real-time sessions'
        : 'model must be "pulse"',
      [{ field: 'model', message: 'unsupported model for real time' }],
    );
  }
  const sampleRate = parseSampleRate(q.sample_rate, 8000, 48000) ?? 16000;
  const eou = q.eou_timeout_ms === undefined ? 800 : Number(q.eou_timeout_ms);
  if (eou < 100 || eou > 10000) {
    throw badRequest('eou_timeout_ms must be between 100 and 10000', [{ field: 'eou_timeout_ms', message: 'out of range' }]);
  }
  let silence = eou;
  if (q.endpointing_timeout !== undefined) {
    const et = Number(q.endpointing_timeout);
    if (et < 100 || et > 10000) {
      throw badRequest('endpointing_timeout must be between 100 and 10000 (ms)', [{ field: 'endpointing_timeout', message: 'out of range' }]);
    }
    // Silence detection fires first; eou_timeout_ms stays the ceiling (Pulse's endpointing page).
    silence = Math.min(et, eou);
  }
  const maxWords = q.max_words === undefined ? 0 : Number(q.max_words);
  const wordTimestamps = q.word_timestamps === undefined ? wordTimestampsDefault : q.word_timestamps === 'true';
  return {
    options: {
      ...transcriptionOptions(q, 'realtime', parseLanguage(q.language, 'en')),
      wordTimestamps,
      utterances: q.sentence_timestamps === 'true',
    },
    encoding: (q.encoding ?? 'linear16') as RawEncoding,
    sampleRate,
    fullTranscript: q.full_transcript !== 'false',
    eouTimeoutMs: silence,
    endpointing: q.endpointing !== 'false',
    vadEvents: (q.vad_events ?? q.vad) === 'true',
    maxWords: q.finalize_on_words === 'false' ? 0 : maxWords,
    externalSessionId: q.external_session_id,
  };
}
