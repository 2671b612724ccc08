/**
 * Speech emotion from SenseVoice (FunAudioLLM, "SenseVoice Small"), through sherpa-onnx: SenseVoice
 * decodes four prefix tokens before the text (language, emotion, audio event, ITN), and
 * sherpa-onnx's OfflineRecognizer returns the emotion one as `result.emotion`, e.g. "<|HAPPY|>".
 * Its emotion set: HAPPY, SAD, ANGRY, NEUTRAL, FEARFUL, DISGUSTED, SURPRISED (and EMO_UNKNOWN).
 * sherpa-onnx exposes only that arg-max tag, not the emotion posteriors, so the scores are built
 * from tags over time, never invented:
 *
 *   each chunk of speech (consecutive utterances of one speaker, at most `maxChunkSeconds`) gets one
 *   tag; Pulse's score for an emotion is the share of the analysed speech time whose chunk carries
 *   that emotion's tag: HAPPY → happiness, SAD → sadness, DISGUSTED → disgust, FEARFUL → fear,
 *   ANGRY → anger. NEUTRAL, SURPRISED (not one of Pulse's five) and EMO_UNKNOWN count in the
 *   denominator only. A calm call scores 0 everywhere; a call angry for a third of its speech
 *   scores anger ≈ 0.33. Each score is in [0, 1] and together they sum to at most 1.
 */
import type { EmotionScores } from '../types.ts';

export const EMOTION_MODEL = 'sense-voice-zh-en-ja-ko-yue-2024-07-17';

/** SenseVoice emotion tag → Pulse score key (tags absent here map to none of the five). */
export const SENSEVOICE_TO_PULSE: Readonly<Record<string, keyof EmotionScores>> = {
  HAPPY: 'happiness',
  SAD: 'sadness',
  DISGUSTED: 'disgust',
  FEARFUL: 'fear',
  ANGRY: 'anger',
};

/** "<|HAPPY|>" → "HAPPY"; "" when absent. */
export function normalizeTag(raw: string | undefined): string {
  return (raw ?? '').replace(/^<\|/, '').replace(/\|>$/, '').trim().toUpperCase();
}

/** Duration-weighted share of each Pulse emotion among tagged chunks; null when nothing was analysed. */
export function scoresFromTags(chunks: Array<{ tag: string; seconds: number }>): EmotionScores | null {
  const s: EmotionScores = { happiness: 0, sadness: 0, disgust: 0, fear: 0, anger: 0 };
  let total = 0;
  for (const c of chunks) {
    if (!(c.seconds > 0) || !c.tag) continue;
    total += c.seconds;
    const k = SENSEVOICE_TO_PULSE[normalizeTag(c.tag)];
    if (k) s[k] += c.seconds;
  }
  if (total <= 0) return null;
  for (const k of Object.keys(s) as Array<keyof EmotionScores>) s[k] = Math.round((s[k] / total) * 1000) / 1000;
  return s;
}

export interface SpeechSpan {
  start: number;
  end: number;
  speaker?: number;
}

/**
 * Chunks to tag: consecutive spans of one speaker merged while the chunk stays within
 * `maxChunkSeconds` and the gap under `maxGapSeconds`; with no spans, fixed windows over [0, duration).
 */
export function emotionChunks(spans: SpeechSpan[], duration: number, maxChunkSeconds = 20, maxGapSeconds = 1.5): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  if (!spans.length) {
    for (let a = 0; a < duration; a += maxChunkSeconds) out.push([a, Math.min(duration, a + maxChunkSeconds)]);
    return out.filter(([a, b]) => b - a >= 0.3);
  }
  let cur: SpeechSpan | null = null;
  for (const s of spans) {
    if (cur && s.speaker === cur.speaker && s.end - cur.start <= maxChunkSeconds && s.start - cur.end <= maxGapSeconds) {
      cur.end = Math.max(cur.end, s.end);
      continue;
    }
    if (cur) out.push([cur.start, cur.end]);
    cur = { ...s };
  }
  if (cur) out.push([cur.start, cur.end]);
  return out;
}

// ---- model side (runs in the analysis worker) ----

export interface EmotionModelFiles {
  model: string;
  tokens: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Recognizer = any;
const recognizers = new Map<string, Recognizer>();

async function recognizer(files: EmotionModelFiles, numThreads: number): Promise<Recognizer> {
  const key = `${files.model}\n${files.tokens}\n${numThreads}`;
  let r = recognizers.get(key);
  if (!r) {
    const { createRequire } = await import('node:module');
    const sherpa = createRequire(import.meta.url)('sherpa-onnx-node');
    r = new sherpa.OfflineRecognizer({
      featConfig: { sampleRate: 16000, featureDim: 80 },
      modelConfig: { senseVoice: { model: files.model, language: '', useInverseTextNormalization: 0 }, tokens: files.tokens, numThreads, provider: 'cpu', debug: 0 },
      decodingMethod: 'greedy_search',
    });
    recognizers.set(key, r);
  }
  return r;
}

export interface EmotionTaskInput {
  /** One 16 kHz PCM buffer per chunk (with its context margin). */
  segments: Float32Array[];
  model: EmotionModelFiles;
  numThreads?: number;
}

export interface EmotionTaskOutput {
  /** Raw SenseVoice emotion tag per segment ("<|NEUTRAL|>"), "" when the model gave none. */
  tags: string[];
}

/** Context added on both sides of a chunk before decoding, seconds. */
export const CHUNK_MARGIN_SECONDS = 0.2;
/** Shorter segments are not decoded (SenseVoice's 4 prefix frames need ~0.3 s of features). */
const MIN_SEGMENT_SECONDS = 0.3;

/** SenseVoice's emotion tag for each segment. */
export async function senseVoiceEmotions(input: EmotionTaskInput): Promise<EmotionTaskOutput> {
  const rec = await recognizer(input.model, input.numThreads ?? 1);
  const tags: string[] = [];
  for (const seg of input.segments) {
    if (seg.length < MIN_SEGMENT_SECONDS * 16000) {
      tags.push('');
      continue;
    }
    const stream = rec.createStream();
    stream.acceptWaveform({ samples: seg, sampleRate: 16000 });
    rec.decode(stream);
    const r = rec.getResult(stream) as { emotion?: string };
    tags.push(r.emotion ?? '');
  }
  return { tags };
}
