/**
 * Pull-based byte reader over a Uint8Array or a Readable: peek at the head for format detection,
 * read/skip header fields, then stream the rest in chunks. Only what is asked for is buffered.
 */
import type { Readable } from 'node:stream';
import { AudioDecodeError, INVALID_FORMAT_MESSAGE, type AudioInput } from './types.ts';

/** Chunk size used when slicing an in-memory body (views, no copies). */
const SLICE = 64 * 1024;

export class ByteReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private eof = false;
  private it: AsyncIterator<unknown> | null;
  private readonly source: Readable | null;
  /** A read was abandoned (timeout/abort) while still pending. */
  private abandoned = false;
  /** Bytes consumed (read or skipped) so far. */
  position = 0;
  /** Total size when known (in-memory input). */
  readonly knownSize: number | undefined;
  private history: Uint8Array[] | null = null;
  private historyLen = 0;

  constructor(
    input: AudioInput,
    private readonly signal?: AbortSignal,
    /** Fail with code 'timeout' when a Readable delivers nothing for this long. */
    private readonly stallTimeoutMs = Infinity,
  ) {
    if (input instanceof Uint8Array) {
      this.knownSize = input.length;
      if (input.length) this.chunks.push(input);
      this.buffered = input.length;
      this.eof = true;
      this.it = null;
      this.source = null;
    } else {
      this.knownSize = undefined;
      // Leave the caller's stream alive when we stop early, so it can drain the rest.
      this.it = input.iterator({ destroyOnReturn: false })[Symbol.asyncIterator]();
      this.source = input;
    }
  }

  get isEof(): boolean {
    return this.eof && this.buffered === 0;
  }

  /** True when the input is known to end within the next `n` bytes (after a peek of n). */
  isEofAfter(n: number): boolean {
    return this.eof && this.buffered <= n;
  }

  get available(): number {
    return this.buffered;
  }

  private checkAbort(): void {
    if (this.signal?.aborted) throw abortError(this.signal);
  }

  private async pull(): Promise<boolean> {
    if (this.eof || !this.it) return false;
    this.checkAbort();
    let r: IteratorResult<unknown>;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      // Race the read against abort/timeout so a stalled upload cannot hang the decode.
      const waits: Promise<never>[] = [];
      if (this.signal) {
        const sig = this.signal;
        waits.push(
          new Promise<never>((_, reject) => {
            onAbort = () => reject(abortError(sig));
            sig.addEventListener('abort', onAbort, { once: true });
          }),
        );
      }
      if (Number.isFinite(this.stallTimeoutMs)) {
        const ms = this.stallTimeoutMs;
        waits.push(
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new AudioDecodeError('timeout', `No audio data arrived for ${ms / 1000} s`)),
              ms,
            );
          }),
        );
      }
      r = waits.length ? await Promise.race([this.it.next(), ...waits]) : await this.it.next();
    } catch (err) {
      this.eof = true;
      this.abandoned = true;
      if (err instanceof AudioDecodeError) throw err;
      throw new AudioDecodeError('aborted', `Reading the audio failed: ${(err as Error)?.message ?? err}`);
    } finally {
      if (timer) clearTimeout(timer);
      if (onAbort) this.signal?.removeEventListener('abort', onAbort);
    }
    this.checkAbort();
    if (r.done) {
      this.eof = true;
      return false;
    }
    const v = r.value;
    let c: Uint8Array;
    if (typeof v === 'string') c = Buffer.from(v, 'latin1');
    else if (v instanceof Uint8Array) c = v;
    else throw new AudioDecodeError('invalid_format', INVALID_FORMAT_MESSAGE);
    if (c.length) {
      this.chunks.push(c);
      this.buffered += c.length;
    }
    return true;
  }

  /** Buffer at least `n` bytes (fewer only at end of input). Returns bytes buffered. */
  async fill(n: number): Promise<number> {
    while (this.buffered < n && (await this.pull()));
    return this.buffered;
  }

  /** The next `n` bytes (fewer at end of input) without consuming them. */
  async peek(n: number): Promise<Uint8Array> {
    await this.fill(n);
    return this.head(Math.min(n, this.buffered));
  }

  private head(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.chunks) {
      const k = Math.min(c.length, n - o);
      out.set(c.subarray(0, k), o);
      o += k;
      if (o === n) break;
    }
    // Coalesce so repeated peeks are cheap.
    let rest = this.buffered - n;
    const tail: Uint8Array[] = [];
    for (let i = this.chunks.length - 1; i >= 0 && rest > 0; i--) {
      const c = this.chunks[i];
      if (c.length <= rest) {
        tail.unshift(c);
        rest -= c.length;
      } else {
        tail.unshift(c.subarray(c.length - rest));
        rest = 0;
      }
    }
    this.chunks = [out, ...tail];
    return out;
  }

  /** Consume exactly `n` bytes (fewer at end of input). */
  async read(n: number): Promise<Uint8Array> {
    const b = await this.peek(n);
    this.consume(b.length);
    return b;
  }

  /** Skip `n` bytes; returns how many were skipped (fewer at end of input). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.pull())) break;
      const k = Math.min(left, this.buffered);
      this.consume(k);
      left -= k;
    }
    return n - left;
  }

  private consume(n: number): void {
    this.position += n;
    this.buffered -= n;
    while (n > 0) {
      const c = this.chunks[0];
      if (c.length <= n) {
        this.record(c);
        this.chunks.shift();
        n -= c.length;
      } else {
        this.record(c.subarray(0, n));
        this.chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }

  /** Keep consumed bytes (up to `limit`) so they can be replayed, e.g. to hand a header to ffmpeg. */
  startHistory(): void {
    this.history = [];
    this.historyLen = 0;
  }

  private record(c: Uint8Array): void {
    if (!this.history) return;
    this.history.push(c);
    this.historyLen += c.length;
    if (this.historyLen > 4 * 1024 * 1024) this.history = null; // too much to replay; give up
  }

  /** Consumed bytes since startHistory(), or null if too many to keep. Stops recording. */
  takeHistory(): Uint8Array[] | null {
    const h = this.history;
    this.history = null;
    return h;
  }

  /** The rest of the input as chunks (buffered bytes first). Chunks of in-memory input are views. */
  async *rest(): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (this.chunks.length) {
        const c = this.chunks[0];
        const k = Math.min(c.length, SLICE);
        const piece = c.subarray(0, k);
        this.consume(k);
        this.checkAbort();
        yield piece;
      }
      if (!(await this.pull())) return;
    }
  }

  /**
   * Stop reading. A Readable source is left open (the caller may drain it) unless a read was
   * abandoned by a timeout/abort, in which case it is destroyed: it would never settle otherwise.
   */
  async close(): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    this.eof = true;
    const it = this.it;
    this.it = null;
    if (!it) return;
    if (this.abandoned) {
      this.source?.destroy();
      it.return?.(undefined).catch(() => {});
      return;
    }
    try {
      await it.return?.(undefined);
    } catch {
      /* ignore */
    }
  }
}

export function abortError(signal: AbortSignal): AudioDecodeError {
  const r: unknown = signal.reason;
  return r instanceof AudioDecodeError ? r : new AudioDecodeError('aborted', 'Audio decoding was aborted');
}
