/**
 * koffi binding to sherpa-onnx's C API for streaming recognition, used for per-session hotwords.
 *
 * Why: sherpa-onnx-node 1.13.8's `OnlineRecognizer.createStream()` takes no hotwords (its addon
 * only imports `SherpaOnnxCreateOnlineStream`), but the C library it ships
 * (`libsherpa-onnx-c-api.so`, same package, same onnxruntime) exports
 * `SherpaOnnxCreateOnlineStreamWithHotwords`. Per-session contextual biasing therefore goes through
 * this binding: one C recognizer, streams created with their own hotwords, all decoded together
 * by `SherpaOnnxDecodeMultipleOnlineStreams` (one batched encoder run; sherpa-onnx applies each
 * stream's context graph in modified beam search).
 *
 * The structs mirror `sherpa-onnx/c-api/c-api.h` (SherpaOnnxOnlineRecognizerConfig ending with the
 * homophone-replacer config, as in 1.12-1.13). New fields are only ever appended to that struct,
 * so a zeroed reserve follows it: a newer library reads zeros (its defaults) for fields we do not
 * know. test/sherpa/backend.test.ts checks this path decodes exactly like the Node addon.
 */
import koffi from 'koffi';
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';

const require = createRequire(import.meta.url);

export interface CApiOnlineConfig {
  sampleRate: number;
  featureDim: number;
  transducer?: { encoder: string; decoder: string; joiner: string };
  paraformer?: { encoder: string; decoder: string };
  zipformer2Ctc?: string;
  nemoCtc?: string;
  tokens: string;
  numThreads: number;
  provider: string;
  modelType?: string;
  modelingUnit?: string;
  bpeVocab?: string;
  decodingMethod: string;
  maxActivePaths: number;
  hotwordsScore: number;
  blankPenalty?: number;
}

type Ptr = bigint;

interface Api {
  create(cfg: Record<string, unknown>): Ptr | null;
  destroy(r: Ptr): void;
  createStream(r: Ptr): Ptr | null;
  createStreamHw(r: Ptr, hotwords: string): Ptr | null;
  destroyStream(s: Ptr): void;
  accept(s: Ptr, sampleRate: number, samples: Float32Array, n: number): void;
  isReady(r: Ptr, s: Ptr): number;
  decode(r: Ptr, s: Ptr): void;
  decodeMulti(r: Ptr, ss: BigUint64Array, n: number): void;
  resultJson(r: Ptr, s: Ptr): Ptr | null;
  freeJson(p: Ptr): void;
  inputFinished(s: Ptr): void;
}

let api: Api | null = null;

/** Path of the C library shipped by the platform package of sherpa-onnx-node. */
export function sherpaCLibraryPath(): string {
  const platform = process.platform === 'win32' ? 'win' : process.platform;
  const pkg = `sherpa-onnx-${platform}-${process.arch}`;
  const dir = path.dirname(require.resolve(`${pkg}/package.json`));
  const names = process.platform === 'darwin' ? ['libsherpa-onnx-c-api.dylib'] : process.platform === 'win32' ? ['sherpa-onnx-c-api.dll'] : ['libsherpa-onnx-c-api.so'];
  for (const n of names) if (fs.existsSync(path.join(dir, n))) return path.join(dir, n);
  throw new Error(`sherpa-onnx C library not found in ${dir}`);
}

function load(): Api {
  if (api) return api;
  // The Node addon loads (and initialises onnxruntime for) the same library first.
  require('sherpa-onnx-node');
  const lib = koffi.load(sherpaCLibraryPath());
  const str = 'const char *';
  const i32 = 'int32_t';
  const Feat = koffi.struct('CochleaSoFeat', { sample_rate: i32, feature_dim: i32 });
  const Trans = koffi.struct('CochleaSoTrans', { encoder: str, decoder: str, joiner: str });
  const Para = koffi.struct('CochleaSoPara', { encoder: str, decoder: str });
  const One = koffi.struct('CochleaSoOne', { model: str });
  const Model = koffi.struct('CochleaSoModel', {
    transducer: Trans,
    paraformer: Para,
    zipformer2_ctc: One,
    tokens: str,
    num_threads: i32,
    provider: str,
    debug: i32,
    model_type: str,
    modeling_unit: str,
    bpe_vocab: str,
    tokens_buf: str,
    tokens_buf_size: i32,
    nemo_ctc: One,
    t_one_ctc: One,
  });
  const Fst = koffi.struct('CochleaSoFst', { graph: str, max_active: i32 });
  const Hr = koffi.struct('CochleaSoHr', { dict_dir: str, lexicon: str, rule_fsts: str });
  const Cfg = koffi.struct('CochleaSoCfg', {
    feat_config: Feat,
    model_config: Model,
    decoding_method: str,
    max_active_paths: i32,
    enable_endpoint: i32,
    rule1_min_trailing_silence: 'float',
    rule2_min_trailing_silence: 'float',
    rule3_min_utterance_length: 'float',
    hotwords_file: str,
    hotwords_score: 'float',
    ctc_fst_decoder_config: Fst,
    rule_fsts: str,
    rule_fars: str,
    blank_penalty: 'float',
    hotwords_buf: str,
    hotwords_buf_size: i32,
    hr: Hr,
    reserved: koffi.array('uint8_t', 1024),
  });
  const P = 'void *';
  api = {
    create: lib.func('SherpaOnnxCreateOnlineRecognizer', P, [koffi.pointer(Cfg)]),
    destroy: lib.func('SherpaOnnxDestroyOnlineRecognizer', 'void', [P]),
    createStream: lib.func('SherpaOnnxCreateOnlineStream', P, [P]),
    createStreamHw: lib.func('SherpaOnnxCreateOnlineStreamWithHotwords', P, [P, str]),
    destroyStream: lib.func('SherpaOnnxDestroyOnlineStream', 'void', [P]),
    accept: lib.func('SherpaOnnxOnlineStreamAcceptWaveform', 'void', [P, i32, 'const float *', i32]),
    isReady: lib.func('SherpaOnnxIsOnlineStreamReady', i32, [P, P]),
    decode: lib.func('SherpaOnnxDecodeOnlineStream', 'void', [P, P]),
    decodeMulti: lib.func('SherpaOnnxDecodeMultipleOnlineStreams', 'void', [P, 'const uint64_t *', i32]),
    resultJson: lib.func('SherpaOnnxGetOnlineStreamResultAsJson', P, [P, P]),
    freeJson: lib.func('SherpaOnnxDestroyOnlineStreamResultJson', 'void', [P]),
    inputFinished: lib.func('SherpaOnnxOnlineStreamInputFinished', 'void', [P]),
  } as unknown as Api;
  return api;
}

/** One C-API online recognizer. Not thread-safe: use from one thread (a worker). */
export class CApiOnlineRecognizer {
  private handle: Ptr | null;
  private readonly api: Api;
  private readonly streams = new Set<Ptr>();

  constructor(c: CApiOnlineConfig) {
    this.api = load();
    const cfg = {
      feat_config: { sample_rate: c.sampleRate, feature_dim: c.featureDim },
      model_config: {
        transducer: c.transducer ?? { encoder: null, decoder: null, joiner: null },
        paraformer: c.paraformer ?? { encoder: null, decoder: null },
        zipformer2_ctc: { model: c.zipformer2Ctc ?? null },
        tokens: c.tokens,
        num_threads: c.numThreads,
        provider: c.provider,
        debug: 0,
        model_type: c.modelType ?? null,
        modeling_unit: c.modelingUnit ?? null,
        bpe_vocab: c.bpeVocab ?? null,
        tokens_buf: null,
        tokens_buf_size: 0,
        nemo_ctc: { model: c.nemoCtc ?? null },
        t_one_ctc: { model: null },
      },
      decoding_method: c.decodingMethod,
      max_active_paths: c.maxActivePaths,
      enable_endpoint: 0,
      rule1_min_trailing_silence: 2.4,
      rule2_min_trailing_silence: 1.2,
      rule3_min_utterance_length: 20,
      hotwords_file: null,
      hotwords_score: c.hotwordsScore,
      ctc_fst_decoder_config: { graph: null, max_active: 3000 },
      rule_fsts: null,
      rule_fars: null,
      blank_penalty: c.blankPenalty ?? 0,
      hotwords_buf: null,
      hotwords_buf_size: 0,
      hr: { dict_dir: null, lexicon: null, rule_fsts: null },
      reserved: new Uint8Array(1024),
    };
    const h = this.api.create(cfg);
    if (!h) throw new Error('sherpa-onnx C API: cannot create the online recognizer (check the model files and config)');
    this.handle = h;
  }

  private get h(): Ptr {
    if (this.handle === null) throw new Error('online recognizer already destroyed');
    return this.handle;
  }

  createStream(hotwords?: string): Ptr {
    const s = hotwords ? this.api.createStreamHw(this.h, hotwords) : this.api.createStream(this.h);
    if (!s) throw new Error('sherpa-onnx C API: cannot create a stream');
    this.streams.add(s);
    return s;
  }

  accept(s: Ptr, pcm: Float32Array, sampleRate: number): void {
    if (pcm.length) this.api.accept(s, sampleRate, pcm, pcm.length);
  }

  inputFinished(s: Ptr): void {
    this.api.inputFinished(s);
  }

  isReady(s: Ptr): boolean {
    return this.api.isReady(this.h, s) !== 0;
  }

  decode(s: Ptr): void {
    this.api.decode(this.h, s);
  }

  decodeMany(ss: Ptr[]): void {
    if (ss.length === 0) return;
    this.api.decodeMulti(this.h, BigUint64Array.from(ss), ss.length);
  }

  resultJson(s: Ptr): string {
    const p = this.api.resultJson(this.h, s);
    if (!p) return '{}';
    try {
      return koffi.decode(p, 'char', -1) as string;
    } finally {
      this.api.freeJson(p);
    }
  }

  destroyStream(s: Ptr): void {
    if (this.streams.delete(s)) this.api.destroyStream(s);
  }

  destroy(): void {
    if (this.handle === null) return;
    for (const s of this.streams) this.api.destroyStream(s);
    this.streams.clear();
    this.api.destroy(this.handle);
    this.handle = null;
  }
}
