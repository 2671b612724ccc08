/**
 * Startup helpers: what the installed models let this server do, and a one-line fix for each
 * configured model that is missing ("run: cochlea models pull X").
 */
import { getModel } from './catalog.ts';
import type { ModelManager } from './manager.ts';

export interface Capabilities {
  /** Languages a streaming (real-time) ASR model serves. */
  streamingLanguages: string[];
  /** Languages an offline (batch) ASR model serves; streaming models also serve batch. */
  batchLanguages: string[];
  /** Installed ASR models that detect the language themselves ("multi"). */
  multilingual: string[];
  vad: boolean;
  diarization: boolean;
  punctuation: boolean;
  installed: string[];
}

export function capabilities(manager: ModelManager): Capabilities {
  const streaming = new Set<string>();
  const batch = new Set<string>();
  const multilingual: string[] = [];
  let vad = false;
  let seg = false;
  let emb = false;
  let punct = false;
  const installed: string[] = [];
  for (const s of manager.list()) {
    if (!s.installed) continue;
    const e = s.entry;
    installed.push(e.name);
    if (e.kind === 'asr') {
      for (const l of e.languages) {
        if (e.streaming) streaming.add(l);
        if (e.batch) batch.add(l);
      }
      if (e.multilingual) multilingual.push(e.name);
    } else if (e.kind === 'vad') vad = true;
    else if (e.kind === 'speaker-segmentation') seg = true;
    else if (e.kind === 'speaker-embedding') emb = true;
    else if (e.kind === 'punctuation') punct = true;
  }
  return {
    streamingLanguages: [...streaming].sort(),
    batchLanguages: [...batch].sort(),
    multilingual,
    vad,
    diarization: seg && emb,
    punctuation: punct,
    installed,
  };
}

export class MissingModelsError extends Error {
  readonly missing: string[];
  constructor(missing: string[], modelsDir: string) {
    super(
      `missing model${missing.length > 1 ? 's' : ''} in ${modelsDir}: ${missing.join(', ')}; ` +
        `run: ${missing.map((m) => `cochlea models pull ${m}`).join(' && ')}`,
    );
    this.name = 'MissingModelsError';
    this.missing = missing;
  }
}

/** Names among `wanted` (catalog names) that are not installed. Unknown names throw CatalogError. */
export function missingModels(manager: ModelManager, wanted: string[]): string[] {
  return wanted.filter((n) => {
    getModel(n, manager.catalog);
    return !manager.isInstalled(n);
  });
}

/** Throw MissingModelsError (one-line fix in the message) if any configured model is missing. */
export function assertModelsInstalled(manager: ModelManager, wanted: string[]): void {
  const missing = missingModels(manager, wanted);
  if (missing.length) throw new MissingModelsError(missing, manager.modelsDir);
}

/** One line per fact, for the server's startup log. */
export function describeCapabilities(c: Capabilities): string[] {
  const list = (xs: string[]) => (xs.length ? xs.join(',') : 'none');
  return [
    `sherpa-onnx models installed: ${list(c.installed)}`,
    `streaming languages: ${list(c.streamingLanguages)}; batch languages: ${list(c.batchLanguages)}${c.multilingual.length ? ` (+ auto-detect via ${c.multilingual.join(',')})` : ''}`,
    `vad: ${c.vad ? 'yes' : 'no'}; diarization models: ${c.diarization ? 'yes' : 'no'}; punctuation model: ${c.punctuation ? 'yes' : 'no'}`,
  ];
}
