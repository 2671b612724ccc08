/**
 * The sherpa backend's configuration: plain data, passed through worker threads.
 *
 * Each model is either a catalog name (resolved against the model cache, see src/models) or an
 * inline spec with explicit file paths (tests and custom exports use that). Validation happens
 * once per worker in `resolveConfig`, with errors that say what to fix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getModel, loadCatalog, type CatalogEntry } from '../../models/catalog.ts';
import { ModelManager } from '../../models/manager.ts';

export type OnlineFamily = 'transducer' | 'zipformer2-ctc' | 'nemo-ctc' | 'paraformer';
export type OfflineFamily =
  | 'whisper'
  | 'sense-voice'
  | 'nemo-ctc'
  | 'nemo-transducer'
  | 'transducer'
  | 'moonshine'
  | 'paraformer';

export interface ModelSpec {
  /** Name used in logs and errors; for catalog models, the catalog name. */
  name: string;
  mode: 'online' | 'offline';
  family: OnlineFamily | OfflineFamily;
  /** role → file. Relative paths are resolved against `dir`. */
  files: Record<string, string>;
  dir?: string;
  /** Language codes served. */
  languages: string[];
  /** The model identifies the language itself (Whisper, SenseVoice): serves "multi". */
  multilingual?: boolean;
  decodingMethod?: 'greedy_search' | 'modified_beam_search';
  modelType?: string;
  /** sherpa-onnx modeling unit for hotword encoding: bpe (default), cjkchar, cjkchar+bpe. */
  modelingUnit?: string;
  /** How keywords are cased before BPE encoding (icefall English models use upper case). */
  hotwordsCase?: 'upper' | 'lower' | 'keep';
  /** Longest audio the model takes in one pass (Whisper: 30 s). */
  maxSeconds?: number;
}

export type ModelRef = string | ModelSpec;

export interface VadSpec {
  model: string;
  threshold?: number;
  minSilenceSeconds?: number;
  minSpeechSeconds?: number;
  /** Silero's forced split of long speech (also bounds offline segments). */
  maxSpeechSeconds?: number;
}

export interface SherpaBackendConfig {
  /** Where catalog models are installed (default: the model manager's directory). */
  modelsDir?: string;
  /** Streaming model: partials, and finals unless two-pass re-decodes them. */
  streaming?: ModelRef;
  /** Offline (batch) models, in order of preference for a language. */
  offline?: ModelRef[];
  /** Silero VAD used to cut long batch audio into segments (catalog name or { model: path }). */
  vad?: string | VadSpec;
  /**
   * Two-pass streaming: every final is re-decoded by an offline model on that segment's audio.
   * true = the first offline model serving the session's language; a string names the model.
   */
  twoPass?: boolean | string;
  numThreads?: number;
  provider?: string;
  hotwords?: {
    /** Default true when the streaming model supports them (transducer + modified_beam_search). */
    enabled?: boolean;
    /** Default boost per hotword token (sherpa-onnx hotwords_score). */
    score?: number;
    maxActivePaths?: number;
    /** Most keywords accepted per session. */
    maxKeywords?: number;
  };
  /** Simulated streaming with an offline model: re-decode the open segment this often (s). */
  partialIntervalSeconds?: number;
  /** Zero padding fed after the last sample of a streaming segment so its final chunk is decoded. */
  tailPaddingSeconds?: number;
  /** Most per-language copies of a multilingual offline model kept loaded (0: language is only a routing hint). */
  maxLanguageVariants?: number;
  /** Longest streaming segment audio kept for two-pass / simulated streaming (s). */
  maxSegmentAudioSeconds?: number;
  /** 'auto': C API (per-stream hotwords) when hotwords are in use, else the Node addon. */
  onlineBinding?: 'auto' | 'addon' | 'c-api';
}

export interface ResolvedConfig {
  streaming?: ModelSpec;
  offline: ModelSpec[];
  vad?: VadSpec;
  twoPass: boolean | string;
  numThreads: number;
  provider: string;
  hotwords: { enabled: boolean; score: number; maxActivePaths: number; maxKeywords: number };
  partialIntervalSeconds: number;
  tailPaddingSeconds: number;
  maxLanguageVariants: number;
  maxSegmentAudioSeconds: number;
  onlineBinding: 'auto' | 'addon' | 'c-api';
}

export class SherpaConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SherpaConfigError';
  }
}

const ONLINE: OnlineFamily[] = ['transducer', 'zipformer2-ctc', 'nemo-ctc', 'paraformer'];
const OFFLINE: OfflineFamily[] = ['whisper', 'sense-voice', 'nemo-ctc', 'nemo-transducer', 'transducer', 'moonshine', 'paraformer'];
const REQUIRED: Record<string, string[]> = {
  'online:transducer': ['encoder', 'decoder', 'joiner', 'tokens'],
  'online:zipformer2-ctc': ['model', 'tokens'],
  'online:nemo-ctc': ['model', 'tokens'],
  'online:paraformer': ['encoder', 'decoder', 'tokens'],
  'offline:whisper': ['encoder', 'decoder', 'tokens'],
  'offline:sense-voice': ['model', 'tokens'],
  'offline:nemo-ctc': ['model', 'tokens'],
  'offline:nemo-transducer': ['encoder', 'decoder', 'joiner', 'tokens'],
  'offline:transducer': ['encoder', 'decoder', 'joiner', 'tokens'],
  'offline:moonshine': ['preprocessor', 'encoder', 'uncachedDecoder', 'cachedDecoder', 'tokens'],
  'offline:paraformer': ['model', 'tokens'],
};

function num(v: unknown, def: number, name: string, min = 0): number {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new SherpaConfigError(`sherpa config: ${name} must be a number ≥ ${min}`);
  return v;
}

function fromCatalog(entry: CatalogEntry, manager: ModelManager, want: 'online' | 'offline' | 'any'): ModelSpec {
  const s = entry.sherpa;
  if (s.mode !== 'online' && s.mode !== 'offline') {
    throw new SherpaConfigError(`model "${entry.name}" is a ${entry.kind} model, not a speech recognizer`);
  }
  if (want !== 'any' && s.mode !== want) {
    throw new SherpaConfigError(`model "${entry.name}" is ${s.mode === 'online' ? 'a streaming' : 'an offline'} model; expected ${want}`);
  }
  return {
    name: entry.name,
    mode: s.mode,
    family: s.family as ModelSpec['family'],
    files: manager.files(entry.name),
    languages: entry.languages,
    multilingual: entry.multilingual,
    decodingMethod: s.decodingMethod,
    modelType: s.modelType,
    hotwordsCase: s.hotwordsCase,
    maxSeconds: s.maxSeconds,
  };
}

/** Resolve a model reference to a spec with absolute, existing file paths. */
export function resolveModel(ref: ModelRef, mode: 'online' | 'offline', manager: () => ModelManager): ModelSpec {
  let spec: ModelSpec;
  if (typeof ref === 'string') {
    const entry = getModel(ref, manager().catalog);
    spec = fromCatalog(entry, manager(), mode);
  } else {
    if (!ref || typeof ref !== 'object') throw new SherpaConfigError('sherpa config: a model must be a catalog name or a spec object');
    spec = { ...ref, files: { ...ref.files } };
    if (spec.mode !== mode) throw new SherpaConfigError(`sherpa config: model "${spec.name}" has mode ${spec.mode}, expected ${mode}`);
    for (const [role, f] of Object.entries(spec.files)) spec.files[role] = path.resolve(spec.dir ?? '.', f);
  }
  const families: string[] = mode === 'online' ? ONLINE : OFFLINE;
  if (!families.includes(spec.family)) {
    throw new SherpaConfigError(`sherpa config: model "${spec.name}": unsupported ${mode} family "${spec.family}" (supported: ${families.join(', ')})`);
  }
  for (const role of REQUIRED[`${mode}:${spec.family}`] ?? []) {
    const f = spec.files[role];
    if (!f) throw new SherpaConfigError(`sherpa config: model "${spec.name}" (${spec.family}) needs a "${role}" file`);
    if (!fs.existsSync(f)) {
      const fix = typeof ref === 'string' ? `; run: cochlea models pull ${ref}` : '';
      throw new SherpaConfigError(`sherpa config: model "${spec.name}": ${role} file not found: ${f}${fix}`);
    }
  }
  if (!Array.isArray(spec.languages)) throw new SherpaConfigError(`sherpa config: model "${spec.name}" needs a languages array`);
  return spec;
}

export function resolveConfig(raw: unknown): ResolvedConfig {
  if (raw !== undefined && (typeof raw !== 'object' || raw === null)) throw new SherpaConfigError('sherpa config must be an object');
  const c = (raw ?? {}) as SherpaBackendConfig;
  let mgr: ModelManager | undefined;
  const manager = () => (mgr ??= new ModelManager({ modelsDir: c.modelsDir, catalog: loadCatalog() }));
  const streaming = c.streaming !== undefined ? resolveModel(c.streaming, 'online', manager) : undefined;
  const offline = (c.offline ?? []).map((r) => resolveModel(r, 'offline', manager));
  if (!streaming && offline.length === 0) {
    throw new SherpaConfigError('sherpa config: configure at least one model ("streaming" and/or "offline"); run: cochlea models list');
  }
  let vad: VadSpec | undefined;
  if (typeof c.vad === 'string') {
    const entry = getModel(c.vad, manager().catalog);
    if (entry.kind !== 'vad') throw new SherpaConfigError(`sherpa config: "${c.vad}" is not a VAD model`);
    vad = { model: Object.values(manager().files(c.vad))[0] };
  } else if (c.vad) {
    vad = { ...c.vad };
  }
  if (vad && !fs.existsSync(vad.model)) throw new SherpaConfigError(`sherpa config: VAD model not found: ${vad.model}`);
  if (typeof c.twoPass === 'string' && !offline.some((m) => m.name === c.twoPass)) {
    throw new SherpaConfigError(`sherpa config: twoPass names "${c.twoPass}", which is not among the offline models`);
  }
  if (c.twoPass && !streaming) throw new SherpaConfigError('sherpa config: twoPass needs a streaming model');
  if (c.twoPass && offline.length === 0) throw new SherpaConfigError('sherpa config: twoPass needs an offline model');
  const binding = c.onlineBinding ?? 'auto';
  if (!['auto', 'addon', 'c-api'].includes(binding)) throw new SherpaConfigError('sherpa config: onlineBinding must be auto, addon or c-api');
  const hotwordCapable = !!streaming && streaming.family === 'transducer' && streaming.decodingMethod === 'modified_beam_search';
  return {
    streaming,
    offline,
    vad,
    twoPass: c.twoPass ?? false,
    numThreads: num(c.numThreads, 1, 'numThreads', 1),
    provider: c.provider ?? 'cpu',
    hotwords: {
      enabled: (c.hotwords?.enabled ?? true) && hotwordCapable && binding !== 'addon',
      score: num(c.hotwords?.score, 1.5, 'hotwords.score'),
      maxActivePaths: num(c.hotwords?.maxActivePaths, 4, 'hotwords.maxActivePaths', 1),
      maxKeywords: num(c.hotwords?.maxKeywords, 100, 'hotwords.maxKeywords', 0),
    },
    partialIntervalSeconds: num(c.partialIntervalSeconds, 1, 'partialIntervalSeconds', 0.1),
    tailPaddingSeconds: num(c.tailPaddingSeconds, 0.66, 'tailPaddingSeconds'),
    maxLanguageVariants: num(c.maxLanguageVariants, 2, 'maxLanguageVariants'),
    maxSegmentAudioSeconds: num(c.maxSegmentAudioSeconds, 120, 'maxSegmentAudioSeconds', 1),
    onlineBinding: binding,
  };
}
