/**
 * Resumable HTTP(S) download with sha256, progress and stall detection.
 *
 * A download writes `<dest>` plus `<dest>.json` (URL, validators, expected length). When a pull is
 * interrupted (cut connection, Ctrl-C, crash), the next attempt sends `Range: bytes=<have>-` with
 * `If-Range` (ETag or Last-Modified) and appends on `206 Partial Content`; a `200` (server ignored
 * the range or the resource changed) restarts from zero. The sha256 is computed over the complete
 * file once it is all on disk, so it covers resumed bytes exactly like fresh ones. Transient failures are retried with
 * backoff, resuming each time. Uses Node's built-in fetch (undici), which follows the redirects
 * GitHub release downloads use.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { Readable } from 'node:stream';

export interface DownloadProgress {
  received: number;
  /** Total bytes when the server said (Content-Length / Content-Range); undefined otherwise. */
  total?: number;
  /** Bytes that were already on disk when this attempt resumed. */
  resumedFrom: number;
}

export interface DownloadOptions {
  /** Expected sha256 (lowercase hex). Mismatch → ChecksumError and the partial file is deleted. */
  sha256?: string | null;
  /** Expected size in bytes, if known. */
  size?: number;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Attempts after the first failure (each one resumes). Default 4. */
  retries?: number;
  /** Abort an attempt that receives no bytes for this long. Default 30 s. */
  stallTimeoutMs?: number;
  /** First retry delay; doubles each time. Default 500 ms. */
  retryDelayMs?: number;
  /** Refuse downloads larger than this (bytes). Default 8 GiB. */
  maxBytes?: number;
  fetch?: typeof fetch;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** How many attempts resumed a partial file. */
  resumes: number;
}

export class DownloadError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'DownloadError';
    this.code = code;
  }
}

export class ChecksumError extends DownloadError {
  readonly expected: string;
  readonly actual: string;
  constructor(file: string, expected: string, actual: string) {
    super('checksum_mismatch', `sha256 mismatch for ${file}: expected ${expected}, got ${actual}; the download was deleted`);
    this.name = 'ChecksumError';
    this.expected = expected;
    this.actual = actual;
  }
}

interface PartialMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  total?: number;
}

async function readMeta(file: string): Promise<PartialMeta | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as PartialMeta;
  } catch {
    return undefined;
  }
}

async function hashExisting(file: string, hash: Hash, length: number): Promise<void> {
  if (length === 0) return;
  const rs = fs.createReadStream(file, { start: 0, end: length - 1 });
  for await (const chunk of rs) hash.update(chunk as Buffer);
}

async function sizeOf(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).size;
  } catch {
    return 0;
  }
}

export async function removePartial(dest: string): Promise<void> {
  await fsp.rm(dest, { force: true });
  await fsp.rm(`${dest}.json`, { force: true });
}

/** Download `url` to `dest`, resuming a previous partial download of the same URL. */
export async function download(url: string, dest: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const retries = opts.retries ?? 4;
  const stallMs = opts.stallTimeoutMs ?? 30_000;
  const maxBytes = opts.maxBytes ?? 8 * 1024 ** 3;
  const doFetch = opts.fetch ?? fetch;
  const metaFile = `${dest}.json`;
  let resumes = 0;
  let delay = opts.retryDelayMs ?? 500;
  let lastErr: unknown;

  for (let attempt = 0; attempt <= retries; attempt++) {
    if (opts.signal?.aborted) throw new DownloadError('aborted', `download of ${url} aborted`);
    let have = await sizeOf(dest);
    let meta = await readMeta(metaFile);
    if (have > 0 && (!meta || meta.url !== url)) {
      // A partial file from another URL (catalog changed): start over.
      await removePartial(dest);
      have = 0;
      meta = undefined;
    }
    if (meta?.total !== undefined && have === meta.total) {
      // Complete from an earlier run that stopped before verification.
      return finish(dest, url, have, resumes, opts);
    }
    const headers: Record<string, string> = { 'user-agent': 'cochlea-model-manager', 'accept-encoding': 'identity' };
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      const validator = meta?.etag && !meta.etag.startsWith('W/') ? meta.etag : meta?.lastModified;
      if (validator) headers['if-range'] = validator;
    }

    const ac = new AbortController();
    const onAbort = () => ac.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let stallTimer: NodeJS.Timeout | undefined;
    const armStall = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => ac.abort(new DownloadError('stalled', `no data for ${stallMs} ms`)), stallMs);
    };
    try {
      armStall();
      const res = await doFetch(url, { headers, signal: ac.signal, redirect: 'follow' });
      let append = false;
      let total: number | undefined;
      if (res.status === 206 && have > 0) {
        const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
        if (!cr || Number(cr[1]) !== have) {
          await res.body?.cancel();
          await removePartial(dest);
          throw new DownloadError('bad_range', `server answered an unexpected range (${res.headers.get('content-range')})`);
        }
        append = true;
        total = cr[3] === '*' ? undefined : Number(cr[3]);
        resumes++;
      } else if (res.status === 416 && have > 0) {
        await res.body?.cancel();
        // Nothing left to fetch, or the partial file is longer than the resource: start over.
        const cr = /\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
        if (cr && Number(cr[1]) === have) return finish(dest, url, have, resumes, opts);
        await removePartial(dest);
        throw new DownloadError('bad_range', 'server refused the resume range; restarting');
      } else if (res.status === 200) {
        const len = res.headers.get('content-length');
        total = len !== null && /^\d+$/.test(len) ? Number(len) : undefined;
        have = 0;
      } else {
        await res.body?.cancel();
        const code = res.status >= 500 || res.status === 429 ? 'http_retry' : 'http_error';
        throw new DownloadError(code, `GET ${url}: HTTP ${res.status} ${res.statusText}`);
      }
      if (total !== undefined && total > maxBytes) {
        await res.body?.cancel();
        throw new DownloadError('too_large', `${url} is ${total} bytes, over the ${maxBytes}-byte limit`);
      }
      if (opts.size !== undefined && total !== undefined && total !== opts.size) {
        await res.body?.cancel();
        throw new DownloadError('size_mismatch', `${url}: server reports ${total} bytes, catalog says ${opts.size}`);
      }
      const newMeta: PartialMeta = {
        url,
        etag: res.headers.get('etag') ?? meta?.etag ?? undefined,
        lastModified: res.headers.get('last-modified') ?? meta?.lastModified ?? undefined,
        total,
      };
      await fsp.writeFile(metaFile, JSON.stringify(newMeta));
      if (!res.body) throw new DownloadError('empty', `GET ${url}: no body`);

      const out = fs.createWriteStream(dest, { flags: append ? 'a' : 'w' });
      let received = have;
      const resumedFrom = have;
      opts.onProgress?.({ received, total, resumedFrom });
      try {
        for await (const chunk of Readable.fromWeb(res.body as import('node:stream/web').ReadableStream)) {
          armStall();
          const buf = chunk as Buffer;
          received += buf.length;
          if (received > maxBytes) throw new DownloadError('too_large', `${url} exceeds ${maxBytes} bytes`);
          if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', r));
          opts.onProgress?.({ received, total, resumedFrom });
        }
      } finally {
        await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      }
      if (total !== undefined && received !== total) {
        throw new DownloadError('short_read', `connection closed after ${received} of ${total} bytes`);
      }
      if (total === undefined) await fsp.writeFile(metaFile, JSON.stringify({ ...newMeta, total: received }));
      return await finish(dest, url, received, resumes, opts);
    } catch (err) {
      lastErr = err instanceof DownloadError ? err : ac.signal.reason instanceof DownloadError ? ac.signal.reason : err;
      if (opts.signal?.aborted) throw new DownloadError('aborted', `download of ${url} aborted`);
      const code = lastErr instanceof DownloadError ? lastErr.code : 'network';
      if (['http_error', 'too_large', 'size_mismatch', 'checksum_mismatch'].includes(code)) throw lastErr;
      if (attempt < retries) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    } finally {
      clearTimeout(stallTimer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
  const msg = lastErr instanceof Error ? lastErr.message : String(lastErr);
  throw new DownloadError('failed', `download of ${url} failed after ${retries + 1} attempts (partial kept for resume): ${msg}`);
}

async function finish(dest: string, url: string, bytes: number, resumes: number, opts: DownloadOptions): Promise<DownloadResult> {
  const hash = createHash('sha256');
  await hashExisting(dest, hash, bytes);
  const sha256 = hash.digest('hex');
  if (opts.sha256 && opts.sha256 !== sha256) {
    await removePartial(dest);
    throw new ChecksumError(url, opts.sha256, sha256);
  }
  return { path: dest, bytes, sha256, resumes };
}

/** sha256 of a whole file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
