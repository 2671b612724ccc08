/**
 * `.tar.bz2` extraction with the system's GNU tar + bzip2 (Debian: `tar`, `bzip2`).
 *
 * Why not an npm library: the pure-JS bzip2 decoders on npm (unbzip2-stream, seek-bzip) are 5-10x
 * slower than bzip2(1) on the 0.3-1 GB bundles sherpa-onnx publishes, and `tar` is on every Linux
 * host Cochlea targets; `bzip2` is one `apt-get install bzip2` away and named in the error.
 * GNU tar already refuses members with `..` and absolute names; on top of that the extracted
 * tree is checked to contain only regular files and directories (no links, devices, FIFOs), so a
 * hostile archive cannot plant anything outside the staging directory.
 */
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';

export class ArchiveError extends Error {
  readonly code: 'corrupt' | 'unsafe' | 'tool_missing' | 'layout';
  constructor(code: ArchiveError['code'], message: string) {
    super(message);
    this.name = 'ArchiveError';
    this.code = code;
  }
}

export async function extractTarBz2(archive: string, destDir: string, signal?: AbortSignal): Promise<void> {
  await fsp.mkdir(destDir, { recursive: true });
  const args = ['-x', '-j', '-f', archive, '-C', destDir, '--no-same-owner', '--no-same-permissions', '--delay-directory-restore'];
  const stderr: string[] = [];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'], signal });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.join('').length < 4000) stderr.push(d);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') reject(new ArchiveError('tool_missing', 'tar not found: install GNU tar and bzip2 (apt-get install tar bzip2)'));
      else reject(err);
    });
    child.on('close', (c) => resolve(c ?? -1));
  });
  if (code !== 0) {
    const msg = stderr.join('').trim();
    if (/bzip2: (Cannot exec|not found)|Cannot exec.*bzip2/i.test(msg)) {
      throw new ArchiveError('tool_missing', 'bzip2 not found: install it (apt-get install bzip2) to unpack .tar.bz2 model bundles');
    }
    throw new ArchiveError('corrupt', `cannot unpack ${path.basename(archive)} (tar exit ${code}): ${msg.split('\n').slice(0, 3).join(' | ') || 'no detail'}`);
  }
  await assertPlainTree(destDir);
}

/** Throw if anything under `dir` is not a regular file or directory. */
export async function assertPlainTree(dir: string): Promise<void> {
  const entries = await fsp.readdir(dir, { withFileTypes: true, recursive: true });
  for (const e of entries) {
    if (!e.isFile() && !e.isDirectory()) {
      const rel = path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
      throw new ArchiveError('unsafe', `archive contains a link or special file (${rel}); refusing to install it`);
    }
  }
}
