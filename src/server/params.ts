/**
 * Query parameters of the Pulse API, validated with TypeBox. Unknown parameters are ignored (Pulse
 * clients send vendor-specific extras); known ones must be well-formed or the request gets a 400.
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { badRequest, type FieldError } from './errors.ts';

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
  encoding?: BatchQueryT['encoding'];
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
    encoding: q.encoding,
    sampleRate,
  };
}
