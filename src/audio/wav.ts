/**
 * RIFF/RIFX/RF64/BW64 WAVE header parsing (streaming: skips unknown chunks without buffering
 * them). Leaves the reader at the first byte of the `data` chunk.
 */
import { AudioDecodeError } from './types.ts';
import type { ByteReader } from './input.ts';
import type { PcmLayout, SampleKind } from './pcm.ts';

export interface WavInfo {
  /** In-process decodable layout, or null (codec left to ffmpeg: ADPCM, GSM, MP3-in-WAV, ...). */
  layout: PcmLayout | null;
  /** Effective format tag (the sub-format for WAVE_FORMAT_EXTENSIBLE). */
  formatTag: number;
  extensible: boolean;
  sampleRate: number;
  channels: number;
  blockAlign: number;
  bitsPerSample: number;
  /** Declared data size in bytes; undefined when unknown (streamed WAV: read to end of input). */
  dataBytes: number | undefined;
}

export const WAVE_FORMAT_PCM = 1;
export const WAVE_FORMAT_IEEE_FLOAT = 3;
export const WAVE_FORMAT_ALAW = 6;
export const WAVE_FORMAT_MULAW = 7;
export const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** KSDATAFORMAT_SUBTYPE_* GUIDs share these 14 bytes after the 2-byte format tag. */
const KS_GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

export const MAX_WAV_CHANNELS = 64;
export const MIN_WAV_RATE = 1000;
export const MAX_WAV_RATE = 768000;

const corrupt = (msg: string) => new AudioDecodeError('corrupt', `Corrupt WAV file: ${msg}`);

export async function readWavHeader(r: ByteReader): Promise<WavInfo> {
  const riff = await r.read(12);
  if (riff.length < 12) throw corrupt('truncated RIFF header');
  const id = String.fromCharCode(...riff.subarray(0, 4));
  const big = id === 'RIFX';
  const rf64 = id === 'RF64' || id === 'BW64';
  const u16 = (b: Uint8Array, o: number) => (big ? (b[o] << 8) | b[o + 1] : b[o] | (b[o + 1] << 8));
  const u32 = (b: Uint8Array, o: number) =>
    (big ? ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) : (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24))) >>> 0;
  const u64 = (b: Uint8Array, o: number) => u32(b, o) + u32(b, o + 4) * 2 ** 32;

  let fmt: Omit<WavInfo, 'dataBytes'> | null = null;
  let ds64Data: number | undefined;
  for (;;) {
    const h = await r.read(8);
    if (h.length < 8) throw corrupt(fmt ? 'no data chunk' : 'no fmt chunk');
    const cid = String.fromCharCode(...h.subarray(0, 4));
    const size = u32(h, 4);
    const padded = size + (size & 1);
    if (cid === 'ds64' && rf64) {
      if (size < 24 || size > 65536) throw corrupt('bad ds64 chunk');
      const d = await r.read(size);
      if (d.length < size) throw corrupt('truncated ds64 chunk');
      ds64Data = u64(d, 8);
      if (size & 1) await r.skip(1);
    } else if (cid === 'fmt ') {
      if (size < 14 || size > 65536) throw corrupt(`bad fmt chunk size ${size}`);
      const f = await r.read(size);
      if (f.length < size) throw corrupt('truncated fmt chunk');
      if (size & 1) await r.skip(1);
      fmt = parseFmt(f, size, u16, u32, big);
    } else if (cid === 'data') {
      if (!fmt) throw corrupt('data chunk before fmt chunk');
      let dataBytes: number | undefined = size;
      if (rf64 && size === 0xffffffff) dataBytes = ds64Data;
      else if (size === 0xffffffff || (size === 0 && !r.isEof)) dataBytes = undefined; // written to a pipe
      return { ...fmt, dataBytes };
    } else {
      const skipped = await r.skip(padded);
      if (skipped < padded) throw corrupt(fmt ? 'no data chunk' : 'no fmt chunk');
    }
  }
}

function parseFmt(
  f: Uint8Array,
  size: number,
  u16: (b: Uint8Array, o: number) => number,
  u32: (b: Uint8Array, o: number) => number,
  bigEndian: boolean,
): Omit<WavInfo, 'dataBytes'> {
  let formatTag = u16(f, 0);
  const channels = u16(f, 2);
  const sampleRate = u32(f, 4);
  const blockAlign = u16(f, 12);
  const bitsPerSample = size >= 16 ? u16(f, 14) : 8;
  if (channels < 1 || channels > MAX_WAV_CHANNELS) throw corrupt(`unsupported channel count ${channels}`);
  if (sampleRate < MIN_WAV_RATE || sampleRate > MAX_WAV_RATE) throw corrupt(`unsupported sample rate ${sampleRate}`);
  if (blockAlign === 0) throw corrupt('block align is 0');
  let extensible = false;
  if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
    extensible = true;
    if (size < 40) throw corrupt('WAVE_FORMAT_EXTENSIBLE fmt chunk too short');
    const sub = u16(f, 24);
    const ks = KS_GUID_TAIL.every((v, i) => f[26 + i] === v);
    formatTag = ks ? sub : -1;
  }
  // Bytes per sample container: from blockAlign when consistent, else from the bit depth.
  const fromAlign = blockAlign / channels;
  const bytes = Number.isInteger(fromAlign) && fromAlign >= 1 && fromAlign <= 8 ? fromAlign : Math.ceil(bitsPerSample / 8);
  let kind: SampleKind | null = null;
  switch (formatTag) {
    case WAVE_FORMAT_PCM:
      kind = bytes === 1 ? 'u8' : bytes === 2 ? 's16' : bytes === 3 ? 's24' : bytes === 4 ? 's32' : null;
      break;
    case WAVE_FORMAT_IEEE_FLOAT:
      kind = bytes === 4 ? 'f32' : bytes === 8 ? 'f64' : null;
      break;
    case WAVE_FORMAT_ALAW:
      kind = bytes === 1 ? 'alaw' : null;
      break;
    case WAVE_FORMAT_MULAW:
      kind = bytes === 1 ? 'mulaw' : null;
      break;
  }
  const layout: PcmLayout | null = kind ? { kind, channels, bigEndian } : null;
  return { layout, formatTag, extensible, sampleRate, channels, blockAlign, bitsPerSample };
}
