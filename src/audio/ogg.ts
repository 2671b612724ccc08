/**
 * Incremental Ogg demuxer (RFC 3533): bytes split anywhere → whole packets of one logical stream.
 *
 * Hand-written rather than using codec-parser (the Ogg parser behind ogg-opus-decoder) because a
 * real-time endpoint needs guarantees that library does not give: it does not verify page CRCs
 * (a flipped bit would go straight into the codec), and its continued-packet buffer and per-serial
 * stream map grow without bound on hostile input. Ogg framing is small and fully specified:
 * this keeps at most one page (≤ 65 307 bytes) plus one packet (capped) in memory, checks every
 * CRC and resynchronises on the next capture pattern after garbage.
 */

export interface OggPacket {
  data: Uint8Array;
  serial: number;
  /** First packet of its logical stream. */
  bos: boolean;
  /** Last packet of the last page of its stream. */
  eos: boolean;
  /** Granule position of the page on which the packet completes (-1: none). */
  granule: number;
  /** Index of this packet within its logical stream (0 = identification header). */
  index: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Ogg CRC-32 (poly 0x04c11db7, no reflection), with the page's CRC field taken as zero. */
export function oggCrc(page: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++) {
    const b = i >= 22 && i < 26 ? 0 : page[i];
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]) >>> 0;
  }
  return crc;
}

export const MAX_PAGE = 27 + 255 + 255 * 255;

export interface OggDemuxerOptions {
  /** Packets above this size are dropped (reported) instead of buffered. */
  maxPacketBytes?: number;
  /** Pick the logical stream: called with the first packet of each new stream. */
  accept?: (firstPacket: Uint8Array) => boolean;
}

export class OggDemuxer {
  private buf = new Uint8Array(MAX_PAGE * 2);
  private start = 0;
  private end = 0;
  /** Serial of the stream we follow, or null before its BOS page. */
  private serial: number | null = null;
  private lastSeq = -1;
  private partial: Uint8Array[] = [];
  private partialLen = 0;
  private partialOversized = false;
  private packetIndex = 0;
  private readonly maxPacket: number;
  private readonly accept: (p: Uint8Array) => boolean;
  /** Problems seen since the last takeProblems(). */
  private problems: string[] = [];
  /** Pages seen of any stream (0 → the input was never Ogg). */
  pages = 0;
  /** Bytes discarded while looking for a capture pattern. */
  skippedBytes = 0;
  streamEnded = false;

  constructor(opts: OggDemuxerOptions = {}) {
    this.maxPacket = opts.maxPacketBytes ?? 256 * 1024;
    this.accept = opts.accept ?? (() => true);
  }

  get bufferedBytes(): number {
    return this.end - this.start + this.partialLen;
  }

  takeProblems(): string[] {
    const p = this.problems;
    this.problems = [];
    return p;
  }

  private problem(msg: string): void {
    if (this.problems.length < 16) this.problems.push(msg);
  }

  /** Feed bytes; returns the packets they complete. */
  push(chunk: Uint8Array): OggPacket[] {
    const out: OggPacket[] = [];
    let off = 0;
    while (off < chunk.length) {
      // Room for at least part of the chunk; the buffer never needs more than one page.
      if (this.start > 0 && (this.end === this.buf.length || this.start > MAX_PAGE)) {
        this.buf.copyWithin(0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      const n = Math.min(chunk.length - off, this.buf.length - this.end);
      this.buf.set(chunk.subarray(off, off + n), this.end);
      this.end += n;
      off += n;
      this.parse(out);
    }
    return out;
  }

  private parse(out: OggPacket[]): void {
    const b = this.buf;
    for (;;) {
      const avail = this.end - this.start;
      if (avail < 27) return;
      const s = this.start;
      if (!(b[s] === 0x4f && b[s + 1] === 0x67 && b[s + 2] === 0x67 && b[s + 3] === 0x53 && b[s + 4] === 0)) {
        this.resync();
        continue;
      }
      const nseg = b[s + 26];
      if (avail < 27 + nseg) return;
      let bodyLen = 0;
      for (let i = 0; i < nseg; i++) bodyLen += b[s + 27 + i];
      const pageLen = 27 + nseg + bodyLen;
      if (avail < pageLen) return;
      const page = b.subarray(s, s + pageLen);
      const stored = (page[22] | (page[23] << 8) | (page[24] << 16) | (page[25] << 24)) >>> 0;
      if (oggCrc(page) !== stored) {
        this.problem('Ogg page failed its CRC check and was skipped');
        this.start += 1;
        this.resync();
        continue;
      }
      this.pages++;
      this.handlePage(page, nseg, out);
      this.start += pageLen;
      if (this.start === this.end) {
        this.start = this.end = 0;
      }
    }
  }

  /** Drop bytes up to the next "OggS" (keeping a possible partial pattern at the end). */
  private resync(): void {
    const b = this.buf;
    let i = this.start + 1;
    for (; i + 4 <= this.end; i++) {
      if (b[i] === 0x4f && b[i + 1] === 0x67 && b[i + 2] === 0x67 && b[i + 3] === 0x53) break;
    }
    if (i + 4 > this.end) i = Math.max(this.start + 1, this.end - 3);
    const skipped = i - this.start;
    this.skippedBytes += skipped;
    if (skipped > 0 && this.pages > 0 && !this.problems.some((p) => p.startsWith('Skipped'))) {
      this.problem('Skipped bytes that are not Ogg pages');
    }
    this.start = i;
  }

  private handlePage(page: Uint8Array, nseg: number, out: OggPacket[]): void {
    const flags = page[5];
    const continued = (flags & 1) !== 0;
    const bos = (flags & 2) !== 0;
    const eos = (flags & 4) !== 0;
    const lo = (page[6] | (page[7] << 8) | (page[8] << 16) | (page[9] << 24)) >>> 0;
    const hi = (page[10] | (page[11] << 8) | (page[12] << 16) | (page[13] << 24)) | 0;
    const granule = hi === -1 && lo === 0xffffffff ? -1 : hi * 2 ** 32 + lo;
    const serial = (page[14] | (page[15] << 8) | (page[16] << 16) | (page[17] << 24)) >>> 0;
    const seq = (page[18] | (page[19] << 8) | (page[20] << 16) | (page[21] << 24)) >>> 0;

    if (this.serial === null || (this.streamEnded && bos)) {
      // Waiting for (or chaining to) a stream we accept.
      if (!bos) return;
      const firstLen = nseg > 0 ? page[27] : 0;
      const first = page.subarray(27 + nseg, 27 + nseg + firstLen);
      if (!this.accept(first)) return;
      this.serial = serial;
      this.streamEnded = false;
      this.packetIndex = 0;
      this.resetPartial();
      this.lastSeq = seq - 1;
    } else if (serial !== this.serial) {
      return; // another multiplexed stream (video, skeleton, ...)
    }
    if (this.streamEnded) return;

    const gap = ((seq - this.lastSeq) >>> 0) !== 1;
    this.lastSeq = seq;
    if (gap) {
      this.problem('Ogg pages are missing (sequence gap); a partial packet was dropped');
      this.resetPartial();
    }

    let p = 27 + nseg;
    // A page that continues a packet we do not have: skip that continuation.
    let skipping = continued && this.partialLen === 0 && !this.partialOversized;
    if (!continued && (this.partialLen > 0 || this.partialOversized)) {
      this.problem('An Ogg packet was cut short; it was dropped');
      this.resetPartial();
    }
    let lastComplete = -1;
    for (let i = 0; i < nseg; i++) {
      if (page[27 + i] < 255) lastComplete = i;
    }
    for (let i = 0; i < nseg; i++) {
      const len = page[27 + i];
      const seg = page.subarray(p, p + len);
      p += len;
      if (skipping) {
        if (len < 255) skipping = false;
        continue;
      }
      if (!this.partialOversized) {
        if (this.partialLen + len > this.maxPacket) {
          this.partialOversized = true;
          this.partial = [];
          this.partialLen = 0;
        } else if (len) {
          this.partial.push(seg.slice());
          this.partialLen += len;
        }
      }
      if (len < 255) {
        const idx = this.packetIndex++;
        if (this.partialOversized) {
          if (idx !== 1) this.problem(`An Ogg packet larger than ${this.maxPacket} bytes was dropped`);
        } else {
          out.push({
            data: this.takePartial(),
            serial,
            bos: idx === 0,
            eos: eos && i === lastComplete,
            granule,
            index: idx,
          });
        }
        this.resetPartial();
      }
    }
    if (eos) {
      this.streamEnded = true;
      this.resetPartial();
    }
  }

  private takePartial(): Uint8Array {
    if (this.partial.length === 1) return this.partial[0];
    const out = new Uint8Array(this.partialLen);
    let o = 0;
    for (const c of this.partial) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  private resetPartial(): void {
    this.partial = [];
    this.partialLen = 0;
    this.partialOversized = false;
  }
}
