/**
 * Incremental decoders for real-time sessions (and raw pre-recorded bodies): bytes in any
 * chunking → 16 kHz mono float32. Every decoder keeps partial samples/pages across pushes and a
 * stateful resampler, so the output does not depend on how the input was split.
 */
import { FrameConverter, sanitize, type PcmLayout } from './pcm.ts';
import { StreamResampler } from './resampler.ts';
import { AudioDecodeError, DEFAULT_MAX_PUSH_SECONDS, type RawEncoding, type StreamDecoder, type StreamDecoderOptions, tooMuchInOnePush } from './types.ts';
import { OggOpusStreamDecoder, OpusPacketStreamDecoder } from './opus.ts';

export const STREAM_MIN_RATE = 8000;
export const STREAM_MAX_RATE = 48000;

export const RAW_ENCODINGS: readonly RawEncoding[] = ['linear16', 'linear32', 'alaw', 'mulaw', 'opus', 'ogg_opus'];

export function rawLayout(encoding: RawEncoding): PcmLayout | null {
  switch (encoding) {
    case 'linear16':
      return { kind: 's16', channels: 1 };
    case 'linear32':
      return { kind: 'f32', channels: 1 };
    case 'alaw':
      return { kind: 'alaw', channels: 1 };
    case 'mulaw':
      return { kind: 'mulaw', channels: 1 };
    default:
      return null;
  }
}

/** Interleaved PCM / G.711 → mono → 16 kHz. */
export class PcmStreamDecoder implements StreamDecoder {
  private readonly conv: FrameConverter;
  private readonly rs: StreamResampler;
  private readonly maxPushFrames: number;

  /**
   * @param blockSeconds resampler block: 20 ms for live streams, larger for batch bodies.
   * @param maxPushSeconds refuse a push of more than this much audio (default: no bound).
   */
  constructor(layout: PcmLayout, private readonly sampleRate: number, blockSeconds?: number, maxPushSeconds = Infinity) {
    this.conv = new FrameConverter(layout);
    this.rs = new StreamResampler(sampleRate, blockSeconds);
    this.maxPushFrames = maxPushSeconds * sampleRate;
  }

  get ready(): Promise<void> {
    return this.rs.ready;
  }

  get pendingBytes(): number {
    return this.conv.pendingBytes;
  }

  /** Bytes per input sample frame. */
  get frameBytes(): number {
    return this.conv.frameBytes;
  }

  /** Whole input frames decoded so far. */
  get inputFrames(): number {
    return this.conv.frames;
  }

  private flushed = false;

  push(chunk: Uint8Array): Float32Array {
    if (this.flushed) throw new AudioDecodeError('unsupported', 'Audio pushed after the stream was flushed');
    // Bound the work one push may cause before doing any of it (nothing is consumed on refusal).
    const frames = Math.floor((this.conv.pendingBytes + chunk.length) / this.conv.frameBytes);
    if (frames > this.maxPushFrames) throw tooMuchInOnePush(frames / this.sampleRate, this.maxPushFrames / this.sampleRate);
    return sanitize(this.rs.process(this.conv.push(chunk)));
  }

  drain(): Float32Array {
    if (this.flushed) return new Float32Array(0);
    return sanitize(this.rs.process(new Float32Array(0)));
  }

  flush(): Float32Array {
    if (this.flushed) return new Float32Array(0);
    try {
      const out = this.rs.flush();
      this.flushed = true;
      return sanitize(out);
    } catch (e) {
      throw new AudioDecodeError('unsupported', (e as Error).message);
    }
  }

  /** Abandon without flushing (returns pooled resources). */
  release(): void {
    this.rs.release();
  }
}

export function validateStreamRate(sampleRate: number): void {
  if (!Number.isInteger(sampleRate) || sampleRate < STREAM_MIN_RATE || sampleRate > STREAM_MAX_RATE) {
    throw new AudioDecodeError(
      'unsupported',
      `sample_rate must be an integer from ${STREAM_MIN_RATE} to ${STREAM_MAX_RATE}, got ${sampleRate}`,
    );
  }
}

/**
 * Decoder for one real-time session. Each push is bounded (opts.maxPushSeconds, default
 * DEFAULT_MAX_PUSH_SECONDS): a frame holding more audio is refused with 'too_long' before any of
 * it is decoded, so one client frame cannot block the event loop. `opus`: each push is one raw Opus packet (RFC 6716);
 * `ogg_opus`: an Ogg Opus stream (RFC 7845) split anywhere. Throws AudioDecodeError('unsupported')
 * for an unknown encoding or a sample rate outside 8000–48000.
 */
export function createStreamDecoder(encoding: RawEncoding, sampleRate: number, opts: StreamDecoderOptions = {}): StreamDecoder {
  validateStreamRate(sampleRate);
  const maxPush = opts.maxPushSeconds ?? DEFAULT_MAX_PUSH_SECONDS;
  if (!(maxPush > 0)) throw new RangeError('maxPushSeconds must be > 0');
  const layout = rawLayout(encoding);
  if (layout) return new PcmStreamDecoder(layout, sampleRate, undefined, maxPush);
  // One raw Opus packet is at most 120 ms (opusPacketSamples48k checks it): bounded by itself.
  if (encoding === 'opus') return new OpusPacketStreamDecoder(sampleRate);
  if (encoding === 'ogg_opus') return new OggOpusStreamDecoder(maxPush);
  throw new AudioDecodeError('unsupported', `Unsupported encoding "${String(encoding)}"; expected one of ${RAW_ENCODINGS.join(', ')}`);
}
