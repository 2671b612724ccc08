/**
 * ITU-T G.711 (8-bit mu-law and A-law) expansion to linear PCM.
 *
 * Hand-written on purpose: G.711 decoding is a fixed 256-entry lookup table per law, fully
 * specified by the ITU recommendation (the formulas below are the reference `ulaw2linear` /
 * `alaw2linear` from the ITU G.191 software tools / Sun's g711.c that sox and ffmpeg also use).
 * A dependency would add more code than it saves. The tables are checked against sox's and
 * ffmpeg's decoders for all 256 codes in test/audio/g711.test.ts.
 *
 * Values are the 16-bit linear samples (mu-law: ±32124, A-law: ±32256); the float tables are the
 * same values / 32768, which is how sox/ffmpeg scale s16 to float.
 */

function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function alawToLinear(code: number): number {
  const a = (code ^ 0x55) & 0xff;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

/** mu-law code → 16-bit linear sample. */
export const MULAW_TO_S16: Int16Array = Int16Array.from({ length: 256 }, (_, i) => ulawToLinear(i));
/** A-law code → 16-bit linear sample. */
export const ALAW_TO_S16: Int16Array = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));
/** mu-law code → float in [-1, 1). */
export const MULAW_TO_F32: Float32Array = Float32Array.from(MULAW_TO_S16, (v) => v / 32768);
/** A-law code → float in [-1, 1). */
export const ALAW_TO_F32: Float32Array = Float32Array.from(ALAW_TO_S16, (v) => v / 32768);
