/**
 * Collects decoded 16 kHz PCM with bounded overhead and enforces the duration limit while
 * decoding (so a too-long upload is refused as soon as the limit is crossed, not after decoding
 * it all).
 *
 * When the final length is known up front (WAV/raw bodies of known size, or a streamed WAV with a
 * declared data size) the output is allocated once at its exact size: peak memory is the PCM
 * itself. Otherwise (ffmpeg output, whose length is only known at the end) it is collected in
 * 4 MiB blocks and joined at the end: one transient copy. The returned array always owns its whole
 * ArrayBuffer, so it can be transferred to a worker without copying.
 */
import { AudioDecodeError, TARGET_SAMPLE_RATE } from './types.ts';
import { sanitize } from './pcm.ts';

const BLOCK = 1 << 20; // samples (4 MiB)

export class PcmSink {
  private exact: Float32Array | null = null;
  private blocks: Float32Array[] = [];
  private cur: Float32Array | null = null;
  private curLen = 0;
  length = 0;
  private readonly maxSamples: number;

  constructor(
    readonly maxDurationSeconds: number | undefined,
    expectedSamples?: number,
  ) {
    this.maxSamples =
      maxDurationSeconds !== undefined && Number.isFinite(maxDurationSeconds)
        ? Math.floor(maxDurationSeconds * TARGET_SAMPLE_RATE)
        : Infinity;
    if (expectedSamples !== undefined && expectedSamples > 0 && expectedSamples <= this.maxSamples) {
      this.exact = new Float32Array(expectedSamples);
    }
  }

  get seconds(): number {
    return this.length / TARGET_SAMPLE_RATE;
  }

  tooLongError(): AudioDecodeError {
    return new AudioDecodeError(
      'too_long',
      `Audio is longer than the maximum of ${this.maxDurationSeconds} seconds`,
    );
  }

  /** Throws AudioDecodeError('too_long') as soon as the limit is exceeded. */
  write(x: Float32Array): void {
    if (x.length === 0) return;
    if (this.length + x.length > this.maxSamples) throw this.tooLongError();
    sanitize(x);
    if (this.exact) {
      if (this.length + x.length <= this.exact.length) {
        this.exact.set(x, this.length);
        this.length += x.length;
        return;
      }
      // More than announced (e.g. a header that lied): fall back to blocks.
      const head = this.exact.subarray(0, this.length);
      this.exact = null;
      const n = this.length;
      this.length = 0;
      this.blocks = [];
      this.cur = null;
      this.curLen = 0;
      this.append(head);
      this.length = n;
    }
    this.append(x);
    this.length += x.length;
  }

  private append(x: Float32Array): void {
    let i = 0;
    while (i < x.length) {
      if (!this.cur || this.curLen === this.cur.length) {
        if (this.cur) this.blocks.push(this.cur);
        this.cur = new Float32Array(BLOCK);
        this.curLen = 0;
      }
      const n = Math.min(this.cur.length - this.curLen, x.length - i);
      this.cur.set(x.subarray(i, i + n), this.curLen);
      this.curLen += n;
      i += n;
    }
  }

  /** The collected PCM (exact length). The sink must not be used afterwards. */
  finish(): Float32Array {
    if (this.exact) {
      const e = this.exact;
      this.exact = null;
      // Always hand out a Float32Array that owns its whole buffer (transferable to a worker,
      // and structured-clone copies no hidden tail): a shorter body than announced costs a copy.
      return this.length === e.length ? e : e.slice(0, this.length);
    }
    const out = new Float32Array(this.length);
    let o = 0;
    const blocks = this.blocks;
    this.blocks = [];
    for (let b = 0; b < blocks.length; b++) {
      out.set(blocks[b], o);
      o += blocks[b].length;
      blocks[b] = EMPTY;
    }
    if (this.cur) out.set(this.cur.subarray(0, this.curLen), o);
    this.cur = null;
    return out;
  }
}

const EMPTY = new Float32Array(0);
