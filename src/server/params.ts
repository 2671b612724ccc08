/**
 * Query parameters of the Pulse API, validated with TypeBox. Unknown parameters are ignored (Pulse
 * clients send vendor-specific extras); known ones must be well-formed or the request gets a 400.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { badRequest, type FieldError } from './errors.ts';
import type { RawEncoding } from '../audio/types.ts';

/** Language codes Pulse documents, plus its auto-detection values. */
export const PULSE_LANGUAGES = [
  'it', 'es', 'en', 'pt', 'hi', 'de', 'fr', 'uk', 'ru', 'kn', 'ml', 'pl', 'mr', 'gu', 'cs', 'sk', 'te', 'or',
  'nl', 'bn', 'lv', 'et', 'ro', 'pa', 'fi', 'sv', 'bg', 'ta', 'hu', 'da', 'lt', 'mt', 'ja', 'ko', 'zh', 'yue',
  'multi', 'multi-asian',
] as const;

const Bool = Type.Union([Type.Literal('true'), Type.Literal('false')]);
const Lang = Type.Union(PULSE_LANGUAGES.map((l) => Type.Literal(l)));

export const BatchQuery = Type.Object(
  {
    model: Type.Optional(Type.Literal('pulse')),
    language: Type.Optional(Lang),
    word_timestamps: Type.Optional(Bool),
    diarize: Type.Optional(Bool),
    diarization: Type.Optional(Bool),
    emotion_detection: Type.Optional(Bool),
    gender_detection: Type.Optional(Bool),
    age_detection: Type.Optional(Bool),
    numerals: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('auto')])),
    redact_pii: Type.Optional(Bool),
    redact_pci: Type.Optional(Bool),
    keywords: Type.Optional(Type.String({ maxLength: 4096 })),
    webhook_url: Type.Optional(Type.String({ maxLength: 2048 })),
    encoding: Type.Optional(
      Type.Union(['linear16', 'linear32', 'alaw', 'mulaw', 'opus', 'ogg_opus'].map((e) => Type.Literal(e))),
    ),
    sample_rate: Type.Optional(Type.String({ pattern: '^[0-9]{3,6}$' })),
  },
  { additionalProperties: true },
);
export type BatchQueryT = Static<typeof BatchQuery>;

const batchCheck = TypeCompiler.Compile(BatchQuery);

/** Human-friendly message for one TypeBox error on a query field. */
function describe(field: string, value: unknown): string {
  if (field === 'language') return `Unsupported language "${String(value)}". Supported: ${PULSE_LANGUAGES.join(', ')}`;
  if (field === 'numerals') return `numerals must be "true", "false" or "auto"`;
  if (field === 'sample_rate') return 'sample_rate must be an integer number of Hz';
  if (field === 'encoding') return 'encoding must be one of linear16, linear32, alaw, mulaw, opus, ogg_opus';
  if (field === 'model') return 'model must be "pulse"';
  return `${field} must be "true" or "false"`;
}

export function validateQuery<T>(check: { Errors(v: unknown): Iterable<{ path: string; value: unknown }>; Check(v: unknown): boolean }, query: unknown): T {
  if (check.Check(query)) return query as T;
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  for (const e of check.Errors(query)) {
    const field = e.path.replace(/^\//, '').split('/')[0] || 'query';
    if (seen.has(field)) continue;
    seen.add(field);
    errors.push({ field, message: describe(field, e.value) });
  }
  throw badRequest(errors.length === 1 ? errors[0].message : 'Invalid query parameters', errors);
}

export interface BatchOptions {
  language: string;
  wordTimestamps: boolean;
  diarize: boolean;
  emotionDetection: boolean;
  genderDetection: boolean;
  ageDetection: boolean;
  numerals: 'true' | 'false' | 'auto';
  redactPii: boolean;
  redactPci: boolean;
  keywords: string[];
  webhookUrl?: string;
  encoding?: RawEncoding;
  sampleRate?: number;
}

/** Parse "word:weight,other" (Pulse also documents a JSON-ish list form `['a:5','b']`). */
export function parseKeywords(raw: string | undefined): string[] {
  if (!raw) return [];
  const cleaned = raw.replace(/^\s*\[|\]\s*$/g, '');
  const out: string[] = [];
  for (const part of cleaned.split(',')) {
    const k = part.trim().replace(/^['"]|['"]$/g, '').trim();
    if (!k) continue;
    const m = /^(.+?)(?::(-?[0-9]+(?:\.[0-9]+)?))?$/.exec(k);
    if (!m) throw badRequest(`Invalid keyword "${k}": expected "word" or "word:weight"`, [{ field: 'keywords', message: 'bad keyword' }]);
    out.push(k);
  }
  if (out.length > 100) throw badRequest('At most 100 keywords are allowed', [{ field: 'keywords', message: 'too many keywords' }]);
  return out;
}

export function parseBatchQuery(query: unknown): BatchOptions {
  const q = validateQuery<BatchQueryT>(batchCheck, query ?? {});
  let sampleRate: number | undefined;
  if (q.sample_rate !== undefined) {
    sampleRate = Number(q.sample_rate);
    if (sampleRate < 8000 || sampleRate > 192000) {
      throw badRequest('sample_rate must be between 8000 and 192000', [{ field: 'sample_rate', message: 'out of range' }]);
    }
  }
  if (q.encoding && sampleRate === undefined && q.encoding !== 'ogg_opus') {
    throw badRequest('sample_rate is required with a raw encoding', [{ field: 'sample_rate', message: 'required with encoding' }]);
  }
  return {
    language: q.language ?? 'en',
    wordTimestamps: q.word_timestamps === 'true',
    diarize: (q.diarize ?? q.diarization) === 'true',
    emotionDetection: q.emotion_detection === 'true',
    genderDetection: q.gender_detection === 'true',
    ageDetection: q.age_detection === 'true',
    numerals: q.numerals ?? 'auto',
    redactPii: q.redact_pii === 'true',
    redactPci: q.redact_pci === 'true',
    keywords: parseKeywords(q.keywords),
    webhookUrl: q.webhook_url,
    encoding: q.encoding as RawEncoding | undefined,
    sampleRate,
  };
}

export const RealtimeQuery = Type.Object(
  {
    language: Type.Optional(Lang),
    encoding: Type.Optional(Type.Union(['linear16', 'linear32', 'alaw', 'mulaw', 'opus', 'ogg_opus'].map((e) => Type.Literal(e)))),
    sample_rate: Type.Optional(Type.String({ pattern: '^[0-9]{3,6}$' })),
    word_timestamps: Type.Optional(Bool),
    full_transcript: Type.Optional(Bool),
    sentence_timestamps: Type.Optional(Bool),
    eou_timeout_ms: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })),
    endpointing: Type.Optional(Bool),
    vad_events: Type.Optional(Bool),
    vad: Type.Optional(Bool),
    max_words: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$' })),
    finalize_on_words: Type.Optional(Bool),
    external_session_id: Type.Optional(Type.String({ maxLength: 256 })),
    diarize: Type.Optional(Bool),
    numerals: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false'), Type.Literal('auto')])),
    redact_pii: Type.Optional(Bool),
    redact_pci: Type.Optional(Bool),
    keywords: Type.Optional(Type.String({ maxLength: 4096 })),
    emotion_detection: Type.Optional(Bool),
    gender_detection: Type.Optional(Bool),
    age_detection: Type.Optional(Bool),
  },
  { additionalProperties: true },
);
export type RealtimeQueryT = Static<typeof RealtimeQuery>;
const realtimeCheck = TypeCompiler.Compile(RealtimeQuery);

export type RealtimeEncoding = RawEncoding;

export interface RealtimeOptions {
  language: string;
  encoding: RealtimeEncoding;
  sampleRate: number;
  wordTimestamps: boolean;
  fullTranscript: boolean;
  sentenceTimestamps: boolean;
  eouTimeoutMs: number;
  endpointing: boolean;
  vadEvents: boolean;
  maxWords: number;
  externalSessionId?: string;
  keywords: string[];
  diarize: boolean;
  numerals: 'true' | 'false' | 'auto';
  redactPii: boolean;
  redactPci: boolean;
}

/**
 * `wordTimestampsDefault` differs by path: true on pulse/get_text, false on /stt/live (as Pulse).
 * `max_words` finals are on when max_words > 0 unless finalize_on_words=false.
 */
export function parseRealtimeQuery(query: unknown, wordTimestampsDefault: boolean): RealtimeOptions {
  const q = validateQuery<RealtimeQueryT>(realtimeCheck, query ?? {});
  const sampleRate = q.sample_rate === undefined ? 16000 : Number(q.sample_rate);
  if (sampleRate < 8000 || sampleRate > 48000) {
    throw badRequest('sample_rate must be between 8000 and 48000', [{ field: 'sample_rate', message: 'out of range' }]);
  }
  const eou = q.eou_timeout_ms === undefined ? 800 : Number(q.eou_timeout_ms);
  if (eou < 100 || eou > 10000) {
    throw badRequest('eou_timeout_ms must be between 100 and 10000', [{ field: 'eou_timeout_ms', message: 'out of range' }]);
  }
  const maxWords = q.max_words === undefined ? 0 : Number(q.max_words);
  return {
    language: q.language ?? 'en',
    encoding: (q.encoding ?? 'linear16') as RawEncoding,
    sampleRate,
    wordTimestamps: q.word_timestamps === undefined ? wordTimestampsDefault : q.word_timestamps === 'true',
    fullTranscript: q.full_transcript === 'true',
    sentenceTimestamps: q.sentence_timestamps === 'true',
    eouTimeoutMs: eou,
    endpointing: q.endpointing !== 'false',
    vadEvents: (q.vad_events ?? q.vad) === 'true',
    maxWords: q.finalize_on_words === 'false' ? 0 : maxWords,
    externalSessionId: q.external_session_id,
    keywords: parseKeywords(q.keywords),
    diarize: q.diarize === 'true',
    numerals: q.numerals ?? 'auto',
    redactPii: q.redact_pii === 'true',
    redactPci: q.redact_pci === 'true',
  };
}
