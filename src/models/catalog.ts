/**
 * The model catalog: which bundles exist, where their official publishers serve them, what each
 * serves. The data lives in catalog.json; this module types and validates it.
 *
 * Checksums: `sha256` is set only where the digest is known to be right (for example, when the
 * publisher's own Git-LFS object id and an independent copy agree). Most sherpa-onnx release
 * archives have no published digest, so they carry `sha256: null`; the download manager then
 * computes the digest of what it downloaded, records it in the install manifest (trust on first
 * use), and `cochlea models verify` later re-hashes the installed files against that record.
 * An operator who pins a digest (COCHLEA_MODELS_CATALOG pointing at an edited copy) gets strict
 * verification before anything is extracted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelsCatalogFile } from '../config.ts';

export type ModelKind = 'asr' | 'vad' | 'speaker-segmentation' | 'speaker-embedding' | 'punctuation';
export type ArchiveType = 'tar.bz2' | 'none';

/** How sherpa-onnx loads the bundle: family + which file plays which role. */
export interface SherpaModelInfo {
  mode: 'online' | 'offline' | 'vad' | 'speaker-segmentation' | 'speaker-embedding' | 'punctuation';
  family: string;
  /** role → file name inside the bundle directory. */
  files: Record<string, string>;
  decodingMethod?: 'greedy_search' | 'modified_beam_search';
  modelType?: string;
  hotwordsCase?: 'upper' | 'lower' | 'keep';
  maxSeconds?: number;
}

export interface CatalogEntry {
  name: string;
  title: string;
  kind: ModelKind;
  url: string;
  archive: ArchiveType;
  /** Directory the archive unpacks to (default: the archive name without extension). */
  archiveRoot?: string;
  sha256: string | null;
  sha256Source?: string;
  sizeBytes?: number;
  approxSizeMB?: number;
  license: string;
  publisher: string;
  languages: string[];
  multilingual?: boolean;
  streaming: boolean;
  batch: boolean;
  features: string[];
  pairsWith?: string[];
  sherpa: SherpaModelInfo;
}

export interface Catalog {
  version: number;
  models: CatalogEntry[];
}

export class CatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CatalogError';
  }
}

const KINDS: ModelKind[] = ['asr', 'vad', 'speaker-segmentation', 'speaker-embedding', 'punctuation'];
const NAME_RE = /^[a-z0-9][a-z0-9._-]*$/;

/** Validate parsed JSON as a catalog; throws CatalogError naming the first problem. */
export function validateCatalog(data: unknown): Catalog {
  const fail = (msg: string): never => {
    throw new CatalogError(`model catalog: ${msg}`);
  };
  if (!data || typeof data !== 'object') fail('not an object');
  const c = data as { version?: unknown; models?: unknown };
  if (c.version !== 1) fail(`unsupported version ${String(c.version)}`);
  if (!Array.isArray(c.models)) fail('"models" must be an array');
  const seen = new Set<string>();
  for (const m of c.models as Partial<CatalogEntry>[]) {
    const where = `model ${JSON.stringify(m?.name)}`;
    if (typeof m?.name !== 'string' || !NAME_RE.test(m.name)) fail(`${where}: bad name`);
    if (seen.has(m.name!)) fail(`${where}: duplicate name`);
    seen.add(m.name!);
    if (!KINDS.includes(m.kind as ModelKind)) fail(`${where}: bad kind ${String(m.kind)}`);
    let url: URL | undefined;
    try {
      url = new URL(String(m.url));
    } catch {
      fail(`${where}: bad url`);
    }
    if (url!.protocol !== 'https:' && url!.protocol !== 'http:') fail(`${where}: url must be http(s)`);
    if (m.archive !== 'tar.bz2' && m.archive !== 'none') fail(`${where}: archive must be "tar.bz2" or "none"`);
    if (m.sha256 !== null && !(typeof m.sha256 === 'string' && /^[0-9a-f]{64}$/.test(m.sha256))) {
      fail(`${where}: sha256 must be 64 lowercase hex digits or null`);
    }
    if (!Array.isArray(m.languages)) fail(`${where}: languages must be an array`);
    if (!m.sherpa || typeof m.sherpa !== 'object' || !m.sherpa.files || typeof m.sherpa.files !== 'object') {
      fail(`${where}: sherpa.files missing`);
    }
    for (const [role, f] of Object.entries(m.sherpa!.files)) {
      if (typeof f !== 'string' || f.includes('..') || path.isAbsolute(f)) fail(`${where}: bad file for ${role}`);
    }
    if (m.archive === 'none' && Object.keys(m.sherpa!.files).length !== 1) {
      fail(`${where}: a single-file download must list exactly one file`);
    }
  }
  return c as Catalog;
}

const DEFAULT_CATALOG = path.join(path.dirname(fileURLToPath(import.meta.url)), 'catalog.json');
const cache = new Map<string, Catalog>();

/** Load the catalog (COCHLEA_MODELS_CATALOG overrides the bundled one). Cached per path. */
export function loadCatalog(file = modelsCatalogFile() ?? DEFAULT_CATALOG): Catalog {
  const hit = cache.get(file);
  if (hit) return hit;
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CatalogError(`cannot read model catalog ${file}: ${(err as Error).message}`);
  }
  const c = validateCatalog(data);
  cache.set(file, c);
  return c;
}

export function findModel(name: string, catalog: Catalog = loadCatalog()): CatalogEntry | undefined {
  return catalog.models.find((m) => m.name === name);
}

export function getModel(name: string, catalog: Catalog = loadCatalog()): CatalogEntry {
  const m = findModel(name, catalog);
  if (!m) {
    throw new CatalogError(
      `unknown model "${name}". Known: ${catalog.models.map((x) => x.name).join(', ')} (run: cochlea models list)`,
    );
  }
  return m;
}
