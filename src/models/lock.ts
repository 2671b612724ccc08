/**
 * A cross-process lock for one model's install, as an O_EXCL lock file.
 *
 * Written here rather than taken from proper-lockfile because the cache directory is local and we
 * want a precise staleness test: the file records the owner's pid and host, and a lock whose owner
 * process is gone (same host) is taken over at once; a lock from another host (shared/NFS cache) is
 * considered stale when its heartbeat (mtime, refreshed every `staleMs / 3`) is older than `staleMs`.
 * Waiting is a bounded poll (`timeoutMs`), so a stuck owner produces a clear error, not a hang.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface LockOptions {
  staleMs?: number;
  pollMs?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called once if we have to wait for another holder. */
  onWait?: (owner: LockOwner) => void;
}

export interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

export class LockTimeoutError extends Error {
  constructor(file: string, owner: LockOwner | undefined) {
    super(`timed out waiting for ${file}${owner ? ` (held by pid ${owner.pid} on ${owner.host} since ${owner.since})` : ''}`);
    this.name = 'LockTimeoutError';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

export async function acquireLock(file: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const staleMs = opts.staleMs ?? 60_000;
  const pollMs = opts.pollMs ?? 200;
  const deadline = Date.now() + (opts.timeoutMs ?? 60 * 60_000);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const me: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  let waited = false;
  for (;;) {
    if (opts.signal?.aborted) throw new Error(`aborted while waiting for ${file}`);
    try {
      const fh = await fsp.open(file, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      const beat = setInterval(() => {
        const now = new Date();
        fs.utimes(file, now, now, () => {});
      }, Math.max(1000, staleMs / 3));
      beat.unref();
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        clearInterval(beat);
        const owner = await readOwner(file);
        if (owner && owner.pid === me.pid && owner.host === me.host && owner.since === me.since) {
          await fsp.rm(file, { force: true });
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    let stale = false;
    if (owner && owner.host === me.host) {
      stale = !alive(owner.pid);
    } else {
      try {
        stale = Date.now() - (await fsp.stat(file)).mtimeMs > staleMs;
      } catch {
        continue; // vanished: retry at once
      }
    }
    if (stale) {
      // Re-read just before removing so that we never delete a lock a competing waiter has just
      // re-created (the remaining window is the time between two syscalls).
      const again = await readOwner(file);
      if (!owner || (again && again.pid === owner.pid && again.since === owner.since)) await fsp.rm(file, { force: true });
      continue;
    }
    if (!waited && owner) opts.onWait?.(owner);
    waited = true;
    if (Date.now() > deadline) throw new LockTimeoutError(file, owner);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
