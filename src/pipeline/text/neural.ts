/**
 * Neural punctuation through sherpa-onnx's punctuation API, with the catalog's models:
 *   - `online-punct-en-2024-08-06` (CNN-BiLSTM, English): punctuation AND casing
 *     → sherpa-onnx-node `OnlinePunctuation({ model: { cnnBilstm, bpeVocab } }).addPunct(text)`;
 *   - `punct-ct-transformer-zh-en-2024-04-12` (CT-Transformer, Chinese + English): punctuation only
 *     → `OfflinePunctuation({ model: { ctTransformer } }).addPunct(text)`; casing stays local.
 *
 * Selection (`selectPunctuationModel`): the installed catalog model of kind "punctuation" that
 * serves the language, preferring one that also cases. The model runs in the analysis worker
 * (task "punctuate", registered in pipeline/analysis/tasks.ts): one loaded instance per model file
 * per worker thread, reused across requests.
 */
import { createRequire } from 'node:module';
import type { CatalogEntry } from '../../models/catalog.ts';

export interface PunctuationModel {
  name: string;
  /** Which sherpa-onnx class loads it. */
  kind: 'online' | 'offline';
  /** The model restores case too (else local truecasing runs after it). */
  cases: boolean;
  /** role → absolute path (online: model, bpeVocab; offline: model). */
  files: Record<string, string>;
}

export interface ModelLookup {
  catalog: { models: CatalogEntry[] };
  isInstalled(name: string): boolean;
  files(name: string): Record<string, string>;
}

/** The installed punctuation model for `language`, if any (see the module comment). */
export function selectPunctuationModel(language: string, models: ModelLookup): PunctuationModel | undefined {
  const lang = language.toLowerCase().split(/[-_]/)[0];
  const candidates = models.catalog.models
    .filter((e) => e.kind === 'punctuation' && e.sherpa.mode === 'punctuation' && e.languages.includes(lang))
    .map((e) => ({ e, cases: e.features.includes('casing') }))
    .sort((a, b) => Number(b.cases) - Number(a.cases) || a.e.languages.length - b.e.languages.length);
  for (const { e, cases } of candidates) {
    if (!models.isInstalled(e.name)) continue;
    const family = e.sherpa.family;
    if (family !== 'cnn-bilstm' && family !== 'ct-transformer') continue;
    return { name: e.name, kind: family === 'cnn-bilstm' ? 'online' : 'offline', cases, files: models.files(e.name) };
  }
  return undefined;
}

/** sherpa-onnx-node config for a model (the shape its `OnlinePunctuation` / `OfflinePunctuation` take). */
export function sherpaPunctuationConfig(m: Pick<PunctuationModel, 'kind' | 'files'>, numThreads = 1): Record<string, unknown> {
  if (m.kind === 'online') {
    return { model: { cnnBilstm: m.files.model, bpeVocab: m.files.bpeVocab, numThreads, provider: 'cpu', debug: 0 } };
  }
  return { model: { ctTransformer: m.files.model, numThreads, provider: 'cpu', debug: 0 } };
}

export interface PunctuationTaskInput {
  kind: 'online' | 'offline';
  files: Record<string, string>;
  /** Lowercase, unpunctuated texts (one per piece). */
  texts: string[];
  numThreads?: number;
}

interface Punctuator {
  addPunct(text: string): string;
}

const loaded = new Map<string, Punctuator>();
const require = createRequire(import.meta.url);

/** Analysis-worker task: punctuate texts with a sherpa-onnx model (loaded once per worker). */
export function punctuationTask(input: PunctuationTaskInput): { texts: string[] } {
  const key = `${input.kind}:${input.files.model}`;
  let p = loaded.get(key);
  if (!p) {
    const sherpa = require('sherpa-onnx-node') as {
      OnlinePunctuation: new (c: unknown) => Punctuator;
      OfflinePunctuation: new (c: unknown) => Punctuator;
    };
    const cfg = sherpaPunctuationConfig(input, input.numThreads ?? 1);
    p = input.kind === 'online' ? new sherpa.OnlinePunctuation(cfg) : new sherpa.OfflinePunctuation(cfg);
    loaded.set(key, p);
  }
  return { texts: input.texts.map((t) => (t.trim() ? p!.addPunct(t) : t)) };
}
