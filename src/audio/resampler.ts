/**
 * Band-limited sample-rate conversion to 16 kHz with libsamplerate (Erik de Castro Lopo's Secret
 * Rabbit Code, compiled by emscripten in `@alexanderolsen/libsamplerate-js`; the package ships it as
 * wasm2js plain JavaScript, not a .wasm module, hence the speeds below).
 *
 * Converter choice: SRC_SINC_MEDIUM_QUALITY — windowed-sinc, 97 dB SNR, 90 % pass band (flat to
 * 7.2 kHz of the 8 kHz output Nyquist, which covers the whole band ASR front-ends use).
 * Measured here (one core, mono, 20 ms blocks → 16 kHz; bench/audio.ts reports the live numbers):
 *   SINC_BEST     16–21× RT from 44.1/48 kHz,  45–57× from 8 kHz   (97 % band, ~4× slower than MEDIUM)
 *   SINC_MEDIUM   64–72× RT from 44.1/48 kHz, 170–195× from 8 kHz
 *   SINC_FASTEST 130–170× RT from 44.1/48 kHz, 340–410× from 8 kHz  (80 % band: flat only to 6.4 kHz)
 * FASTEST would cut the 6.4–8 kHz band that fricatives (s, f, th) live in; BEST buys 7 % more
 * band for 3–4× the CPU. MEDIUM keeps the full speech band at ~1.5 % of a core per real-time
 * 48 kHz stream. Containers decoded by ffmpeg are resampled inside ffmpeg (soxr) instead.
 *
 * Streaming: the converter state (filter history, fractional phase) lives across calls, so chunk
 * boundaries cause no clicks and lose nothing. Input is fed to libsamplerate in fixed blocks (20 ms
 * for live streams, 250 ms for batch) regardless of how callers chunk it, which makes the output
 * bit-identical for any chunking.
 * At the end the filter tail is pushed out with zeros and the output trimmed to exactly
 * round(inputFrames × 16000 / inputRate) samples.
 *
 * libsamplerate-js instantiates one JS heap per converter (~26 MB of mostly untouched
 * ArrayBuffer; ~12 ms to create), and its `create()` is async. Converters are therefore pooled:
 * a few are created at import, reset with a new rate when taken (synchronous), and returned to
 * the pool when a stream ends.
 */
import lsr from '@alexanderolsen/libsamplerate-js';
import { TARGET_SAMPLE_RATE } from './types.ts';
import { concatFloat32 } from '../util/pcm.ts';

type Src = Awaited<ReturnType<typeof lsr.create>>;

export const RESAMPLER_CONVERTER = lsr.ConverterType.SRC_SINC_MEDIUM_QUALITY;
export const RESAMPLER_NAME = 'libsamplerate SRC_SINC_MEDIUM_QUALITY';

/** Idle converters kept for reuse. */
export const RESAMPLER_POOL_SIZE = 2;
const idle: Src[] = [];
let refilling = 0;

async function createSrc(inRate: number): Promise<Src> {
  const s = await lsr.create(1, inRate, TARGET_SAMPLE_RATE, { converterType: RESAMPLER_CONVERTER });
  return s;
}

function refill(): void {
  while (idle.length + refilling < RESAMPLER_POOL_SIZE) {
    refilling++;
    createSrc(48000)
      .then((s) => {
        if (idle.length < RESAMPLER_POOL_SIZE) idle.push(s);
        else s.destroy();
      })
      .catch(() => {})
      .finally(() => {
        refilling--;
      });
  }
}

function reset(s: Src, inRate: number): Src {
  // The setter destroys the old SRC_STATE and builds a fresh one for this rate (clears history).
  s.inputSampleRate = inRate;
  s.ratio = TARGET_SAMPLE_RATE / inRate;
  return s;
}

/** A converter for `inRate`, synchronously from the pool, or null if the pool is empty. */
function takeSync(inRate: number): Src | null {
  const s = idle.pop();
  refill();
  return s ? reset(s, inRate) : null;
}

async function take(inRate: number): Promise<Src> {
  return takeSync(inRate) ?? (await createSrc(inRate));
}

function giveBack(s: Src): void {
  if (idle.length < RESAMPLER_POOL_SIZE) idle.push(s);
  else s.destroy();
}

// Warm the pool at import so the first real-time sessions get a converter synchronously.
idle.push(await createSrc(48000));
refill();


const EMPTY = new Float32Array(0);

/** Stateful mono resampler `inRate` → 16 kHz. */
export class StreamResampler {
  readonly ready: Promise<void>;
  private src: Src | null = null;
  private readonly passthrough: boolean;
  private readonly block: Float32Array;
  private blockLen = 0;
  /** Input that arrived before the converter was ready. */
  private early: Float32Array[] = [];
  private totalIn = 0;
  private totalOut = 0;
  private finished = false;

  /**
   * @param blockSeconds input fed to libsamplerate per call: 20 ms for live streams (latency),
   *   larger for batch decoding (fewer calls; ~25 % faster at 0.25 s).
   */
  constructor(
    readonly inRate: number,
    blockSeconds = 0.02,
  ) {
    this.passthrough = inRate === TARGET_SAMPLE_RATE;
    this.block = new Float32Array(this.passthrough ? 0 : Math.max(64, Math.round(inRate * blockSeconds)));
    if (this.passthrough) {
      this.ready = Promise.resolve();
      return;
    }
    this.src = takeSync(inRate);
    if (this.src) {
      this.ready = Promise.resolve();
    } else {
      this.ready = take(inRate).then((s) => {
        if (this.finished) giveBack(s);
        else this.src = s;
      });
    }
  }

  get isReady(): boolean {
    return this.passthrough || this.src !== null;
  }

  /** Input frames accepted so far. */
  get inputFrames(): number {
    return this.totalIn;
  }

  /** Resample a chunk; returns the output it completes. */
  process(x: Float32Array): Float32Array {
    if (this.finished) throw new Error('StreamResampler used after flush()');
    this.totalIn += x.length;
    if (this.passthrough) {
      this.totalOut += x.length;
      return x;
    }
    if (!this.src) {
      if (x.length) this.early.push(x.slice());
      return EMPTY;
    }
    const parts: Float32Array[] = [];
    let total = 0;
    const run = (y: Float32Array): void => {
      let i = 0;
      const B = this.block.length;
      while (i < y.length) {
        const n = Math.min(B - this.blockLen, y.length - i);
        this.block.set(y.subarray(i, i + n), this.blockLen);
        this.blockLen += n;
        i += n;
        if (this.blockLen === B) {
          const out = this.src!.full(this.block);
          this.blockLen = 0;
          if (out.length) {
            parts.push(out);
            total += out.length;
          }
        }
      }
    };
    if (this.early.length) {
      const e = this.early;
      this.early = [];
      for (const y of e) run(y);
    }
    run(x);
    this.totalOut += total;
    return total === 0 ? EMPTY : concatFloat32(parts, total);
  }

  /**
   * End of input: returns the rest, so that the whole stream yields exactly
   * round(inputFrames × 16000 / inRate) samples. Returns the converter to the pool.
   * Throws if the converter never became ready (only possible when flushing in the same
   * synchronous run that created more streams than the pool holds; `await ready` first).
   */
  flush(): Float32Array {
    if (this.finished) return EMPTY;
    if (this.passthrough) {
      this.finished = true;
      return EMPTY;
    }
    if (!this.src) throw new Error('resampler not ready: await .ready before flush()');
    const expected = Math.round((this.totalIn * TARGET_SAMPLE_RATE) / this.inRate);
    const parts: Float32Array[] = [];
    let total = 0;
    if (this.early.length) {
      const o = this.process(EMPTY);
      if (o.length) {
        parts.push(o);
        total += o.length;
      }
    }
    const src = this.src;
    // Feed the partial block, then silence until the filter has delivered everything.
    const tail = this.block.subarray(0, this.blockLen);
    let produced = this.totalOut;
    if (tail.length) {
      const o = src.full(tail.slice());
      if (o.length) {
        parts.push(o);
        total += o.length;
        produced += o.length;
      }
    }
    this.blockLen = 0;
    const zeros = new Float32Array(this.block.length);
    for (let guard = 0; produced < expected && guard < 256; guard++) {
      const o = src.full(zeros);
      if (o.length) {
        parts.push(o);
        total += o.length;
        produced += o.length;
      }
    }
    let out = total === 0 ? EMPTY : concatFloat32(parts, total);
    const keep = out.length - Math.max(0, produced - expected);
    if (keep < out.length) out = out.subarray(0, Math.max(0, keep));
    this.totalOut = Math.min(produced, expected);
    this.finished = true;
    this.src = null;
    giveBack(src);
    return out;
  }

  /** Abandon the stream (no flush) and return the converter to the pool. */
  release(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.src) giveBack(this.src);
    this.src = null;
  }
}

/** Expected output length for `frames` input frames at `inRate`. */
export function outputLength(frames: number, inRate: number): number {
  return Math.round((frames * TARGET_SAMPLE_RATE) / inRate);
}
