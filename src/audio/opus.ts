/**
 * Opus for real-time sessions: raw packets (one per push) and Ogg Opus streams split anywhere.
 *
 * Decoder: `opus-decoder` (libopus 1.5 in wasm, from the wasm-audio-decoders project): no native
 * build, no network at install, float output, multistream support. The wasm module is compiled
 * once at import; each session then gets its own decoder instance, ready within the same tick.
 *
 * libopus can decode straight to 16 kHz, but its reduced-rate output stages have their own delay
 * and filters: measured against a 48 kHz libopus decode resampled to 16 kHz the two agree to only
 * ~14 dB SNR (same for ffmpeg's own Opus decoder: ~20 dB). We decode at Opus's native 48 kHz
 * instead and resample with the same libsamplerate converter as PCM, so a real-time Opus stream
 * and the same bytes sent as a file (ffmpeg, forced to libopus) give the same PCM (~70 dB SNR),
 * pre-skip and end trimming are exact in 48 kHz samples, and the cost stays small (see
 * bench/audio.ts: opus stream decode × real time).
 *
 * Errors never lose good audio: when a push contains a bad packet or page, the PCM of the good
 * parts is kept and returned by the next push()/flush(), and the push throws AudioDecodeError.
 */
import { OpusDecoder } from 'opus-decoder';
import { OggDemuxer, type OggPacket } from './ogg.ts';
import { AudioDecodeError, tooMuchInOnePush, type StreamDecoder } from './types.ts';
import { StreamResampler } from './resampler.ts';
import { sanitize } from './pcm.ts';
import { concatFloat32 } from '../util/pcm.ts';

type Decoder = OpusDecoder<48000>;
const OPUS_RATE = 48000;

/** Largest Opus packet accepted: 120 ms of 1275-byte frames, times 8 multistream streams. */
export const MAX_OPUS_PACKET = 1275 * 48 * 8;
/** Bytes demuxed at a time while checking a push against its duration bound. */
const DEMUX_SLICE = 8 * 1024;
/** Input kept while a decoder instance initialises (normally within the same tick). */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

// Compile the wasm once so later instances are ready without waiting for compilation.
{
  const warm = new OpusDecoder({ sampleRate: OPUS_RATE, channels: 1 });
  await warm.ready;
  warm.free();
}

/** Frame duration in 48 kHz samples for a TOC config (RFC 6716 §3.1). */
function frameSamples48k(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3];
  if (config < 16) return [480, 960][config & 1];
  return [120, 240, 480, 960][config & 3];
}

/** Read a frame length (1 or 2 bytes). Returns [length, bytesUsed] or null. */
function frameLen(p: Uint8Array, i: number, end: number): [number, number] | null {
  if (i >= end) return null;
  const b0 = p[i];
  if (b0 < 252) return [b0, 1];
  if (i + 1 >= end) return null;
  return [b0 + 4 * p[i + 1], 2];
}

/**
 * Validate an Opus packet's framing (RFC 6716 §3.4, rules R1–R7) and return its duration in
 * 48 kHz samples; throws with the violated rule otherwise. Catches garbage before libopus sees it.
 */
export function opusPacketSamples48k(p: Uint8Array): number {
  const bad = (why: string) => new AudioDecodeError('corrupt', `Invalid Opus packet: ${why}`);
  if (p.length < 1) throw bad('empty packet');
  if (p.length > MAX_OPUS_PACKET) throw bad(`${p.length} bytes is too large`);
  const toc = p[0];
  const fs = frameSamples48k(toc >> 3);
  const code = toc & 3;
  const n = p.length;
  if (code === 0) {
    if (n - 1 > 1275) throw bad('frame longer than 1275 bytes');
    return fs;
  }
  if (code === 1) {
    if ((n - 1) % 2 !== 0) throw bad('code 1 packet with odd payload length');
    if ((n - 1) / 2 > 1275) throw bad('frame longer than 1275 bytes');
    return 2 * fs;
  }
  if (code === 2) {
    const l = frameLen(p, 1, n);
    if (!l) throw bad('truncated frame length');
    const rest = n - 1 - l[1];
    if (l[0] > rest) throw bad('first frame longer than the packet');
    if (l[0] > 1275 || rest - l[0] > 1275) throw bad('frame longer than 1275 bytes');
    return 2 * fs;
  }
  // code 3
  if (n < 2) throw bad('code 3 packet without frame count');
  const m = p[1] & 0x3f;
  const vbr = (p[1] & 0x80) !== 0;
  const padded = (p[1] & 0x40) !== 0;
  if (m === 0) throw bad('zero frames');
  if (m * fs > 5760) throw bad('more than 120 ms of audio');
  let i = 2;
  let pad = 0;
  if (padded) {
    for (;;) {
      if (i >= n) throw bad('truncated padding length');
      const v = p[i++];
      pad += v === 255 ? 254 : v;
      if (v !== 255) break;
    }
  }
  let avail = n - i - pad;
  if (avail < 0) throw bad('padding longer than the packet');
  if (vbr) {
    let sum = 0;
    for (let k = 0; k < m - 1; k++) {
      const l = frameLen(p, i, n);
      if (!l) throw bad('truncated frame length');
      i += l[1];
      avail -= l[1];
      if (l[0] > 1275) throw bad('frame longer than 1275 bytes');
      sum += l[0];
    }
    if (avail < 0 || sum > avail) throw bad('frame lengths exceed the packet');
    if (avail - sum > 1275) throw bad('frame longer than 1275 bytes');
  } else {
    if (avail % m !== 0) throw bad('CBR frames of unequal length');
    if (avail / m > 1275) throw bad('frame longer than 1275 bytes');
  }
  return m * fs;
}

/** Run a libopus call without its console.error noise on bad packets (we report errors ourselves). */
function quiet<T>(fn: () => T): T {
  const ce = console.error;
  console.error = () => {};
  try {
    return fn();
  } finally {
    console.error = ce;
  }
}

function mixDown(channelData: Float32Array[], n: number): Float32Array {
  if (channelData.length === 1) return channelData[0].slice(0, n);
  const out = new Float32Array(n);
  const k = 1 / channelData.length;
  for (const ch of channelData) for (let i = 0; i < n; i++) out[i] += ch[i] * k;
  return out;
}


const EMPTY = new Float32Array(0);

/**
 * Shared plumbing: 48 kHz decode → 16 kHz resampler, deferred start, and good audio kept on error
 * (returned by the next push/flush while the failing push throws).
 */
abstract class DeferredOutputDecoder implements StreamDecoder {
  protected held: Float32Array[] = [];
  protected flushed = false;
  protected readonly rs = new StreamResampler(OPUS_RATE);
  abstract readonly ready: Promise<void>;

  /** Decode one chunk; push good 48 kHz PCM to `out`, return error messages. */
  protected abstract decode(chunk: Uint8Array, out: Float32Array[]): string[];
  /** End of input: decode what is left into `out`, return error messages. */
  protected abstract finishStream(out: Float32Array[]): string[];
  /** Mid-stream: decode packets queued while the decoder was initialising (none if still not ready). */
  protected abstract decodeQueued(out: Float32Array[]): string[];
  protected abstract free(): void;

  push(chunk: Uint8Array): Float32Array {
    if (this.flushed) throw new AudioDecodeError('unsupported', 'Audio pushed after the stream was flushed');
    const out48: Float32Array[] = [];
    const problems = chunk.length ? this.decode(chunk, out48) : [];
    const out = this.held;
    this.held = [];
    if (out48.length) out.push(this.rs.process(concatFloat32(out48)));
    if (problems.length) {
      this.held = out;
      throw new AudioDecodeError('corrupt', problems.join('; '));
    }
    return out.length ? sanitize(concatFloat32(out)) : EMPTY;
  }

  drain(): Float32Array {
    if (this.flushed) return EMPTY;
    const out48: Float32Array[] = [];
    const problems = this.decodeQueued(out48);
    const out = this.held;
    this.held = [];
    out.push(this.rs.process(out48.length ? concatFloat32(out48) : EMPTY));
    if (problems.length) {
      this.held = out;
      throw new AudioDecodeError('corrupt', problems.join('; '));
    }
    return sanitize(concatFloat32(out));
  }

  flush(): Float32Array {
    if (this.flushed) return EMPTY;
    const out48: Float32Array[] = [];
    const problems = this.finishStream(out48);
    const out = this.held;
    this.held = [];
    if (out48.length) out.push(this.rs.process(concatFloat32(out48)));
    try {
      out.push(this.rs.flush());
    } catch (e) {
      throw new AudioDecodeError('unsupported', (e as Error).message);
    }
    this.flushed = true;
    this.free();
    const pcm = sanitize(concatFloat32(out));
    if (problems.length && pcm.length === 0) throw new AudioDecodeError('corrupt', problems.join('; '));
    return pcm;
  }
}

/** `opus`: every push is exactly one Opus packet. Stereo packets are downmixed by libopus. */
export class OpusPacketStreamDecoder extends DeferredOutputDecoder {
  readonly ready: Promise<void>;
  private dec: Decoder | null = null;
  private queue: Uint8Array[] = [];
  private live = true;

  constructor(readonly sampleRate: number) {
    super();
    const d = new OpusDecoder({ sampleRate: OPUS_RATE, channels: 1 });
    const decReady = d.ready.then(() => {
      if (this.live) this.dec = d;
      else d.free();
    });
    this.ready = Promise.all([decReady, this.rs.ready]).then(() => {});
  }

  get pendingBytes(): number {
    return this.queue.reduce((a, q) => a + q.length, 0);
  }

  protected decode(packet: Uint8Array, out: Float32Array[]): string[] {
    try {
      opusPacketSamples48k(packet);
    } catch (e) {
      return [(e as Error).message];
    }
    if (!this.dec) {
      if (this.pendingBytes + packet.length > MAX_QUEUED_BYTES) return ['Opus decoder is not ready yet; packet dropped'];
      this.queue.push(packet.slice());
      return [];
    }
    const problems: string[] = [];
    if (this.queue.length) {
      const q = this.queue;
      this.queue = [];
      for (const pk of q) this.decodeOne(pk, out, problems);
    }
    this.decodeOne(packet, out, problems);
    return problems;
  }

  private decodeOne(packet: Uint8Array, out: Float32Array[], problems: string[]): void {
    const r = quiet(() => this.dec!.decodeFrame(packet));
    if (r.errors.length || r.samplesDecoded === 0) {
      problems.push(`Opus packet could not be decoded${r.errors[0] ? `: ${r.errors[0].message}` : ''}`);
      return;
    }
    out.push(mixDown(r.channelData, r.samplesDecoded));
  }

  protected decodeQueued(out: Float32Array[]): string[] {
    if (!this.dec || !this.queue.length) return [];
    const problems: string[] = [];
    const q = this.queue;
    this.queue = [];
    for (const pk of q) this.decodeOne(pk, out, problems);
    return problems;
  }

  protected finishStream(out: Float32Array[]): string[] {
    if (this.queue.length) {
      if (!this.dec) throw new AudioDecodeError('unsupported', 'Opus decoder not ready: await decoder.ready before flush()');
      const problems: string[] = [];
      for (const pk of this.queue) this.decodeOne(pk, out, problems);
      this.queue = [];
      return problems;
    }
    return [];
  }

  protected free(): void {
    this.live = false;
    this.dec?.free();
    this.dec = null;
  }
}

interface OpusHead {
  channels: number;
  preSkip: number;
  inputRate: number;
  gain: number;
  family: number;
  streams: number;
  coupled: number;
  mapping: number[];
}

export function parseOpusHead(p: Uint8Array): OpusHead {
  const bad = (why: string) => new AudioDecodeError('corrupt', `Invalid OpusHead: ${why}`);
  if (p.length < 19 || String.fromCharCode(...p.subarray(0, 8)) !== 'OpusHead') throw bad('missing');
  if (p[8] >> 4 !== 0) throw bad(`unsupported version ${p[8]}`);
  const channels = p[9];
  if (channels === 0) throw bad('zero channels');
  const preSkip = p[10] | (p[11] << 8);
  const inputRate = (p[12] | (p[13] << 8) | (p[14] << 16) | (p[15] << 24)) >>> 0;
  const gainQ8 = ((p[16] | (p[17] << 8)) << 16) >> 16;
  const family = p[18];
  let streams = 1;
  let coupled = channels - 1;
  let mapping = channels === 2 ? [0, 1] : [0];
  if (family === 0) {
    if (channels > 2) throw bad('mapping family 0 with more than 2 channels');
  } else {
    if (p.length < 21 + channels) throw bad('truncated channel mapping');
    streams = p[19];
    coupled = p[20];
    if (streams === 0 || coupled > streams || streams + coupled > 255) throw bad('bad stream counts');
    mapping = Array.from(p.subarray(21, 21 + channels));
    if (mapping.some((m) => m !== 255 && m >= streams + coupled)) throw bad('bad channel mapping');
  }
  return { channels, preSkip, inputRate, gain: Math.pow(10, gainQ8 / (20 * 256)), family, streams, coupled, mapping };
}

/**
 * `ogg_opus`: an Ogg Opus stream (RFC 7845) in arbitrary pieces. Honours pre-skip, output gain
 * and end trimming (granule position of the last page); multichannel streams are downmixed.
 */
export class OggOpusStreamDecoder extends DeferredOutputDecoder {
  private readonly demux = new OggDemuxer({
    maxPacketBytes: MAX_OPUS_PACKET,
    accept: (first) => first.length >= 8 && String.fromCharCode(...first.subarray(0, 8)) === 'OpusHead',
  });
  private dec: Decoder | null = null;
  /** Mono decoder for mapping family 0 (mono/stereo), created up front and kept across chains. */
  private mono: Decoder | null = null;
  private monoReady: boolean = false;
  private decReady: Promise<void>;
  private head: OpusHead | null = null;
  private queuedBytes = 0;
  /** 48 kHz samples still to drop for pre-skip. */
  private skip = 0;
  /** 48 kHz samples emitted for the current chained stream (after pre-skip). */
  private emitted = 0;
  private queue: OggPacket[] = [];
  private sawOpus = false;
  private bytesIn = 0;

  /** @param maxPushSeconds refuse a push whose Opus packets add up to more than this (default: no bound). */
  constructor(private readonly maxPushSeconds = Infinity) {
    super();
    const m = new OpusDecoder({ sampleRate: OPUS_RATE, channels: 1 });
    this.mono = m;
    this.decReady = m.ready.then(() => {
      this.monoReady = true;
      if (this.flushed) this.free();
      else if (this.head && this.head.family === 0) this.dec = m;
    });
  }

  /** Resolves when the decoder for the current stream is initialised (pump before pushing). */
  get ready(): Promise<void> {
    return Promise.all([this.decReady, this.rs.ready]).then(() => {});
  }

  get pendingBytes(): number {
    return this.demux.bufferedBytes + this.queuedBytes;
  }

  private startStream(head: OpusHead): void {
    if (this.dec && this.dec !== this.mono) this.dec.free();
    this.dec = null;
    this.head = head;
    this.skip = head.preSkip;
    this.emitted = 0;
    if (head.family === 0) {
      if (this.monoReady) this.dec = this.mono;
      return;
    }
    const d = new OpusDecoder({
      sampleRate: OPUS_RATE,
      channels: head.channels,
      streamCount: head.streams,
      coupledStreamCount: head.coupled,
      channelMappingTable: head.mapping,
    });
    this.decReady = d.ready.then(() => {
      if (this.flushed || this.head !== head) d.free();
      else this.dec = d;
    });
  }

  protected decode(chunk: Uint8Array, out: Float32Array[]): string[] {
    const problems: string[] = [];
    this.bytesIn += chunk.length;
    let packets: OggPacket[];
    if (!Number.isFinite(this.maxPushSeconds)) packets = this.demux.push(chunk);
    else {
      // Demux in small slices, summing the packets' durations from their TOC bytes (no decoding),
      // and refuse the whole push as soon as it holds more audio than one push may: the cost of
      // a refusal is bounded by the limit's worth of bytes, not by the size of the frame.
      packets = [];
      const limit = this.maxPushSeconds * OPUS_RATE;
      let samples = 0;
      for (let off = 0; off < chunk.length; off += DEMUX_SLICE) {
        const got = this.demux.push(chunk.subarray(off, Math.min(chunk.length, off + DEMUX_SLICE)));
        for (const pk of got) {
          packets.push(pk);
          if (pk.index < 2) continue;
          try {
            samples += opusPacketSamples48k(pk.data);
          } catch {
            /* reported when decoded */
          }
        }
        if (samples > limit) {
          this.demux.takeProblems();
          const seen = off + DEMUX_SLICE >= chunk.length;
          throw tooMuchInOnePush(samples / OPUS_RATE, this.maxPushSeconds, !seen);
        }
      }
    }
    for (const pk of packets) this.onPacket(pk, out, problems);
    problems.push(...this.demux.takeProblems());
    if (this.demux.pages === 0 && this.demux.skippedBytes > 0) problems.push('Data is not an Ogg stream');
    return problems;
  }

  private onPacket(pk: OggPacket, out: Float32Array[], problems: string[]): void {
    if (pk.index === 0) {
      try {
        this.startStream(parseOpusHead(pk.data));
        this.sawOpus = true;
      } catch (e) {
        problems.push((e as Error).message);
      }
      return;
    }
    if (pk.index === 1 || !this.head) return; // OpusTags (or no valid head)
    if (!this.dec) {
      if (this.queuedBytes + pk.data.length > MAX_QUEUED_BYTES) {
        problems.push('Opus decoder is not ready yet; packet dropped');
        return;
      }
      this.queue.push(pk);
      this.queuedBytes += pk.data.length;
      return;
    }
    if (this.queue.length) {
      const q = this.queue;
      this.queue = [];
      this.queuedBytes = 0;
      for (const p of q) this.decodePacket(p, out, problems);
    }
    this.decodePacket(pk, out, problems);
  }

  private decodePacket(pk: OggPacket, out: Float32Array[], problems: string[]): void {
    const head = this.head!;
    try {
      opusPacketSamples48k(pk.data);
    } catch (e) {
      problems.push((e as Error).message);
      return;
    }
    const r = quiet(() => this.dec!.decodeFrame(pk.data));
    if (r.errors.length || r.samplesDecoded === 0) {
      problems.push(`Opus packet could not be decoded${r.errors[0] ? `: ${r.errors[0].message}` : ''}`);
      return;
    }
    let pcm = mixDown(r.channelData, r.samplesDecoded);
    if (head.gain !== 1) for (let i = 0; i < pcm.length; i++) pcm[i] *= head.gain;
    if (this.skip > 0) {
      const k = Math.min(this.skip, pcm.length);
      this.skip -= k;
      pcm = pcm.subarray(k);
    }
    if (pk.eos && pk.granule >= 0) {
      // End trimming: the last page's granule position says how many samples are real.
      const total = Math.max(0, pk.granule - head.preSkip);
      const allowed = Math.max(0, total - this.emitted);
      if (pcm.length > allowed) pcm = pcm.subarray(0, allowed);
    }
    this.emitted += pcm.length;
    if (pcm.length) out.push(pcm);
  }

  protected decodeQueued(out: Float32Array[]): string[] {
    if (!this.dec || !this.queue.length) return [];
    const problems: string[] = [];
    const q = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const p of q) this.decodePacket(p, out, problems);
    return problems;
  }

  protected finishStream(out: Float32Array[]): string[] {
    const problems: string[] = [];
    if (this.queue.length) {
      if (!this.dec) throw new AudioDecodeError('unsupported', 'Opus decoder not ready: await decoder.ready before flush()');
      const q = this.queue;
      this.queue = [];
      this.queuedBytes = 0;
      for (const p of q) this.decodePacket(p, out, problems);
    }
    problems.push(...this.demux.takeProblems());
    if (this.demux.bufferedBytes > 0 && !this.demux.streamEnded) {
      problems.push(`Ogg stream ended inside a page (${this.demux.bufferedBytes} bytes left undecoded)`);
    }
    if (!this.sawOpus && this.bytesIn > 0) problems.push(this.demux.pages ? 'Ogg stream has no Opus audio' : 'Data is not an Ogg stream');
    return problems;
  }

  protected free(): void {
    if (this.dec && this.dec !== this.mono) this.dec.free();
    this.dec = null;
    if (this.mono && this.monoReady) {
      this.mono.free();
      this.mono = null;
    }
  }
}
