/**
 * Build Ogg Opus streams (RFC 7845) from raw Opus packets, for tests and benches that need exact
 * control over page layout (e.g. 30 minutes of silence in one 300 KB WebSocket frame).
 */
import { oggCrc } from '../../src/audio/ogg.ts';

/** A 20 ms CELT fullband mono frame of digital silence (TOC 0xF8, code 0): 3 bytes. */
export const OPUS_SILENCE_20MS = Uint8Array.from([0xf8, 0xff, 0xfe]);

function page(serial: number, seq: number, granule: number, flags: number, packets: Uint8Array[]): Uint8Array {
  const lacing: number[] = [];
  for (const p of packets) {
    let n = p.length;
    while (n >= 255) {
      lacing.push(255);
      n -= 255;
    }
    lacing.push(n);
  }
  if (lacing.length > 255) throw new Error('too many segments for one page');
  const body = packets.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(27 + lacing.length + body);
  out.set([0x4f, 0x67, 0x67, 0x53, 0, flags]);
  const dv = new DataView(out.buffer);
  dv.setUint32(6, granule % 2 ** 32, true);
  dv.setUint32(10, Math.floor(granule / 2 ** 32), true);
  dv.setUint32(14, serial, true);
  dv.setUint32(18, seq, true);
  out[26] = lacing.length;
  out.set(lacing, 27);
  let o = 27 + lacing.length;
  for (const p of packets) {
    out.set(p, o);
    o += p.length;
  }
  dv.setUint32(22, oggCrc(out), true);
  return out;
}

/** Mono Ogg Opus: OpusHead, OpusTags, then `packets` (all of `samples48k` each), many per page. */
export function buildOggOpus(packets: Uint8Array[], samples48k = 960, serial = 0x1234abcd): Uint8Array {
  const head = new Uint8Array(19);
  head.set(new TextEncoder().encode('OpusHead'));
  head[8] = 1;
  head[9] = 1;
  new DataView(head.buffer).setUint16(10, 312, true); // pre-skip
  new DataView(head.buffer).setUint32(12, 48000, true);
  const tags = new Uint8Array(16);
  tags.set(new TextEncoder().encode('OpusTags'));
  const pages: Uint8Array[] = [page(serial, 0, 0, 2, [head]), page(serial, 1, 0, 0, [tags])];
  let seq = 2;
  let granule = 0;
  const perPage = 50; // 1 s per page, like ffmpeg and opusenc
  for (let i = 0; i < packets.length; i += perPage) {
    const chunk = packets.slice(i, i + perPage);
    granule += chunk.length * samples48k;
    const last = i + perPage >= packets.length;
    pages.push(page(serial, seq++, granule, last ? 4 : 0, chunk));
  }
  const total = pages.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of pages) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** `seconds` of Opus silence as one Ogg Opus stream (20 ms packets). */
export function oggOpusSilence(seconds: number): Uint8Array {
  const n = Math.round(seconds * 50);
  return buildOggOpus(Array.from({ length: n }, () => OPUS_SILENCE_20MS));
}
