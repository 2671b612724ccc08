/**
 * sherpa-onnx token results → Cochlea words.
 *
 * sherpa-onnx reports, per result, the decoded `tokens` with one start `timestamps` entry each
 * (seconds from the start of the audio the stream saw), optionally `durations` (TDT models) and
 * per-token log-probabilities (`ys_probs` online, `ys_log_probs` offline). Tokens are BPE /
 * sentencepiece pieces: a piece that begins a word carries the sentencepiece word marker, which
 * sherpa-onnx's symbol table already turns into a leading space (" SPE", "ECH"); Whisper's byte-BPE
 * pieces carry the leading space natively; CJK models emit one character per token with no spaces.
 *
 * Merging rules (written here because no npm library knows sherpa-onnx's token conventions):
 *   - a piece starting with whitespace or "▁" starts a new word;
 *   - a CJK / kana / hangul character is a word of its own;
 *   - special tokens like "<|en|>", "<unk>", "<blk>" are dropped;
 *   - any other piece continues the current word (punctuation attaches to the word before it).
 * Word start = first piece's timestamp; word end = next piece's start, capped at the last
 * piece's start + its duration (or + `frameSeconds`, one output frame, when durations are absent).
 * Confidence = exp(mean piece log-prob) (the geometric mean of the piece probabilities) when
 * log-probs are given; otherwise `NO_CONFIDENCE` and the engine reports `wordConfidence: false`.
 */
import type { EngineWord } from '../types.ts';

/** Placeholder confidence for models that report no token log-probabilities (documented in EngineInfo). */
export const NO_CONFIDENCE = 1;

export interface TokenResult {
  text?: string;
  tokens?: string[];
  timestamps?: number[];
  durations?: number[];
  /** Online results. */
  ys_probs?: number[];
  /** Offline results. */
  ys_log_probs?: number[];
  lang?: string;
}

export interface WordOptions {
  /** Seconds added to every time (segment offset). */
  offset?: number;
  /** Duration of one model output frame; used for the end of a word's last piece. */
  frameSeconds: number;
  /** Audio duration the tokens came from (times are clamped into [0, duration]). */
  duration: number;
}

const SPECIAL = /^<[^>]*>$|^<\|.*\|>$/;
// Han, Hiragana, Katakana, Hangul syllables, CJK punctuation/compatibility ranges.
const CJK = /[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/;

function isWordStart(piece: string): boolean {
  return /^[\s\u2581]/.test(piece);
}

function clean(piece: string): string {
  return piece.replace(/\u2581/g, ' ').trim();
}

interface Acc {
  text: string;
  start: number;
  lastStart: number;
  lastEnd: number | undefined;
  logps: number[];
}

/** Merge pieces into words with times and confidences. Times are monotonic and within [0, duration]. */
export function tokensToWords(r: TokenResult, opts: WordOptions): EngineWord[] {
  const tokens = r.tokens ?? [];
  const ts = r.timestamps ?? [];
  const durs = r.durations ?? [];
  const logp = r.ys_probs ?? r.ys_log_probs ?? [];
  const hasTimes = ts.length === tokens.length && tokens.length > 0;
  const hasLogp = logp.length === tokens.length && tokens.length > 0;
  const offset = opts.offset ?? 0;
  const dur = Math.max(0, opts.duration);

  if (!hasTimes) return evenlySpread(r.text ?? tokens.join(''), offset, dur);

  const words: Acc[] = [];
  let cur: Acc | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const raw = tokens[i];
    if (SPECIAL.test(raw.trim())) continue;
    const piece = clean(raw);
    if (!piece) continue;
    const t = ts[i];
    const end = durs.length === tokens.length && durs[i] > 0 ? t + durs[i] : undefined;
    const cjk = CJK.test(piece) && [...piece].length === 1;
    if (!cur || isWordStart(raw) || cjk || (cur && CJK.test(cur.text))) {
      cur = { text: piece, start: t, lastStart: t, lastEnd: end, logps: [] };
      words.push(cur);
    } else {
      cur.text += piece;
      cur.lastStart = t;
      cur.lastEnd = end;
    }
    if (hasLogp) cur.logps.push(logp[i]);
  }

  const out: EngineWord[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const next = words[i + 1];
    let end = w.lastEnd ?? w.lastStart + opts.frameSeconds;
    if (next && end > next.start) end = Math.max(next.start, w.lastStart);
    const start = clamp(w.start, 0, dur);
    const e = clamp(Math.max(end, w.start), start, dur);
    const conf = w.logps.length ? Math.exp(w.logps.reduce((a, b) => a + b, 0) / w.logps.length) : NO_CONFIDENCE;
    out.push({ word: w.text, start: round(start + offset), end: round(e + offset), confidence: clamp(conf, 0, 1) });
  }
  // Guard monotonic order against models whose timestamps go backwards at chunk seams.
  for (let i = 1; i < out.length; i++) {
    if (out[i].start < out[i - 1].start) out[i].start = out[i - 1].start;
    if (out[i].end < out[i].start) out[i].end = out[i].start;
  }
  return out;
}

/**
 * Models that return text without token times (some Whisper/Moonshine exports): spread the words
 * evenly over the audio, in proportion to their length. An approximation, documented as such.
 */
function evenlySpread(text: string, offset: number, duration: number): EngineWord[] {
  const parts = text.replace(/\u2581/g, ' ').trim().split(/\s+/).filter(Boolean);
  const words = parts.filter((p) => !SPECIAL.test(p));
  if (words.length === 0) return [];
  const total = words.reduce((a, w) => a + w.length + 1, 0);
  let t = 0;
  return words.map((w) => {
    const d = (duration * (w.length + 1)) / total;
    const word = { word: w, start: round(offset + t), end: round(offset + t + d), confidence: NO_CONFIDENCE };
    t += d;
    return word;
  });
}

/** The text of a result without special tokens, whitespace-normalised. */
export function resultText(r: TokenResult): string {
  return (r.text ?? '')
    .replace(/<\|[^|]*\|>/g, '')
    .replace(/\u2581/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** "<|en|>" → "en"; "" → undefined. */
export function normalizeLang(lang: string | undefined): string | undefined {
  if (!lang) return undefined;
  const m = /^<\|([^|]+)\|>$/.exec(lang.trim());
  const code = (m ? m[1] : lang).trim().toLowerCase();
  return code && code !== 'nospeech' ? code : undefined;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
