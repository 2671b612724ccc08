/**
 * Batch recognition with a sherpa-onnx OfflineRecognizer (Whisper, NeMo Parakeet TDT / CTC,
 * SenseVoice, Moonshine, transducers, Paraformer).
 *
 * Language: Whisper and SenseVoice take a language in the recognizer config (sherpa-onnx has no
 * per-stream language option for them). Forcing a language therefore uses a per-language copy of
 * the recognizer, created on first use and kept (at most `maxLanguageVariants`; past that the
 * auto-detecting recognizer decodes and the request language only routes). Recognizers are never
 * reconfigured in place, so async decodes on the thread pool and synchronous decodes from
 * streaming passes can interleave safely.
 */
import { ENGINE_SAMPLE_RATE } from '../types.ts';
import type { ModelSpec, ResolvedConfig } from './config.ts';
import { sherpa } from './online.ts';
import type { TokenResult } from './words.ts';

const SR = ENGINE_SAMPLE_RATE;

const FRAME_SECONDS: Record<string, number> = {
  whisper: 0.02,
  'sense-voice': 0.06,
  'nemo-ctc': 0.08,
  'nemo-transducer': 0.08,
  transducer: 0.04,
  moonshine: 0.02,
  paraformer: 0.06,
};

/** Families whose recognizer config takes a language, and the codes they accept. */
const FORCEABLE: Record<string, ((lang: string, spec: ModelSpec) => boolean) | undefined> = {
  whisper: (l, s) => s.languages.includes(l),
  'sense-voice': (l) => ['zh', 'en', 'ja', 'ko', 'yue'].includes(l),
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Recognizer = any;

export class OfflineModel {
  readonly spec: ModelSpec;
  readonly frameSeconds: number;
  /** Longest audio decoded in one pass; longer buffers are cut (VAD first, else fixed windows). */
  readonly maxSeconds: number;
  private readonly cfg: ResolvedConfig;
  private base: Recognizer | null = null;
  private basePromise: Promise<Recognizer> | null = null;
  private readonly variants = new Map<string, Recognizer>();
  private readonly pendingVariants = new Map<string, Promise<Recognizer>>();

  constructor(spec: ModelSpec, cfg: ResolvedConfig) {
    this.spec = spec;
    this.cfg = cfg;
    this.frameSeconds = FRAME_SECONDS[spec.family] ?? 0.04;
    this.maxSeconds = spec.maxSeconds ?? (spec.family === 'whisper' ? 30 : spec.family === 'moonshine' ? 60 : 300);
  }

  serves(lang: string): boolean {
    return this.spec.languages.includes(lang);
  }

  /** sherpa-onnx-node OfflineRecognizer config for this model, optionally forcing a language. */
  recognizerConfig(language?: string): Record<string, unknown> {
    const f = this.spec.files;
    const m: Record<string, unknown> = { tokens: f.tokens, numThreads: this.cfg.numThreads, provider: this.cfg.provider, debug: 0 };
    switch (this.spec.family) {
      case 'whisper':
        m.whisper = { encoder: f.encoder, decoder: f.decoder, language: language ?? '', task: 'transcribe', tailPaddings: -1 };
        break;
      case 'sense-voice':
        m.senseVoice = { model: f.model, language: language ?? '', useInverseTextNormalization: 1 };
        break;
      case 'nemo-ctc':
        m.nemoCtc = { model: f.model };
        break;
      case 'nemo-transducer':
        m.transducer = { encoder: f.encoder, decoder: f.decoder, joiner: f.joiner };
        m.modelType = 'nemo_transducer';
        break;
      case 'transducer':
        m.transducer = { encoder: f.encoder, decoder: f.decoder, joiner: f.joiner };
        if (this.spec.modelType) m.modelType = this.spec.modelType;
        break;
      case 'moonshine':
        m.moonshine = { preprocessor: f.preprocessor, encoder: f.encoder, uncachedDecoder: f.uncachedDecoder, cachedDecoder: f.cachedDecoder };
        break;
      case 'paraformer':
        m.paraformer = { model: f.model };
        break;
    }
    return { featConfig: { sampleRate: SR, featureDim: 80 }, modelConfig: m, decodingMethod: 'greedy_search' };
  }

  /** Load the auto-language recognizer (off the JS thread). */
  async load(): Promise<void> {
    if (this.base) return;
    this.basePromise ??= sherpa().OfflineRecognizer.createAsync(this.recognizerConfig());
    this.base = await this.basePromise;
  }

  private baseSync(): Recognizer {
    if (!this.base) this.base = new (sherpa().OfflineRecognizer)(this.recognizerConfig());
    return this.base;
  }

  private wantsVariant(lang: string | undefined): lang is string {
    if (!lang || lang === 'multi' || lang === 'auto') return false;
    const can = FORCEABLE[this.spec.family];
    return !!can && can(lang, this.spec) && this.cfg.maxLanguageVariants > 0;
  }

  private async recognizerAsync(lang: string | undefined): Promise<Recognizer> {
    if (!this.wantsVariant(lang)) {
      await this.load();
      return this.base;
    }
    const hit = this.variants.get(lang);
    if (hit) return hit;
    if (this.variants.size + this.pendingVariants.size >= this.cfg.maxLanguageVariants && !this.pendingVariants.has(lang)) {
      await this.load();
      return this.base;
    }
    let p = this.pendingVariants.get(lang);
    if (!p) {
      p = sherpa().OfflineRecognizer.createAsync(this.recognizerConfig(lang)) as Promise<Recognizer>;
      this.pendingVariants.set(lang, p);
    }
    try {
      const r = await p;
      this.variants.set(lang, r);
      return r;
    } finally {
      this.pendingVariants.delete(lang);
    }
  }

  private recognizerSync(lang: string | undefined): Recognizer {
    if (!this.wantsVariant(lang)) return this.baseSync();
    const hit = this.variants.get(lang);
    if (hit) return hit;
    if (this.variants.size + this.pendingVariants.size >= this.cfg.maxLanguageVariants) return this.baseSync();
    const r = new (sherpa().OfflineRecognizer)(this.recognizerConfig(lang));
    this.variants.set(lang, r);
    return r;
  }

  /** Decode one buffer on the libuv thread pool (`decodeAsync`). */
  async decodeAsync(pcm: Float32Array, lang?: string): Promise<TokenResult> {
    const rec = await this.recognizerAsync(lang);
    const stream = rec.createStream();
    stream.acceptWaveform({ samples: pcm, sampleRate: SR });
    return (await rec.decodeAsync(stream)) as TokenResult;
  }

  /** Decode one buffer synchronously (streaming passes, two-pass finals; runs in the worker). */
  decodeSync(pcm: Float32Array, lang?: string): TokenResult {
    const rec = this.recognizerSync(lang);
    const stream = rec.createStream();
    stream.acceptWaveform({ samples: pcm, sampleRate: SR });
    rec.decode(stream);
    return rec.getResult(stream) as TokenResult;
  }
}
