/**
 * Collects decoded 16 kHz PCM with bounded overhead and enforces the duration limit and the
 * in-flight audio budget while decoding (so a too-long upload is refused as soon as the limit is
 * crossed, not after decoding it all).
 *
 * When the final length is known up front (WAV/raw bodies of known size, or a streamed WAV with a
 * declared data size) the output is allocated once at its exact size: peak memory is the PCM
 * itself. Otherwise (ffmpeg output, whose length is only known at the end) it is collected in
 * 4 MiB Float32 blocks joined at the end, each block freed as soon as it is copied: peak memory is
 * about the final PCM plus one block, where it used to be twice the PCM. Samples are stored as
 * decoded on every path (no 16-bit rounding), so one audio gives bit-identical PCM, and the same
 * transcript, whether it arrives as raw bytes or in a container, with or without a known length.
 * When the container declares its duration (ffmpeg's "Duration:", FLAC STREAMINFO; see declare())
 * the output is allocated once at that length too. The returned array owns its ArrayBuffer up to
 * at most ~2 s of never-written tail.
 */
import { AudioDecodeError, TARGET_SAMPLE_RATE } from './types.ts';
import { sanitize } from './pcm.ts';
import { BudgetHold, type AudioBudget } from './budget.ts';

const BLOCK = 1 << 20; // samples (4 MiB, ~65 s)
/** Largest output allocated up front from a declared duration (5 h of samples). */
const MAX_DECLARED_ALLOC = 5 * 3600 * TARGET_SAMPLE_RATE;

export class PcmSink {
  private exact: Float32Array | null = null;
  private blocks: Float32Array[] = [];
  private cur: Float32Array | null = null;
  private curLen = 0;
  length = 0;
  private readonly maxSamples: number;
  /** This decode's share of the in-flight audio budget. */
  readonly hold: BudgetHold;

  constructor(
    readonly maxDurationSeconds: number | undefined,
    expectedSamples?: number,
    budget?: AudioBudget,
  ) {
    this.maxSamples =
      maxDurationSeconds !== undefined && Number.isFinite(maxDurationSeconds)
        ? Math.floor(maxDurationSeconds * TARGET_SAMPLE_RATE)
        : Infinity;
    this.hold = new BudgetHold(budget);
    if (expectedSamples !== undefined && expectedSamples > 0 && expectedSamples <= this.maxSamples) {
      // Known (or declared) length: refuse now if it cannot fit; allocate once. The allocation is
      // committed by the OS page by page as it is written, so the reservation follows the writes.
      this.declare(expectedSamples / TARGET_SAMPLE_RATE);
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

  /**
   * A duration the container declares (ffmpeg's "Duration:", FLAC STREAMINFO): refuse now when it
   * is over the limit, or when it cannot fit in the budget at the moment (503, retry later).
   * Nothing is reserved for it: a header may lie, the reservation follows the real output.
   */
  declare(seconds: number): void {
    if (!(seconds > 0) || !Number.isFinite(seconds)) return;
    if (seconds * TARGET_SAMPLE_RATE > this.maxSamples + TARGET_SAMPLE_RATE) throw this.tooLongError();
    const b = this.hold.budgetRef;
    if (b && !b.fits(Math.max(0, seconds - this.hold.seconds))) {
      b.refused++;
      throw b.busyError();
    }
    if (!this.exact && this.length === 0 && this.blocks.length === 0 && !this.cur) {
      // Allocate the output once at the declared length (+1 s for resampler rounding): pages are
      // committed only as they are written, so a header that overstates costs address space, not
      // memory, and an honest one saves the final join (peak = the PCM itself).
      const n = Math.min(this.maxSamples, Math.ceil(seconds * TARGET_SAMPLE_RATE) + TARGET_SAMPLE_RATE);
      if (n <= MAX_DECLARED_ALLOC) this.exact = new Float32Array(n);
    }
  }

  /** Throws AudioDecodeError('too_long') as soon as the limit is exceeded, 'server' when the budget is. */
  write(x: Float32Array): void {
    if (x.length === 0) return;
    if (this.length + x.length > this.maxSamples) throw this.tooLongError();
    sanitize(x);
    if (this.exact) {
      if (this.length + x.length <= this.exact.length) {
        this.hold.growTo(Math.min(this.exact.length, Math.ceil((this.length + x.length) / BLOCK) * BLOCK) / TARGET_SAMPLE_RATE);
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
        // Reserve the block before allocating it (blocks count as the Float32 they become).
        // Rounded up to whole blocks, but never beyond the duration limit (a max-length file must fit
        // a budget of the same size).
        const want = Math.max((this.length + x.length) / TARGET_SAMPLE_RATE, ((this.blocks.length + 1) * BLOCK) / TARGET_SAMPLE_RATE);
        this.hold.growTo(Math.min(want, this.maxSamples / TARGET_SAMPLE_RATE));
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
      if (this.length === e.length) return e;
      // Close to the allocation (an honest declared length): a view, no copy; its small unused
      // tail is never written, so it costs no memory. Far from it: copy just the real samples.
      return this.length >= e.length - 2 * TARGET_SAMPLE_RATE ? e.subarray(0, this.length) : e.slice(0, this.length);
    }
    const out = new Float32Array(this.length);
    let o = 0;
    const blocks = this.blocks;
    this.blocks = [];
    if (this.cur) blocks.push(this.cur.subarray(0, this.curLen));
    this.cur = null;
    for (let b = 0; b < blocks.length; b++) {
      out.set(blocks[b], o);
      o += blocks[b].length;
      blocks[b] = EMPTY; // freed as we go: peak ≈ the output plus one block
    }
    return out;
  }
}

const EMPTY = new Float32Array(0);

