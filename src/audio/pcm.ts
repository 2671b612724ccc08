/**
 * Interleaved PCM/G.711 bytes → mono float32, incrementally. Chunks may split a sample or a frame
 * at any byte: the incomplete tail is kept and completed by the next chunk, so nothing is lost or
 * duplicated. Channels are downmixed by plain averaging (never clips, keeps a one-sided call
 * recording intelligible).
 */
import { ALAW_TO_F32, MULAW_TO_F32 } from './g711.ts';

export type SampleKind =
  | 'u8'
  | 's8'
  | 's16'
  | 's24'
  | 's32'
  | 'f32'
  | 'f64'
  | 'alaw'
  | 'mulaw';

export interface PcmLayout {
  kind: SampleKind;
  channels: number;
  /** Byte order of multi-byte samples (RIFX/AIFF are big-endian). */
  bigEndian?: boolean;
}

export function bytesPerSample(kind: SampleKind): number {
  switch (kind) {
    case 'u8':
    case 's8':
    case 'alaw':
    case 'mulaw':
      return 1;
    case 's16':
      return 2;
    case 's24':
      return 3;
    case 's32':
    case 'f32':
      return 4;
    case 'f64':
      return 8;
  }
}

/** Name used in DecodedAudio.format, ffmpeg style (e.g. "pcm_s16le"). */
export function layoutCodecName(l: PcmLayout): string {
  const e = l.bigEndian ? 'be' : 'le';
  switch (l.kind) {
    case 'u8':
      return 'pcm_u8';
    case 's8':
      return 'pcm_s8';
    case 'alaw':
      return 'pcm_alaw';
    case 'mulaw':
      return 'pcm_mulaw';
    case 'f32':
      return `pcm_f32${e}`;
    case 'f64':
      return `pcm_f64${e}`;
    default:
      return `pcm_${l.kind}${e}`;
  }
}

export class FrameConverter {
  readonly frameBytes: number;
  private readonly bps: number;
  private readonly carry: Uint8Array;
  private carryLen = 0;
  /** Total complete frames converted so far. */
  frames = 0;

  constructor(readonly layout: PcmLayout) {
    this.bps = bytesPerSample(layout.kind);
    this.frameBytes = this.bps * layout.channels;
    this.carry = new Uint8Array(this.frameBytes);
  }

  /** Bytes of an incomplete frame held back from the last push. */
  get pendingBytes(): number {
    return this.carryLen;
  }

  /** Convert a chunk; returns the mono samples of every frame it completes. */
  push(chunk: Uint8Array): Float32Array {
    const fb = this.frameBytes;
    let offset = 0;
    let head: Float32Array | null = null;
    if (this.carryLen > 0) {
      const need = fb - this.carryLen;
      if (chunk.length < need) {
        this.carry.set(chunk, this.carryLen);
        this.carryLen += chunk.length;
        return new Float32Array(0);
      }
      this.carry.set(chunk.subarray(0, need), this.carryLen);
      head = this.convert(this.carry, 0, 1);
      this.carryLen = 0;
      offset = need;
    }
    const whole = Math.floor((chunk.length - offset) / fb);
    const rest = chunk.length - offset - whole * fb;
    if (rest > 0) {
      this.carry.set(chunk.subarray(chunk.length - rest));
      this.carryLen = rest;
    }
    const body = this.convert(chunk, offset, whole);
    this.frames += whole + (head ? 1 : 0);
    if (!head) return body;
    const out = new Float32Array(body.length + 1);
    out[0] = head[0];
    out.set(body, 1);
    return out;
  }

  /** Convert `n` whole frames starting at byte `offset`. */
  private convert(buf: Uint8Array, offset: number, n: number): Float32Array {
    const out = new Float32Array(n);
    if (n === 0) return out;
    const ch = this.layout.channels;
    const le = !this.layout.bigEndian;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const bps = this.bps;
    const scale = 1 / ch;
    let p = offset;
    switch (this.layout.kind) {
      case 'u8':
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let c = 0; c < ch; c++) s += buf[p++] - 128;
          out[i] = (s * scale) / 128;
        }
        break;
      case 's8':
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let c = 0; c < ch; c++) s += (buf[p++] << 24) >> 24;
          out[i] = (s * scale) / 128;
        }
        break;
      case 'mulaw':
      case 'alaw': {
        const t = this.layout.kind === 'mulaw' ? MULAW_TO_F32 : ALAW_TO_F32;
        if (ch === 1) {
          for (let i = 0; i < n; i++) out[i] = t[buf[p++]];
        } else {
          for (let i = 0; i < n; i++) {
            let s = 0;
            for (let c = 0; c < ch; c++) s += t[buf[p++]];
            out[i] = s * scale;
          }
        }
        break;
      }
      case 's16':
        if (ch === 1) {
          for (let i = 0; i < n; i++, p += 2) out[i] = dv.getInt16(p, le) / 32768;
        } else {
          for (let i = 0; i < n; i++) {
            let s = 0;
            for (let c = 0; c < ch; c++, p += 2) s += dv.getInt16(p, le);
            out[i] = (s * scale) / 32768;
          }
        }
        break;
      case 's24':
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let c = 0; c < ch; c++, p += 3) {
            const v = le
              ? buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16)
              : buf[p + 2] | (buf[p + 1] << 8) | (buf[p] << 16);
            s += (v << 8) >> 8;
          }
          out[i] = (s * scale) / 8388608;
        }
        break;
      case 's32':
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let c = 0; c < ch; c++, p += 4) s += dv.getInt32(p, le);
          out[i] = (s * scale) / 2147483648;
        }
        break;
      case 'f32':
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let c = 0; c < ch; c++, p += 4) s += dv.getFloat32(p, le);
          out[i] = s * scale;
        }
        break;
      case 'f64':
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let c = 0; c < ch; c++, p += 8) s += dv.getFloat64(p, le);
          out[i] = s * scale;
        }
        break;
    }
    void bps;
    return out;
  }
}

/**
 * Clamp to [-1, 1] and replace NaN/±Inf (possible in float WAVs or hostile input) with 0, in place.
 * Engines are promised samples in [-1, 1].
 */
export function sanitize(x: Float32Array): Float32Array {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v > 1) x[i] = 1;
    else if (v < -1) x[i] = -1;
    else if (v !== v) x[i] = 0;
  }
  return x;
}
