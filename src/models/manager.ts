/**
 * Model manager: list / pull / verify / remove catalog bundles in the models directory.
 *
 * A pull is atomic: download (resumable) into `.partial/`, check the sha256 when the catalog
 * pins one, unpack into a fresh staging directory under `.tmp/`, check that every file the
 * sherpa-onnx config needs is there, hash the installed files into the manifest, then rename the
 * staging directory to `<modelsDir>/<name>`. Readers never see a half-installed model. Concurrent
 * pulls of the same model (threads, processes) serialise on `.locks/<name>.lock`; the second one
 * finds the model installed and returns without downloading again.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ArchiveError, extractTarBz2 } from './archive.ts';
import { type Catalog, type CatalogEntry, getModel, loadCatalog } from './catalog.ts';
import { ChecksumError, download, type DownloadProgress, removePartial, sha256File } from './download.ts';
import { acquireLock, type LockOwner } from './lock.ts';
import { MANIFEST_FILE, defaultModelsDir, lockDir, modelDir, partialDir, tmpDir } from './paths.ts';

export interface InstalledFile {
  size: number;
  sha256: string;
}

export interface InstallManifest {
  name: string;
  url: string;
  /** sha256 of the downloaded file (archive or single file). */
  downloadSha256: string;
  /** Whether `downloadSha256` was checked against a digest pinned in the catalog. */
  pinned: boolean;
  files: Record<string, InstalledFile>;
  installedAt: string;
}

export interface ModelStatus {
  entry: CatalogEntry;
  installed: boolean;
  dir: string;
  manifest?: InstallManifest;
}

export interface PullEvent {
  phase: 'waiting' | 'download' | 'verify' | 'extract' | 'install' | 'done' | 'cached';
  name: string;
  progress?: DownloadProgress;
  owner?: LockOwner;
}

export interface PullOptions {
  force?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: PullEvent) => void;
  /** Passed to the downloader (tests use small values). */
  retries?: number;
  retryDelayMs?: number;
  stallTimeoutMs?: number;
  lockTimeoutMs?: number;
}

export interface VerifyResult {
  name: string;
  ok: boolean;
  problems: string[];
}

export class ModelError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ModelError';
    this.code = code;
  }
}

export class ModelManager {
  readonly modelsDir: string;
  readonly catalog: Catalog;

  constructor(opts: { modelsDir?: string; catalog?: Catalog } = {}) {
    this.modelsDir = opts.modelsDir ?? defaultModelsDir();
    this.catalog = opts.catalog ?? loadCatalog();
  }

  dir(name: string): string {
    return modelDir(this.modelsDir, name);
  }

  readManifest(name: string): InstallManifest | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dir(name), MANIFEST_FILE), 'utf8')) as InstallManifest;
    } catch {
      return undefined;
    }
  }

  isInstalled(name: string): boolean {
    return this.readManifest(name) !== undefined;
  }

  list(): ModelStatus[] {
    return this.catalog.models.map((entry) => {
      const manifest = this.readManifest(entry.name);
      return { entry, installed: !!manifest, dir: this.dir(entry.name), manifest };
    });
  }

  /** Absolute paths of an installed model's sherpa files (role → path). Throws a one-line fix if missing. */
  files(name: string): Record<string, string> {
    const entry = getModel(name, this.catalog);
    if (!this.isInstalled(name)) {
      throw new ModelError('not_installed', `model "${name}" is not installed in ${this.modelsDir}; run: cochlea models pull ${name}`);
    }
    const out: Record<string, string> = {};
    for (const [role, f] of Object.entries(entry.sherpa.files)) out[role] = path.join(this.dir(name), f);
    return out;
  }

  async pull(name: string, opts: PullOptions = {}): Promise<ModelStatus> {
    const entry = getModel(name, this.catalog);
    const emit = (e: Omit<PullEvent, 'name'>) => opts.onEvent?.({ name, ...e });
    await fsp.mkdir(this.modelsDir, { recursive: true });
    const release = await acquireLock(path.join(lockDir(this.modelsDir), `${name}.lock`), {
      signal: opts.signal,
      timeoutMs: opts.lockTimeoutMs,
      onWait: (owner) => emit({ phase: 'waiting', owner }),
    });
    try {
      if (!opts.force && this.isInstalled(name)) {
        emit({ phase: 'cached' });
        return this.status(entry);
      }
      await fsp.mkdir(partialDir(this.modelsDir), { recursive: true });
      const fileName = path.basename(new URL(entry.url).pathname) || `${name}.download`;
      const partial = path.join(partialDir(this.modelsDir), `${name}--${fileName}`);
      const dl = await download(entry.url, partial, {
        sha256: entry.sha256,
        size: entry.sizeBytes,
        signal: opts.signal,
        retries: opts.retries,
        retryDelayMs: opts.retryDelayMs,
        stallTimeoutMs: opts.stallTimeoutMs,
        onProgress: (progress) => emit({ phase: 'download', progress }),
      });
      emit({ phase: 'verify' });

      await fsp.mkdir(tmpDir(this.modelsDir), { recursive: true });
      const staging = await fsp.mkdtemp(path.join(tmpDir(this.modelsDir), `${name}-`));
      try {
        let root: string;
        if (entry.archive === 'tar.bz2') {
          emit({ phase: 'extract' });
          try {
            await extractTarBz2(dl.path, staging, opts.signal);
          } catch (err) {
            // The bytes are bad (or unsafe): do not keep them for a resume.
            if (err instanceof ArchiveError && err.code !== 'tool_missing') await removePartial(dl.path);
            throw err;
          }
          root = await this.findRoot(entry, staging);
        } else {
          root = path.join(staging, 'model');
          await fsp.mkdir(root);
          const only = Object.values(entry.sherpa.files)[0];
          await fsp.rename(dl.path, path.join(root, only));
        }
        emit({ phase: 'install' });
        const files: Record<string, InstalledFile> = {};
        for (const [role, rel] of Object.entries(entry.sherpa.files)) {
          const p = path.join(root, rel);
          let st: fs.Stats;
          try {
            st = await fsp.stat(p);
          } catch {
            if (entry.archive === 'tar.bz2') await removePartial(dl.path);
            throw new ModelError('layout', `bundle ${name} has no ${rel} (needed as ${role}); the catalog entry does not match the published archive`);
          }
          if (!st.isFile()) throw new ModelError('layout', `bundle ${name}: ${rel} is not a regular file`);
          files[rel] = { size: st.size, sha256: await sha256File(p) };
        }
        const manifest: InstallManifest = {
          name,
          url: entry.url,
          downloadSha256: dl.sha256,
          pinned: !!entry.sha256,
          files,
          installedAt: new Date().toISOString(),
        };
        await fsp.writeFile(path.join(root, MANIFEST_FILE), JSON.stringify(manifest, null, 2));
        const target = this.dir(name);
        if (fs.existsSync(target)) {
          // --force (or a stray directory without manifest): move the old copy aside first.
          const trash = path.join(tmpDir(this.modelsDir), `${name}-old-${crypto.randomUUID()}`);
          await fsp.rename(target, trash);
          await fsp.rm(trash, { recursive: true, force: true });
        }
        await fsp.rename(root, target);
        await removePartial(dl.path);
        emit({ phase: 'done' });
        return this.status(entry);
      } finally {
        await fsp.rm(staging, { recursive: true, force: true });
      }
    } catch (err) {
      if (err instanceof ChecksumError) throw new ModelError('checksum_mismatch', `${name}: ${err.message}`);
      throw err;
    } finally {
      await release();
    }
  }

  private async findRoot(entry: CatalogEntry, staging: string): Promise<string> {
    const want = entry.archiveRoot ?? path.basename(new URL(entry.url).pathname).replace(/\.tar\.bz2$/, '');
    if (fs.existsSync(path.join(staging, want))) return path.join(staging, want);
    const top = (await fsp.readdir(staging, { withFileTypes: true })).filter((d) => d.name !== MANIFEST_FILE);
    if (top.length === 1 && top[0].isDirectory()) return path.join(staging, top[0].name);
    return staging;
  }

  private status(entry: CatalogEntry): ModelStatus {
    const manifest = this.readManifest(entry.name);
    return { entry, installed: !!manifest, dir: this.dir(entry.name), manifest };
  }

  /** Re-hash installed files against the manifest (and the catalog's pinned digest for single files). */
  async verify(name?: string): Promise<VerifyResult[]> {
    const names = name ? [getModel(name, this.catalog).name] : this.list().filter((s) => s.installed).map((s) => s.entry.name);
    const results: VerifyResult[] = [];
    for (const n of names) {
      const problems: string[] = [];
      const manifest = this.readManifest(n);
      const entry = getModel(n, this.catalog);
      if (!manifest) {
        results.push({ name: n, ok: false, problems: [`not installed (run: cochlea models pull ${n})`] });
        continue;
      }
      if (manifest.url !== entry.url) problems.push(`installed from ${manifest.url}, catalog now says ${entry.url} (run: cochlea models pull --force ${n})`);
      for (const [rel, want] of Object.entries(manifest.files)) {
        const p = path.join(this.dir(n), rel);
        try {
          const st = await fsp.stat(p);
          if (st.size !== want.size) {
            problems.push(`${rel}: size ${st.size}, expected ${want.size}`);
            continue;
          }
          const got = await sha256File(p);
          if (got !== want.sha256) problems.push(`${rel}: sha256 ${got}, expected ${want.sha256}`);
          if (entry.archive === 'none' && entry.sha256 && got !== entry.sha256) problems.push(`${rel}: sha256 does not match the catalog's pinned digest`);
        } catch {
          problems.push(`${rel}: missing`);
        }
      }
      for (const rel of Object.values(entry.sherpa.files)) {
        if (!manifest.files[rel]) problems.push(`${rel}: not in the install manifest (catalog changed; run: cochlea models pull --force ${n})`);
      }
      results.push({ name: n, ok: problems.length === 0, problems });
    }
    return results;
  }

  async remove(name: string): Promise<boolean> {
    getModel(name, this.catalog);
    const release = await acquireLock(path.join(lockDir(this.modelsDir), `${name}.lock`));
    try {
      const target = this.dir(name);
      const partials = fs.existsSync(partialDir(this.modelsDir))
        ? (await fsp.readdir(partialDir(this.modelsDir))).filter((f) => f.startsWith(`${name}--`))
        : [];
      for (const f of partials) await fsp.rm(path.join(partialDir(this.modelsDir), f), { force: true });
      if (!fs.existsSync(target)) return partials.length > 0;
      await fsp.mkdir(tmpDir(this.modelsDir), { recursive: true });
      const trash = path.join(tmpDir(this.modelsDir), `${name}-rm-${crypto.randomUUID()}`);
      await fsp.rename(target, trash);
      await fsp.rm(trash, { recursive: true, force: true });
      return true;
    } finally {
      await release();
    }
  }
}
