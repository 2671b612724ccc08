/**
 * Batch decoding: any accepted body → 16 kHz mono float32.
 *
 *  1. Look at the first bytes and detect the container by magic numbers (never Content-Type).
 *  2. WAV with PCM/float/G.711 → decoded in-process, streaming (header, then data chunk by chunk
 *     through FrameConverter → libsamplerate → output).
 *     Other WAV codecs and every other container → ffmpeg subprocess (see ffmpeg.ts).
 *  3. No container, but `encoding` + `sampleRate` given → raw headerless decode.
 *  4. Otherwise → AudioDecodeError('invalid_format', Pulse's message).
 *
 * The duration limit is enforced while decoding; the event loop is yielded to regularly so a long
 * in-process decode never blocks the server for more than a few milliseconds at a time.
 */
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { DETECT_BYTES, detectFormat, id3Size, type Detected } from './detect.ts';
import { decodeWithFfmpeg } from './ffmpeg.ts';
import { ByteReader, abortError } from './input.ts';
import { layoutCodecName } from './pcm.ts';
import { outputLength } from './resampler.ts';
import { PcmSink } from './sink.ts';
import { PcmStreamDecoder, rawLayout } from './stream.ts';
import { OggOpusStreamDecoder } from './opus.ts';
import { readWavHeader } from './wav.ts';
import {
  AudioDecodeError,
  DEFAULT_DECODE_TIMEOUT_MS,
  DEFAULT_STALL_TIMEOUT_MS,
  INVALID_FORMAT_MESSAGE,
  TARGET_SAMPLE_RATE,
  type AudioInput,
  type DecodedAudio,
  type DecodeOptions,
  type StreamDecoder,
} from './types.ts';

/** Raw (headerless) bodies: accepted sample rates. */
export const RAW_MIN_RATE = 8000;
export const RAW_MAX_RATE = 192000;
/** Largest ID3 tag we look past for format detection (bigger: let ffmpeg probe). */
const MAX_ID3_PEEK = 1024 * 1024;
/** Largest output allocated up front from a streamed WAV's declared size (4 h; 920 MB). */
const MAX_PREALLOC_SECONDS = 4 * 3600;
/** Resampler block for batch decoding (live streams use 20 ms). */
const BATCH_BLOCK_SECONDS = 0.25;
/** Yield to the event loop after this much synchronous decoding work. */
const SLICE_MS = 8;

export async function decodeAudio(input: AudioInput, opts: DecodeOptions = {}): Promise<DecodedAudio> {
  const ac = new AbortController();
  const onUserAbort = () => ac.abort(new AudioDecodeError('aborted', 'Audio decoding was aborted'));
  if (opts.signal?.aborted) onUserAbort();
  opts.signal?.addEventListener('abort', onUserAbort, { once: true });
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DECODE_TIMEOUT_MS;
  const timer = setTimeout(
    () => ac.abort(new AudioDecodeError('timeout', `Decoding took longer than ${Math.round(timeoutMs / 1000)} s and was stopped`)),
    timeoutMs,
  );
  const stallMs = opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  const reader = new ByteReader(input, ac.signal, stallMs);
  try {
    return await decodeFrom(reader, opts, ac.signal, stallMs);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onUserAbort);
    await reader.close();
  }
}

async function decodeFrom(r: ByteReader, opts: DecodeOptions, signal: AbortSignal, stallMs: number): Promise<DecodedAudio> {
  if (signal.aborted) throw abortError(signal);
  let head = await r.peek(DETECT_BYTES);
  if (head.length === 0) throw new AudioDecodeError('empty', 'The audio body is empty');
  const tag = id3Size(head);
  if (tag > 0 && tag + 4096 > head.length && tag + 4096 <= MAX_ID3_PEEK) head = await r.peek(tag + 4096);
  const det = detectFormat(head, r.isEofAfter(head.length));
  const max = opts.maxDurationSeconds;

  if (det?.inProcess === 'wav') return decodeWav(r, det, opts, signal, stallMs);
  if (det) {
    const sink = new PcmSink(max, undefined, opts.budget);
    return guarded(sink, async () => {
      // FLAC states its length in STREAMINFO: refuse a bomb from its first 42 bytes, before ffmpeg starts.
      if (det.container === 'flac') {
        const d = flacDeclaredSeconds(head);
        if (d !== undefined) sink.declare(d);
      }
      const info = await decodeWithFfmpeg({ chunks: r.rest(), det, sink, signal, stallTimeoutMs: stallMs, ffmpegPath: opts.ffmpegPath });
      return finish(sink, formatName(det, info.codec), info.sampleRate ?? 0, info.channels ?? 0);
    });
  }
  if (opts.encoding !== undefined) return decodeRaw(r, opts, signal);
  throw new AudioDecodeError('invalid_format', INVALID_FORMAT_MESSAGE);
}

/** Run a decode into `sink`; on failure give its budget share back. */
async function guarded(sink: PcmSink, fn: () => Promise<DecodedAudio>): Promise<DecodedAudio> {
  try {
    return await fn();
  } catch (e) {
    sink.hold.release();
    throw e;
  }
}

/**
 * Total duration declared by a FLAC stream's STREAMINFO block (RFC 9639 §8.2), or undefined when
 * absent/unknown (total samples 0). `head` starts at "fLaC" (an ID3 tag before it: not parsed).
 */
export function flacDeclaredSeconds(head: Uint8Array): number | undefined {
  if (head.length < 42 || head[0] !== 0x66 || head[1] !== 0x4c || head[2] !== 0x61 || head[3] !== 0x43) return undefined;
  if ((head[4] & 0x7f) !== 0) return undefined; // first block must be STREAMINFO
  const s = 8; // STREAMINFO body
  const rate = (head[s + 10] << 12) | (head[s + 11] << 4) | (head[s + 12] >> 4);
  const total = (head[s + 13] & 0x0f) * 2 ** 32 + ((head[s + 14] << 24) | (head[s + 15] << 16) | (head[s + 16] << 8) | head[s + 17]) >>> 0;
  if (!rate || !total) return undefined;
  return total / rate;
}

function formatName(det: Detected, codec: string | undefined): string {
  const c = codec ?? det.codec;
  if (!c || c === det.container || (det.container === 'mp3' && c.startsWith('mp3'))) return det.container;
  return `${det.container}/${c}`;
}

function finish(
  sink: PcmSink,
  format: string,
  sourceSampleRate: number,
  sourceChannels: number,
  warnings?: string[],
): DecodedAudio {
  if (sink.length === 0) {
    sink.hold.release();
    throw new AudioDecodeError('empty', `The ${format} audio contains no samples`);
  }
  const pcm = sink.finish();
  const hold = sink.hold;
  const out: DecodedAudio = {
    pcm,
    sampleRate: TARGET_SAMPLE_RATE,
    duration: pcm.length / TARGET_SAMPLE_RATE,
    format,
    sourceSampleRate,
    sourceChannels,
    release: () => hold.release(),
  };
  if (warnings?.length) out.warnings = warnings;
  return out;
}

/** Push the rest of the input through an incremental decoder into the sink, yielding regularly. */
async function pump(
  r: ByteReader,
  dec: StreamDecoder,
  sink: PcmSink,
  limitBytes: number,
): Promise<number> {
  let remaining = limitBytes;
  let t0 = performance.now();
  let consumed = 0;
  for await (const chunk of r.rest()) {
    // Decoders with wasm parts may (re)initialise mid-stream, e.g. a chained Ogg Opus stream.
    if (dec.ready) await dec.ready;
    let c = chunk;
    if (c.length > remaining) c = c.subarray(0, remaining);
    remaining -= c.length;
    consumed += c.length;
    sink.write(dec.push(c));
    if (remaining <= 0) break;
    if (performance.now() - t0 > SLICE_MS) {
      await yieldLoop();
      t0 = performance.now();
    }
  }
  if (dec.ready) await dec.ready;
  sink.write(dec.flush());
  return consumed;
}

async function decodeWav(r: ByteReader, det: Detected, opts: DecodeOptions, signal: AbortSignal, stallMs: number): Promise<DecodedAudio> {
  r.startHistory();
  const info = await readWavHeader(r);
  const history = r.takeHistory();
  if (!info.layout) {
    // A WAV codec we do not decode in-process (ADPCM, GSM, MP3-in-WAV...): hand it to ffmpeg.
    if (!history) throw new AudioDecodeError('unsupported', 'WAV header too large to hand to ffmpeg');
    const sink = new PcmSink(opts.maxDurationSeconds, undefined, opts.budget);
    const chunks = (async function* () {
      yield* history;
      yield* r.rest();
    })();
    return guarded(sink, async () => {
      const fi = await decodeWithFfmpeg({ chunks, det, sink, signal, stallTimeoutMs: stallMs, ffmpegPath: opts.ffmpegPath });
      return finish(sink, formatName(det, fi.codec ?? `0x${info.formatTag.toString(16)}`), info.sampleRate, info.channels);
    });
  }

  const layout = info.layout;
  const dec = new PcmStreamDecoder(layout, info.sampleRate, BATCH_BLOCK_SECONDS);
  const frameBytes = dec.frameBytes;
  const warnings: string[] = [];
  const available = r.knownSize !== undefined ? r.knownSize - r.position : undefined;
  const declared = info.dataBytes;
  let expected: number | undefined;
  if (available === undefined && declared !== undefined) {
    // Streamed body with a declared data size: trust the header for the duration limit and for
    // allocating the output once (a shorter body is handled: the output is trimmed at the end).
    const frames = Math.floor(declared / frameBytes);
    const seconds = frames / info.sampleRate;
    if (opts.maxDurationSeconds !== undefined && seconds > opts.maxDurationSeconds) {
      dec.release();
      throw new AudioDecodeError('too_long', `Audio is longer than the maximum of ${opts.maxDurationSeconds} seconds`);
    }
    if (seconds <= MAX_PREALLOC_SECONDS) expected = outputLength(frames, info.sampleRate);
  }
  if (available !== undefined) {
    const bytes = declared === undefined ? available : Math.min(declared, available);
    const frames = Math.floor(bytes / frameBytes);
    if (frames === 0) {
      dec.release();
      throw new AudioDecodeError('empty', 'The WAV file contains no samples');
    }
    if (opts.maxDurationSeconds !== undefined && frames / info.sampleRate > opts.maxDurationSeconds) {
      dec.release();
      throw new AudioDecodeError('too_long', `Audio is longer than the maximum of ${opts.maxDurationSeconds} seconds`);
    }
    expected = outputLength(frames, info.sampleRate);
  }
  let sink: PcmSink;
  try {
    sink = new PcmSink(opts.maxDurationSeconds, expected, opts.budget);
  } catch (e) {
    dec.release();
    throw e;
  }
  let consumed: number;
  try {
    consumed = await pump(r, dec, sink, declared ?? Infinity);
  } catch (e) {
    dec.release();
    sink.hold.release();
    throw e;
  }
  if (declared !== undefined && consumed < declared) {
    warnings.push(`WAV data chunk is truncated: header says ${declared} bytes, got ${consumed}`);
  }
  if (dec.pendingBytes) warnings.push(`${dec.pendingBytes} trailing bytes of an incomplete sample frame were ignored`);
  return finish(sink, `wav/${layoutCodecName(layout)}`, info.sampleRate, info.channels, warnings);
}

async function decodeRaw(r: ByteReader, opts: DecodeOptions, _signal: AbortSignal): Promise<DecodedAudio> {
  const enc = opts.encoding!;
  const rate = opts.sampleRate;
  if (rate === undefined) throw new AudioDecodeError('unsupported', `Raw ${enc} audio needs sample_rate`);
  if (!Number.isInteger(rate) || rate < RAW_MIN_RATE || rate > RAW_MAX_RATE) {
    throw new AudioDecodeError('unsupported', `sample_rate must be an integer from ${RAW_MIN_RATE} to ${RAW_MAX_RATE}, got ${rate}`);
  }
  const layout = rawLayout(enc);
  let dec: StreamDecoder & { release?: () => void };
  let format: string;
  if (layout) {
    dec = new PcmStreamDecoder(layout, rate, BATCH_BLOCK_SECONDS);
    format = `raw/${layoutCodecName(layout)}`;
    if (r.knownSize !== undefined && opts.maxDurationSeconds !== undefined) {
      const frames = Math.floor(r.knownSize / (layout.kind === 's16' ? 2 : layout.kind === 'f32' ? 4 : 1));
      if (frames / rate > opts.maxDurationSeconds) {
        (dec as PcmStreamDecoder).release();
        throw new AudioDecodeError('too_long', `Audio is longer than the maximum of ${opts.maxDurationSeconds} seconds`);
      }
    }
  } else if (enc === 'ogg_opus') {
    dec = new OggOpusStreamDecoder();
    format = 'ogg/opus';
  } else if (enc === 'opus') {
    throw new AudioDecodeError(
      'unsupported',
      'Raw Opus packets have no framing in a file body; send Ogg Opus or WebM (or stream packets over the WebSocket API)',
    );
  } else {
    throw new AudioDecodeError('unsupported', `Unsupported encoding "${String(enc)}"`);
  }
  let expected: number | undefined;
  if (layout && r.knownSize !== undefined) {
    const bps = layout.kind === 's16' ? 2 : layout.kind === 'f32' ? 4 : 1;
    expected = outputLength(Math.floor(r.knownSize / bps), rate);
  }
  let sink: PcmSink;
  try {
    sink = new PcmSink(opts.maxDurationSeconds, expected, opts.budget);
  } catch (e) {
    dec.release?.();
    throw e;
  }
  try {
    await pump(r, dec, sink, Infinity);
  } catch (e) {
    dec.release?.();
    sink.hold.release();
    throw e;
  }
  const warnings: string[] = [];
  if (dec.pendingBytes) warnings.push(`${dec.pendingBytes} trailing bytes of an incomplete sample frame were ignored`);
  return finish(sink, format, rate, 1, warnings);
}
