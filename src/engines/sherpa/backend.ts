/**
 * sherpa-onnx backend: Cochlea's neural engine, loaded by the worker host in each worker thread
 * (`createEngine({ kind: 'sherpa', backendConfig })`). `createBackend(config)` is the entry point.
 *
 * Streaming (`createDecoder` + `decodeReady`):
 *   - language served by the streaming model → OnlineSession (partials and finals from the
 *     OnlineRecognizer; per-session hotwords from `keywords` on transducers with
 *     modified_beam_search); every pass decodes all ready streams of the worker in one batched
 *     `decodeStreams` call;
 *   - two-pass (`twoPass`): partials from the streaming model, each final re-decoded by the
 *     offline model on that segment's audio (stronger words, casing, punctuation);
 *   - a language only an offline model serves (or "multi") → simulated streaming: the open
 *     segment is re-decoded by the offline model every `partialIntervalSeconds`, and once at
 *     its end.
 * Batch (`recognize`): the offline model for the language (decodeAsync, on the libuv pool), long
 * audio cut on Silero VAD segments; or, if only the streaming model serves the language, all
 * segments decoded as one batch of online streams.
 * Language routing: `en` → the model(s) listing it; `multi` → a multilingual model, reporting the
 * language it detected; a language nothing installed serves → EngineError 'unsupported_language'
 * naming the catalog model to pull.
 */
import type { Backend, Hypothesis, StreamingDecoder, StreamingDecoderOptions } from '../backend.ts';
import { EngineError } from '../errors.ts';
import type { EngineInfo, EngineSegment, EngineWord, RecognitionResult, RecognizeOptions } from '../types.ts';
import { ENGINE_SAMPLE_RATE } from '../types.ts';
import { loadCatalog } from '../../models/catalog.ts';
import { resolveConfig, type ResolvedConfig } from './config.ts';
import { OfflineModel } from './offline.ts';
import { OnlineModel, OnlineSession } from './online.ts';
import { fixedWindows, vadSegments, type SpeechSpan } from './vad.ts';
import { normalizeLang, resultText, tokensToWords, type TokenResult } from './words.ts';
import { concatFloat32 } from '../../util/pcm.ts';

const SR = ENGINE_SAMPLE_RATE;
/** Online families known to report token log-probs (ys_probs). */
const ONLINE_LOGPROBS = new Set(['transducer']);
/** Offline families known to report ys_log_probs. */
const OFFLINE_LOGPROBS = new Set(['transducer', 'nemo-transducer']);

export class UnsupportedLanguageError extends EngineError {
  readonly language: string;
  readonly suggestion?: string;
  constructor(language: string, mode: 'streaming' | 'batch', suggestion?: string) {
    super(
      'unsupported_language',
      `language "${language}" is not served by any installed ${mode} model` +
        (suggestion ? `; run: cochlea models pull ${suggestion}` : '; no catalog model serves it'),
    );
    this.name = 'UnsupportedLanguageError';
    this.language = language;
    this.suggestion = suggestion;
  }
}

/** The catalog model to suggest for a language, preferring the mode asked for. */
export function suggestModel(language: string, mode: 'streaming' | 'batch'): string | undefined {
  let models;
  try {
    models = loadCatalog().models.filter((m) => m.kind === 'asr');
  } catch {
    return undefined;
  }
  const serves = (m: (typeof models)[number]) => (language === 'multi' ? !!m.multilingual : m.languages.includes(language));
  const preferred = models.find((m) => serves(m) && (mode === 'streaming' ? m.streaming : m.batch));
  return (preferred ?? models.find(serves))?.name;
}

interface SherpaDecoder extends StreamingDecoder {
  /** The online part to batch in decodeReady, if any. */
  readonly online?: OnlineSession;
  /** Work after the batched online decode (simulated streaming partials). */
  pass?(): void;
}


/** Segment audio kept for a re-decode, bounded by `maxSamples` (past that: `overflow`). */
class SegmentAudio {
  private chunks: Float32Array[] = [];
  length = 0;
  overflow = false;
  constructor(readonly capacity: number) {}
  push(pcm: Float32Array): void {
    if (this.length + pcm.length > this.capacity) {
      this.overflow = true;
      return;
    }
    this.chunks.push(pcm.slice());
    this.length += pcm.length;
  }
  take(): Float32Array {
    const out = concatFloat32(this.chunks, this.length);
    this.chunks = [];
    this.length = 0;
    this.overflow = false;
    return out;
  }
  peek(): Float32Array {
    const out = concatFloat32(this.chunks, this.length);
    this.chunks = [out];
    return out;
  }
}

function offlineHypothesis(model: OfflineModel, pcm: Float32Array, lang: string | undefined): Hypothesis & { language?: string } {
  const spans = pcm.length / SR > model.maxSeconds ? fixedWindows(pcm, model.maxSeconds) : [{ start: 0, samples: pcm }];
  const words: EngineWord[] = [];
  const texts: string[] = [];
  let language: string | undefined;
  for (const sp of spans) {
    const r = model.decodeSync(sp.samples, lang);
    language ??= normalizeLang(r.lang);
    const t = resultText(r);
    if (t) texts.push(t);
    words.push(...tokensToWords(r, { frameSeconds: model.frameSeconds, duration: sp.samples.length / SR, offset: sp.start / SR }));
  }
  return { text: texts.join(' '), words, language };
}

/** Partials from the streaming model, finals re-decoded by the offline model. */
class TwoPassDecoder implements SherpaDecoder {
  readonly online: OnlineSession;
  private readonly audio: SegmentAudio;
  constructor(
    online: OnlineSession,
    private readonly offline: OfflineModel,
    private readonly lang: string | undefined,
    maxSamples: number,
  ) {
    this.online = online;
    this.audio = new SegmentAudio(maxSamples);
  }
  accept(pcm: Float32Array): void {
    this.online.accept(pcm);
    this.audio.push(pcm);
  }
  hypothesis(): Hypothesis {
    return this.online.hypothesis();
  }
  inSpeech(): boolean {
    return this.online.inSpeech();
  }
  endSegment(): Hypothesis {
    const first = this.online.endSegment();
    const overflow = this.audio.overflow;
    const pcm = this.audio.take();
    // A segment longer than maxSegmentAudioSeconds keeps the streaming model's final: all of its
    // audio was decoded, only the second pass is skipped.
    if (overflow || pcm.length === 0) return first;
    try {
      const second = offlineHypothesis(this.offline, pcm, this.lang);
      return { text: second.text, words: second.words };
    } catch {
      return first;
    }
  }
  free(): void {
    this.online.free();
  }
}

/** An offline model used for streaming: the open segment is re-decoded every `intervalSamples`. */
class SimulatedStreamingDecoder implements SherpaDecoder {
  private readonly audio: SegmentAudio;
  private decodedAt = 0;
  private hyp: Hypothesis = { text: '', words: [] };
  private overflowHyp: Hypothesis | null = null;
  constructor(
    private readonly model: OfflineModel,
    private readonly lang: string | undefined,
    private readonly intervalSamples: number,
    maxSamples: number,
  ) {
    // Never let one re-decode exceed what the model takes in one pass.
    this.audio = new SegmentAudio(Math.min(maxSamples, Math.round(model.maxSeconds * SR)));
  }
  private overflowOffset = 0;
  accept(pcm: Float32Array): void {
    if (pcm.length > this.audio.capacity) {
      for (let i = 0; i < pcm.length; i += this.audio.capacity) this.accept(pcm.subarray(i, i + this.audio.capacity));
      return;
    }
    if (this.audio.length + pcm.length > this.audio.capacity && this.audio.length > 0) {
      // The open segment reached what the model takes in one pass: decode it now as the head of
      // the final and continue with a fresh buffer, so no accepted audio is dropped.
      const head = this.audio.take();
      this.overflowHyp = merge(this.overflowHyp, offlineHypothesis(this.model, head, this.lang), this.overflowOffset);
      this.overflowOffset += head.length / SR;
      this.decodedAt = 0;
    }
    this.audio.push(pcm);
  }
  pass(): void {
    if (this.audio.length - this.decodedAt >= this.intervalSamples) {
      const cur = offlineHypothesis(this.model, this.audio.peek(), this.lang);
      this.hyp = merge(this.overflowHyp, cur, this.overflowOffset);
      this.decodedAt = this.audio.length;
    }
  }
  hypothesis(): Hypothesis {
    return this.hyp;
  }
  endSegment(): Hypothesis {
    const pcm = this.audio.take();
    const last = pcm.length ? offlineHypothesis(this.model, pcm, this.lang) : { text: '', words: [] };
    const out = merge(this.overflowHyp, last, this.overflowOffset);
    this.overflowHyp = null;
    this.overflowOffset = 0;
    this.decodedAt = 0;
    this.hyp = { text: '', words: [] };
    return out;
  }
  free(): void {
    this.audio.take();
  }
}

function merge(a: Hypothesis | null, b: Hypothesis, offsetB: number): Hypothesis {
  const shifted = b.words.map((w) => ({ ...w, start: w.start + offsetB, end: w.end + offsetB }));
  if (!a) return offsetB ? { text: b.text, words: shifted } : b;
  return { text: [a.text, b.text].filter(Boolean).join(' '), words: [...a.words, ...shifted] };
}

export class SherpaBackend implements Backend {
  readonly cfg: ResolvedConfig;
  online?: OnlineModel;
  readonly offline: OfflineModel[];
  readonly info: EngineInfo;

  constructor(config: unknown) {
    this.cfg = resolveConfig(config);
    this.offline = this.cfg.offline.map((s) => new OfflineModel(s, this.cfg));
    const langs = new Set<string>();
    for (const m of [this.cfg.streaming, ...this.cfg.offline]) {
      if (!m) continue;
      for (const l of m.languages) langs.add(l);
      if (m.multilingual) langs.add('multi');
    }
    const families = [
      ...(this.cfg.streaming ? [ONLINE_LOGPROBS.has(this.cfg.streaming.family)] : []),
      ...this.cfg.offline.map((m) => OFFLINE_LOGPROBS.has(m.family)),
    ];
    this.info = {
      name: 'sherpa-onnx',
      languages: [...langs],
      streaming: true,
      wordTimestamps: true,
      wordConfidence: families.length > 0 && families.every(Boolean),
      // Hotwords need a streaming transducer decoded with modified_beam_search (online.ts).
      keywords: !!this.cfg.streaming && this.cfg.streaming.family === 'transducer' && this.cfg.hotwords.enabled,
    };
  }

  async init(): Promise<void> {
    if (this.cfg.streaming && !this.online) this.online = new OnlineModel(this.cfg.streaming, this.cfg);
    await Promise.all(this.offline.map((m) => m.load()));
  }

  private offlineFor(lang: string | undefined): OfflineModel | undefined {
    if (!lang || lang === 'multi' || lang === 'auto') {
      return this.offline.find((m) => m.spec.multilingual) ?? (lang ? undefined : this.offline[0]);
    }
    return this.offline.find((m) => m.serves(lang));
  }

  private streamingFor(lang: string | undefined): OnlineModel | undefined {
    if (!this.online) return undefined;
    if (!lang) return this.online;
    if (lang === 'multi' || lang === 'auto') return this.online.spec.multilingual ? this.online : undefined;
    return this.online.serves(lang) ? this.online : undefined;
  }

  private twoPassModel(lang: string | undefined): OfflineModel | undefined {
    if (!this.cfg.twoPass) return undefined;
    if (typeof this.cfg.twoPass === 'string') {
      const m = this.offline.find((o) => o.spec.name === this.cfg.twoPass);
      return m && (!lang || m.serves(lang) || m.spec.multilingual) ? m : undefined;
    }
    return (lang ? this.offline.find((m) => m.serves(lang)) : undefined) ?? this.offline.find((m) => m.spec.multilingual) ?? this.offline[0];
  }

  createDecoder(options: StreamingDecoderOptions): StreamingDecoder {
    const lang = normalizeRequestLang(options.language);
    const online = this.streamingFor(lang);
    if (online) {
      const session = online.createSession(options.keywords);
      const second = this.twoPassModel(lang);
      if (!second) return session;
      return new TwoPassDecoder(session, second, lang, Math.round(this.cfg.maxSegmentAudioSeconds * SR));
    }
    const offline = this.offlineFor(lang);
    if (offline) {
      return new SimulatedStreamingDecoder(
        offline,
        lang,
        Math.round(this.cfg.partialIntervalSeconds * SR),
        Math.round(this.cfg.maxSegmentAudioSeconds * SR),
      );
    }
    throw new UnsupportedLanguageError(lang ?? 'default', 'streaming', suggestModel(lang ?? 'en', 'streaming'));
  }

  decodeReady(decoders: StreamingDecoder[]): void {
    const ds = decoders as SherpaDecoder[];
    if (this.online) {
      const sessions = ds.map((d) => d.online).filter((s): s is OnlineSession => !!s);
      if (sessions.length) this.online.decodeAll(sessions);
    }
    for (const d of ds) d.pass?.();
  }

  async recognize(pcm: Float32Array, options: RecognizeOptions): Promise<RecognitionResult> {
    const t0 = performance.now();
    const lang = normalizeRequestLang(options.language);
    const duration = pcm.length / SR;
    const offline = this.offlineFor(lang);
    const online = offline ? undefined : this.streamingFor(lang);
    if (!offline && !online) throw new UnsupportedLanguageError(lang ?? 'default', 'batch', suggestModel(lang ?? 'en', 'batch'));
    const signal = options.signal;
    const maxSeconds = offline ? offline.maxSeconds : this.cfg.maxSegmentAudioSeconds;
    let spans: SpeechSpan[];
    if (pcm.length === 0) spans = [];
    else if (this.cfg.vad) spans = await vadSegments(pcm, this.cfg.vad, { maxSpeechSeconds: maxSeconds, signal });
    else spans = fixedWindows(pcm, maxSeconds);

    const segments: EngineSegment[] = [];
    const langVotes = new Map<string, number>();
    if (offline) {
      for (const sp of spans) {
        if (signal?.aborted) throw new EngineError('aborted', 'recognition aborted');
        const r: TokenResult = await offline.decodeAsync(sp.samples, lang);
        const detected = normalizeLang(r.lang);
        if (detected) langVotes.set(detected, (langVotes.get(detected) ?? 0) + sp.samples.length);
        pushSegment(segments, r, resultText(r), sp, offline.frameSeconds);
      }
    } else if (online && spans.length) {
      // Segments as batches of online streams: one decodeStreams call per round for the batch.
      const BATCH = 32;
      for (let i = 0; i < spans.length; i += BATCH) {
        const part = spans.slice(i, i + BATCH);
        let results;
        try {
          results = await online.decodeBuffers(part.map((s) => s.samples), { signal });
        } catch (err) {
          if (signal?.aborted) throw new EngineError('aborted', 'recognition aborted');
          throw err;
        }
        results.forEach((r, j) => pushSegment(segments, r.result, r.text, part[j], online.frameSeconds));
      }
    }
    if (signal?.aborted) throw new EngineError('aborted', 'recognition aborted');
    const words = segments.flatMap((s) => s.words);
    const voted = [...langVotes.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    const model = (offline ?? online)!;
    const language = voted ?? (lang && lang !== 'multi' && lang !== 'auto' ? lang : model.spec.languages[0] ?? 'und');
    return {
      text: segments.map((s) => s.text).filter(Boolean).join(' '),
      words,
      segments,
      language,
      duration,
      decodeSeconds: (performance.now() - t0) / 1000,
    };
  }

  dispose(): void {
    this.online?.dispose();
    this.online = undefined;
  }
}

function pushSegment(out: EngineSegment[], r: TokenResult, text: string, sp: SpeechSpan, frameSeconds: number): void {
  const words = tokensToWords(r, { frameSeconds, duration: sp.samples.length / SR, offset: sp.start / SR });
  if (!text && words.length === 0) return;
  const start = sp.start / SR;
  const end = (sp.start + sp.samples.length) / SR;
  out.push({
    text,
    start: Math.round((words[0]?.start ?? start) * 1000) / 1000,
    end: Math.round(Math.max(words.at(-1)?.end ?? end, words[0]?.start ?? start) * 1000) / 1000,
    words,
  });
}

/** "en-US" → "en"; "" → undefined; "multi"/"auto" kept. */
export function normalizeRequestLang(lang: string | undefined): string | undefined {
  if (!lang) return undefined;
  const l = lang.trim().toLowerCase();
  if (!l) return undefined;
  if (l === 'multi' || l === 'auto') return l;
  return l.split(/[-_]/)[0];
}

export function createBackend(config: unknown): Backend {
  return new SherpaBackend(config);
}
