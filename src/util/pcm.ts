/** Small PCM helpers shared by the audio and engine layers. */

/** Join float32 blocks into one; returns the single block itself when there is only one. */
export function concatFloat32(parts: Float32Array[], total?: number): Float32Array {
  if (parts.length === 1 && (total === undefined || total === parts[0].length)) return parts[0];
  const n = total ?? parts.reduce((a, p) => a + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Cuts a stream of PCM into fixed-size frames, carrying a partial frame from one push() to the
 * next (so frames never depend on how the stream was chunked).
 */
export class FrameSplitter {
  private readonly buf: Float32Array;
  private len = 0;

  constructor(readonly size: number) {
    this.buf = new Float32Array(size);
  }

  /**
   * Call `onFrame` for every frame `pcm` completes, with the frame (one buffer reused for every
   * frame: copy it to keep it) and where it began relative to `pcm` (negative when it began in an
   * earlier push). `onFrame` returning false stops after that frame. Returns how many samples of
   * `pcm` were taken: all of them, or up to the end of the frame that stopped it.
   */
  push(pcm: Float32Array, onFrame: (frame: Float32Array, start: number) => boolean | void): number {
    let i = 0;
    while (i < pcm.length) {
      const start = i - this.len;
      const take = Math.min(this.size - this.len, pcm.length - i);
      this.buf.set(pcm.subarray(i, i + take), this.len);
      this.len += take;
      i += take;
      if (this.len < this.size) break;
      this.len = 0;
      if (onFrame(this.buf, start) === false) break;
    }
    return i;
  }
}
