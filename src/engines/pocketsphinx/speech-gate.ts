/**
 * Speech onset from frame energy against the session's own noise floor, used by a streaming
 * session that has handed its decoder back between segments (see `streamReleaseDecoders`):
 * the audio is only watched, not decoded, until this says speech may have started.
 *
 * Hand-written on purpose: it has to run on every sample of every open session on the worker
 * thread without a model (Silero VAD is optional in Cochlea and costs an onnxruntime session per
 * stream), and it only has to be *lenient*: a false onset costs a decoder for one idle segment,
 * a missed one loses words. So the rule is simple and errs towards "speech": a 10 ms frame whose
 * energy is `thresholdDb` above the noise floor (minimum statistics: the quietest of the last
 * `floorSeconds` in quarter-second blocks), twice in a row, and above `minDbfs` (digital silence
 * and dither never open it). The caller keeps a pre-roll before the onset, so the decoder also
 * sees the quiet start of a word and the silence before it.
 */
import { FrameSplitter } from '../../util/pcm.ts';

const FRAME = 160; // 10 ms at 16 kHz
const BLOCK_FRAMES = 25; // 0.25 s

export interface SpeechGateOptions {
  thresholdDb: number;
  floorSeconds: number;
  minDbfs: number;
}

export class SpeechGate {
  private readonly frames = new FrameSplitter(FRAME);
  /** Minimum energy (dB) of each recent block, oldest first; the last one is still filling. */
  private blockMins: number[] = [];
  private blockFill = 0;
  private run = 0;
  private readonly maxBlocks: number;

  constructor(private readonly opts: SpeechGateOptions) {
    this.maxBlocks = Math.max(1, Math.round((opts.floorSeconds * 100) / BLOCK_FRAMES));
  }

  /** The noise floor (dB) from completed blocks, or null before the first block completes. */
  floorDb(): number | null {
    const n = this.blockMins.length - (this.blockFill > 0 ? 1 : 0);
    if (n <= 0) return null;
    let m = Infinity;
    for (let i = 0; i < n; i++) m = Math.min(m, this.blockMins[i]);
    return m;
  }

  /**
   * Watch the next samples. Returns the offset in `pcm` of the first frame of a detected onset
   * (a run of two loud frames may start in an earlier call: then 0), or -1.
   */
  push(pcm: Float32Array): number {
    let onset = -1;
    this.frames.push(pcm, (frame, start) => {
      let e = 0;
      for (let j = 0; j < FRAME; j++) e += frame[j] * frame[j];
      const db = 10 * Math.log10(e / FRAME + 1e-12);
      const floor = this.floorDb();
      const loud = db >= this.opts.minDbfs && (floor === null || db >= floor + this.opts.thresholdDb);
      this.run = loud ? this.run + 1 : 0;
      if (this.run >= 2 && onset < 0) onset = Math.max(0, start - FRAME);
      if (this.blockFill === 0) this.blockMins.push(db);
      else this.blockMins[this.blockMins.length - 1] = Math.min(this.blockMins[this.blockMins.length - 1], db);
      this.blockFill = (this.blockFill + 1) % BLOCK_FRAMES;
      if (this.blockFill === 0 && this.blockMins.length > this.maxBlocks) this.blockMins.shift();
    });
    return onset;
  }
}
