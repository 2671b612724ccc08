/**
 * Streaming recognition with a sherpa-onnx OnlineRecognizer (transducer / Zipformer,
 * Zipformer2-CTC, NeMo CTC, Paraformer).
 *
 * Two bindings with the same semantics: the Node addon (`sherpa-onnx-node`), and the C API via
 * koffi (capi.ts) when per-session hotwords are needed. `decodeAll()` is the batching core: it
 * decodes every stream that has a full chunk ready in ONE `decodeStreams` call (one batched
 * encoder run), and repeats while any stream still has a ready chunk.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type { Hypothesis, StreamingDecoder } from '../backend.ts';
import { ENGINE_SAMPLE_RATE } from '../types.ts';
import { CApiOnlineRecognizer } from './capi.ts';
import type { ModelSpec, ResolvedConfig } from './config.ts';
import { resultText, tokensToWords, type TokenResult } from './words.ts';

const require = createRequire(import.meta.url);
// sherpa-onnx-node is CommonJS without typings.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Sherpa = any;
export function sherpa(): Sherpa {
  return require('sherpa-onnx-node');
}

const SR = ENGINE_SAMPLE_RATE;

export interface OnlineResult extends TokenResult {
  num_trailing_blanks?: number;
  segment?: number;
  start_time?: number;
}

/** Output frame of each online family (used to place the end of a word's last piece). */
const FRAME_SECONDS: Record<string, number> = {
  transducer: 0.04,
  'zipformer2-ctc': 0.04,
  'nemo-ctc': 0.08,
  paraformer: 0.06,
};

interface Binding {
  readonly kind: 'addon' | 'c-api';
  createStream(hotwords?: string): unknown;
  accept(s: unknown, pcm: Float32Array): void;
  inputFinished(s: unknown): void;
  isReady(s: unknown): boolean;
  decode(s: unknown): void;
  decodeMany(ss: unknown[]): void;
  result(s: unknown): OnlineResult;
  freeStream(s: unknown): void;
  dispose(): void;
}

function addonBinding(config: Record<string, unknown>): Binding {
  const S = sherpa();
  const rec = new S.OnlineRecognizer(config);
  return {
    kind: 'addon',
    createStream: () => rec.createStream(),
    accept: (s, pcm) => (s as { acceptWaveform(o: unknown): void }).acceptWaveform({ samples: pcm, sampleRate: SR }),
    inputFinished: (s) => (s as { inputFinished(): void }).inputFinished(),
    isReady: (s) => rec.isReady(s),
    decode: (s) => rec.decode(s),
    decodeMany: (ss) => rec.decodeStreams(ss),
    result: (s) => rec.getResult(s) as OnlineResult,
    // Addon streams are released by their finalizer once unreferenced.
    freeStream: () => {},
    dispose: () => {},
  };
}

function capiBinding(r: CApiOnlineRecognizer): Binding {
  return {
    kind: 'c-api',
    createStream: (hw) => r.createStream(hw),
    accept: (s, pcm) => r.accept(s as bigint, pcm, SR),
    inputFinished: (s) => r.inputFinished(s as bigint),
    isReady: (s) => r.isReady(s as bigint),
    decode: (s) => r.decode(s as bigint),
    decodeMany: (ss) => r.decodeMany(ss as bigint[]),
    result: (s) => JSON.parse(r.resultJson(s as bigint)) as OnlineResult,
    freeStream: (s) => r.destroyStream(s as bigint),
    dispose: () => r.destroy(),
  };
}

/**
 * sentencepiece-style vocabulary for hotword encoding, derived from tokens.txt when the bundle
 * ships no bpe.vocab: piece and score = -id, which is what sentencepiece writes for BPE models
 * (earlier merges, lower ids, higher scores), so ssentencepiece segments keywords like the model's
 * own tokenizer.
 */
export function deriveBpeVocab(tokensFile: string): string {
  const text = fs.readFileSync(tokensFile, 'utf8');
  const hash = crypto.createHash('sha256').update(text).digest('hex').slice(0, 16);
  const out = path.join(os.tmpdir(), `cochlea-bpe-${hash}.vocab`);
  if (!fs.existsSync(out)) {
    const lines: string[] = [];
    for (const line of text.split('\n')) {
      const m = /^(\S+)\s+(\d+)\s*$/.exec(line);
      if (m) lines.push(`${m[1]}\t${-Number(m[2])}`);
    }
    const tmp = `${out}.${process.pid}.${crypto.randomUUID()}`;
    fs.writeFileSync(tmp, lines.join('\n') + '\n');
    fs.renameSync(tmp, out);
  }
  return out;
}

export interface BatchStats {
  /** decodeStreams calls made. */
  calls: number;
  /** Streams decoded over all calls. */
  streams: number;
}

export class OnlineModel {
  readonly spec: ModelSpec;
  readonly binding: Binding;
  readonly frameSeconds: number;
  readonly hotwords: boolean;
  readonly stats: BatchStats = { calls: 0, streams: 0 };
  private readonly tailPadding: Float32Array;
  private readonly hotwordsCase: 'upper' | 'lower' | 'keep';
  private readonly maxKeywords: number;

  constructor(spec: ModelSpec, cfg: ResolvedConfig) {
    this.spec = spec;
    this.frameSeconds = FRAME_SECONDS[spec.family] ?? 0.04;
    this.tailPadding = new Float32Array(Math.round(cfg.tailPaddingSeconds * SR));
    this.hotwordsCase = spec.hotwordsCase ?? 'keep';
    this.maxKeywords = cfg.hotwords.maxKeywords;
    const f = spec.files;
    const useCapi = cfg.onlineBinding === 'c-api' || (cfg.onlineBinding === 'auto' && cfg.hotwords.enabled);
    this.hotwords = useCapi && cfg.hotwords.enabled;
    const bpeVocab = this.hotwords ? (f.bpeVocab ?? deriveBpeVocab(f.tokens)) : f.bpeVocab;
    const modelingUnit = bpeVocab ? (spec.modelingUnit ?? 'bpe') : undefined;
    const decodingMethod = spec.decodingMethod ?? 'greedy_search';
    if (useCapi) {
      this.binding = capiBinding(
        new CApiOnlineRecognizer({
          sampleRate: SR,
          featureDim: 80,
          transducer: spec.family === 'transducer' ? { encoder: f.encoder, decoder: f.decoder, joiner: f.joiner } : undefined,
          paraformer: spec.family === 'paraformer' ? { encoder: f.encoder, decoder: f.decoder } : undefined,
          zipformer2Ctc: spec.family === 'zipformer2-ctc' ? f.model : undefined,
          nemoCtc: spec.family === 'nemo-ctc' ? f.model : undefined,
          tokens: f.tokens,
          numThreads: cfg.numThreads,
          provider: cfg.provider,
          modelType: spec.modelType,
          modelingUnit,
          bpeVocab,
          decodingMethod,
          maxActivePaths: cfg.hotwords.maxActivePaths,
          hotwordsScore: cfg.hotwords.score,
        }),
      );
    } else {
      const modelConfig: Record<string, unknown> = {
        tokens: f.tokens,
        numThreads: cfg.numThreads,
        provider: cfg.provider,
        debug: 0,
      };
      if (spec.modelType) modelConfig.modelType = spec.modelType;
      if (spec.family === 'transducer') modelConfig.transducer = { encoder: f.encoder, decoder: f.decoder, joiner: f.joiner };
      else if (spec.family === 'paraformer') modelConfig.paraformer = { encoder: f.encoder, decoder: f.decoder };
      else if (spec.family === 'zipformer2-ctc') modelConfig.zipformer2Ctc = { model: f.model };
      else if (spec.family === 'nemo-ctc') modelConfig.nemoCtc = { model: f.model };
      this.binding = addonBinding({
        featConfig: { sampleRate: SR, featureDim: 80 },
        modelConfig,
        decodingMethod,
        maxActivePaths: cfg.hotwords.maxActivePaths,
        enableEndpoint: 0,
      });
    }
  }

  serves(lang: string): boolean {
    return this.spec.languages.includes(lang);
  }

  /**
   * Pulse keywords ("word" or "word:boost") → sherpa-onnx hotwords ("PHRASE :boost/PHRASE").
   * Only letters, digits, apostrophes and spaces are kept; the case follows the model's tokens.
   */
  hotwordString(keywords: string[] | undefined): string | undefined {
    if (!this.hotwords || !keywords?.length) return undefined;
    const parts: string[] = [];
    for (const kw of keywords.slice(0, this.maxKeywords)) {
      const m = /^(.*?)(?::\s*(-?\d+(?:\.\d+)?))?$/.exec(kw.trim());
      if (!m) continue;
      let phrase = m[1].normalize('NFC').replace(/[^\p{L}\p{N}' ]+/gu, ' ').replace(/\s+/g, ' ').trim();
      if (!phrase) continue;
      if (this.hotwordsCase === 'upper') phrase = phrase.toUpperCase();
      else if (this.hotwordsCase === 'lower') phrase = phrase.toLowerCase();
      const boost = m[2] !== undefined ? Number(m[2]) : undefined;
      parts.push(boost !== undefined && Number.isFinite(boost) && boost > 0 ? `${phrase} :${boost}` : phrase);
    }
    return parts.length ? parts.join('/') : undefined;
  }

  createSession(keywords?: string[]): OnlineSession {
    return new OnlineSession(this, this.hotwordString(keywords));
  }

  /** Decode every ready stream in one batched call per round, until none is ready. */
  decodeAll(sessions: OnlineSession[]): void {
    let pending = sessions;
    for (;;) {
      const ready = pending.filter((s) => s.ready());
      if (ready.length === 0) return;
      this.binding.decodeMany(ready.map((s) => s.stream));
      this.stats.calls++;
      this.stats.streams += ready.length;
      for (const s of ready) s.invalidate();
      pending = ready;
    }
  }

  /** The per-stream alternative (benchmark baseline): decode(stream) for each ready stream. */
  decodeEach(sessions: OnlineSession[]): void {
    for (const s of sessions) {
      while (s.ready()) {
        this.binding.decode(s.stream);
        s.invalidate();
      }
    }
  }

  /**
   * Decode whole buffers (batch recognition with the streaming model), all streams batched.
   * Audio is fed in `sliceSeconds` steps with a yield to the event loop after each step, so a
   * long file does not hold up the worker's streaming sessions.
   */
  async decodeBuffers(
    buffers: Float32Array[],
    opts: { signal?: AbortSignal; sliceSeconds?: number } = {},
  ): Promise<{ result: OnlineResult; words: ReturnType<typeof tokensToWords>; text: string }[]> {
    const slice = Math.round((opts.sliceSeconds ?? 5) * SR);
    const sessions = buffers.map(() => this.createSession());
    try {
      const longest = Math.max(0, ...buffers.map((b) => b.length));
      for (let off = 0; off < longest; off += slice) {
        sessions.forEach((s, i) => {
          if (off < buffers[i].length) s.accept(buffers[i].subarray(off, off + slice));
        });
        this.decodeAll(sessions);
        await new Promise((r) => setImmediate(r));
        if (opts.signal?.aborted) throw new Error('aborted');
      }
      for (const s of sessions) s.finishInput();
      this.decodeAll(sessions);
      return sessions.map((s, i) => {
        const result = s.rawResult();
        return { result, text: resultText(result), words: tokensToWords(result, { frameSeconds: this.frameSeconds, duration: buffers[i].length / SR }) };
      });
    } finally {
      for (const s of sessions) s.free();
    }
  }

  paddingChunk(): Float32Array {
    return this.tailPadding;
  }

  dispose(): void {
    this.binding.dispose();
  }
}

/** One streaming session on an OnlineModel; a StreamingDecoder for the worker host. */
export class OnlineSession implements StreamingDecoder {
  readonly model: OnlineModel;
  readonly hotwords: string | undefined;
  stream: unknown;
  private samples = 0;
  private cached: OnlineResult | null = null;
  private finished = false;
  private freed = false;

  constructor(model: OnlineModel, hotwords: string | undefined) {
    this.model = model;
    this.hotwords = hotwords;
    this.stream = model.binding.createStream(hotwords);
  }

  get online(): OnlineSession {
    return this;
  }

  /** Samples accepted in the current segment. */
  get segmentSamples(): number {
    return this.samples;
  }

  accept(pcm: Float32Array): void {
    if (this.finished) throw new Error('stream input already finished');
    this.model.binding.accept(this.stream, pcm);
    this.samples += pcm.length;
  }

  ready(): boolean {
    return !this.freed && this.model.binding.isReady(this.stream);
  }

  invalidate(): void {
    this.cached = null;
  }

  finishInput(): void {
    if (this.finished) return;
    const pad = this.model.paddingChunk();
    if (pad.length) this.model.binding.accept(this.stream, pad);
    this.model.binding.inputFinished(this.stream);
    this.finished = true;
  }

  rawResult(): OnlineResult {
    if (!this.cached) this.cached = this.model.binding.result(this.stream);
    return this.cached;
  }

  hypothesis(): Hypothesis {
    const r = this.rawResult();
    return {
      text: resultText(r),
      words: tokensToWords(r, { frameSeconds: this.model.frameSeconds, duration: this.samples / SR }),
    };
  }

  /** The model stopped emitting tokens for a while (trailing blanks) → not in speech. */
  inSpeech(): boolean {
    const r = this.rawResult();
    if (!r.tokens?.length) return false;
    return (r.num_trailing_blanks ?? 0) * this.model.frameSeconds < 0.3;
  }

  /**
   * Decode everything accepted (tail padding + input finished), return the segment's words, then
   * start a fresh stream (same hotwords) so the next segment's times start at its first sample.
   */
  endSegment(): Hypothesis {
    this.finishInput();
    this.model.decodeAll([this]);
    const hyp = this.hypothesis();
    this.model.binding.freeStream(this.stream);
    this.stream = this.model.binding.createStream(this.hotwords);
    this.samples = 0;
    this.cached = null;
    this.finished = false;
    return hyp;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.model.binding.freeStream(this.stream);
    this.stream = null;
  }
}
