/**
 * Container/codec detection from the first bytes (magic numbers), never from Content-Type.
 *
 * Frame-synced formats without a file signature (MP3, ADTS AAC) are only accepted when several
 * consecutive frame headers chain up exactly, so raw PCM or random bytes are not mistaken for them.
 */

export interface Detected {
  /** Container name used in DecodedAudio.format ("wav", "mp3", "ogg", "webm", "mp4", ...). */
  container: string;
  /** Codec when the signature tells it (e.g. "opus" for Ogg Opus). */
  codec?: string;
  /** ffmpeg demuxer (-f) to force; undefined = let ffmpeg probe. */
  demuxer?: string;
  /** Decoded in-process rather than by ffmpeg. */
  inProcess?: 'wav';
  /** Needs a seekable input (MP4/MOV whose index may sit at the end). */
  needsSeek?: boolean;
}

/** How many leading bytes detection wants (more only to skip an ID3 tag). */
export const DETECT_BYTES = 16 * 1024;

const ascii = (b: Uint8Array, off: number, s: string): boolean => {
  if (off + s.length > b.length) return false;
  for (let i = 0; i < s.length; i++) if (b[off + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** Size of a leading ID3v2 tag (header + body + optional footer), or 0. */
export function id3Size(b: Uint8Array, off = 0): number {
  if (!ascii(b, off, 'ID3') || b.length < off + 10) return 0;
  const major = b[off + 3];
  if (major < 2 || major > 4 || b[off + 4] === 0xff) return 0;
  const s = b.subarray(off + 6, off + 10);
  if ((s[0] | s[1] | s[2] | s[3]) & 0x80) return 0;
  const size = (s[0] << 21) | (s[1] << 14) | (s[2] << 7) | s[3];
  const footer = b[off + 5] & 0x10 ? 10 : 0;
  return 10 + size + footer;
}

// MPEG audio bitrates (kbit/s) by [version-class][layer][index].
const BR_V1 = [
  [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448], // L1
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384], // L2
  [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320], // L3
];
const BR_V2 = [
  [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256], // L1
  [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160], // L2/L3
  [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];
const SR = [
  [11025, 12000, 8000], // 2.5
  [0, 0, 0],
  [22050, 24000, 16000], // 2
  [44100, 48000, 32000], // 1
];

/** Length of the MPEG audio frame starting at `p`, or 0 if there is no valid header there. */
export function mpegFrameLength(b: Uint8Array, p: number): number {
  if (p + 4 > b.length) return 0;
  if (b[p] !== 0xff || (b[p + 1] & 0xe0) !== 0xe0) return 0;
  const ver = (b[p + 1] >> 3) & 3; // 0: 2.5, 1: reserved, 2: 2, 3: 1
  const layerBits = (b[p + 1] >> 1) & 3; // 1: L3, 2: L2, 3: L1
  if (ver === 1 || layerBits === 0) return 0;
  const brIdx = b[p + 2] >> 4;
  const srIdx = (b[p + 2] >> 2) & 3;
  if (brIdx === 0 || brIdx === 15 || srIdx === 3) return 0;
  if ((b[p + 3] & 3) === 2) return 0; // reserved emphasis
  const layer = 4 - layerBits; // 1..3
  const kbps = (ver === 3 ? BR_V1 : BR_V2)[layer - 1][brIdx];
  const sr = SR[ver][srIdx];
  const pad = (b[p + 2] >> 1) & 1;
  if (layer === 1) return Math.floor((12 * kbps * 1000) / sr + pad) * 4;
  if (layer === 3 && ver !== 3) return Math.floor((72 * kbps * 1000) / sr) + pad;
  return Math.floor((144 * kbps * 1000) / sr) + pad;
}

/** Length of the ADTS (AAC) frame at `p`, or 0. */
export function adtsFrameLength(b: Uint8Array, p: number): number {
  if (p + 7 > b.length) return 0;
  if (b[p] !== 0xff || (b[p + 1] & 0xf6) !== 0xf0) return 0; // sync + layer 00
  const sfIdx = (b[p + 2] >> 2) & 0x0f;
  if (sfIdx > 12) return 0;
  const len = ((b[p + 3] & 3) << 11) | (b[p + 4] << 3) | (b[p + 5] >> 5);
  return len >= 7 ? len : 0;
}

/**
 * Do `frames` consecutive frames chain up from `p`? A chain that runs exactly to the end of a
 * complete (short) input counts too.
 */
function chains(
  b: Uint8Array,
  p: number,
  frames: number,
  lenAt: (b: Uint8Array, p: number) => number,
  complete: boolean,
): boolean {
  let q = p;
  for (let i = 0; i < frames; i++) {
    const len = lenAt(b, q);
    if (len === 0) return false;
    q += len;
    if (q >= b.length) return complete ? q === b.length : i >= 1;
  }
  return true;
}

/** Offset of the first run of `frames` chained frames in b[from, from+maxScan), or -1. */
function scan(
  b: Uint8Array,
  from: number,
  maxScan: number,
  frames: number,
  lenAt: (b: Uint8Array, p: number) => number,
  complete: boolean,
): number {
  const end = Math.min(b.length - 3, from + maxScan);
  for (let p = from; p < end; p++) {
    if (b[p] === 0xff && chains(b, p, frames, lenAt, complete)) return p;
  }
  return -1;
}

function oggCodec(b: Uint8Array): string | undefined {
  if (b.length < 28) return undefined;
  const nseg = b[26];
  const start = 27 + nseg;
  if (ascii(b, start, 'OpusHead')) return 'opus';
  if (b[start] === 1 && ascii(b, start + 1, 'vorbis')) return 'vorbis';
  if (b[start] === 0x7f && ascii(b, start + 1, 'FLAC')) return 'flac';
  if (ascii(b, start, 'Speex   ')) return 'speex';
  if (ascii(b, start, 'fishead')) return undefined; // skeleton first; let ffmpeg look further
  return undefined;
}

function findAscii(b: Uint8Array, s: string): boolean {
  for (let i = 0; i + s.length <= b.length; i++) if (b[i] === s.charCodeAt(0) && ascii(b, i, s)) return true;
  return false;
}

function ebmlDocType(b: Uint8Array): string {
  const n = Math.min(b.length, 128);
  for (let i = 4; i + 4 < n; i++) {
    if (ascii(b, i, 'webm')) return 'webm';
    if (ascii(b, i, 'matroska')) return 'matroska';
  }
  return 'matroska';
}

/**
 * Identify the container from its first bytes. `complete` says `head` is the whole input.
 * Returns null when the bytes are no audio container we know.
 */
export function detectFormat(head: Uint8Array, complete = false): Detected | null {
  const b = head;
  if (b.length < 4) return null;

  if ((ascii(b, 0, 'RIFF') || ascii(b, 0, 'RIFX') || ascii(b, 0, 'RF64') || ascii(b, 0, 'BW64')) && ascii(b, 8, 'WAVE'))
    return { container: 'wav', inProcess: 'wav', demuxer: 'wav' };
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'AVI ')) return { container: 'avi', demuxer: 'avi' };
  if (ascii(b, 0, 'fLaC')) return { container: 'flac', codec: 'flac', demuxer: 'flac' };
  if (ascii(b, 0, 'OggS') && b[4] === 0) return { container: 'ogg', codec: oggCodec(b), demuxer: 'ogg' };
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) {
    return { container: ebmlDocType(b), codec: findAscii(b, 'A_OPUS') ? 'opus' : undefined, demuxer: 'matroska' };
  }
  if (ascii(b, 4, 'ftyp')) {
    const brand = String.fromCharCode(...b.subarray(8, 12));
    const container = /^(M4A |M4B |M4P )$/.test(brand) ? 'm4a' : /^3g/.test(brand) ? '3gp' : brand === 'qt  ' ? 'mov' : 'mp4';
    return { container, demuxer: 'mov', needsSeek: true };
  }
  if (ascii(b, 0, 'FORM') && (ascii(b, 8, 'AIFF') || ascii(b, 8, 'AIFC'))) return { container: 'aiff', demuxer: 'aiff' };
  if (ascii(b, 0, '.snd')) return { container: 'au', demuxer: 'au' };
  if (ascii(b, 0, 'caff')) return { container: 'caf', demuxer: 'caf', needsSeek: true };
  if (ascii(b, 0, '#!AMR')) return { container: 'amr', codec: ascii(b, 5, '-WB') ? 'amr_wb' : 'amr_nb', demuxer: 'amr' };
  if (
    b.length >= 16 &&
    [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11, 0xa6, 0xd9, 0x00, 0xaa, 0x00, 0x62, 0xce, 0x6c].every((v, i) => b[i] === v)
  )
    return { container: 'asf', demuxer: 'asf' };
  if (ascii(b, 0, 'MAC ')) return { container: 'ape', codec: 'ape', demuxer: 'ape' };
  if (ascii(b, 0, 'wvpk')) return { container: 'wv', codec: 'wavpack', demuxer: 'wv' };
  if (ascii(b, 0, 'TTA1')) return { container: 'tta', codec: 'tta', demuxer: 'tta' };
  if (ascii(b, 0, 'MPCK')) return { container: 'mpc', codec: 'musepack', demuxer: 'mpc8' };
  if (ascii(b, 0, 'MP+')) return { container: 'mpc', codec: 'musepack', demuxer: 'mpc' };
  if (ascii(b, 0, 'Creative Voice File\x1a')) return { container: 'voc', demuxer: 'voc' };
  if (b.length >= 377 && b[0] === 0x47 && b[188] === 0x47 && b[376] === 0x47) return { container: 'mpegts', demuxer: 'mpegts' };

  // ID3v2-tagged: usually MP3, sometimes ADTS AAC or FLAC.
  const tag = id3Size(b);
  if (tag > 0) {
    if (tag >= b.length) return { container: 'mp3', codec: 'mp3' }; // tag larger than what we looked at: let ffmpeg probe
    if (ascii(b, tag, 'fLaC')) return { container: 'flac', codec: 'flac', demuxer: 'flac' };
    const pa = scan(b, tag, 4096, 2, adtsFrameLength, complete);
    const pm = scan(b, tag, 4096, 2, mpegFrameLength, complete);
    if (pa >= 0 && (pm < 0 || pa < pm)) return { container: 'aac', codec: 'aac', demuxer: 'aac' };
    return { container: 'mp3', codec: 'mp3', demuxer: pm >= 0 ? 'mp3' : undefined };
  }

  // Bare MPEG audio / ADTS: frames must chain from the very first byte.
  if (b[0] === 0xff) {
    if (chains(b, 0, 3, mpegFrameLength, complete)) return { container: 'mp3', codec: 'mp3', demuxer: 'mp3' };
    if (chains(b, 0, 3, adtsFrameLength, complete)) return { container: 'aac', codec: 'aac', demuxer: 'aac' };
  }
  return null;
}
