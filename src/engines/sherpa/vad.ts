/**
 * Cut long audio into speech segments with sherpa-onnx's Silero VAD (`Vad`), for batch decoding
 * with offline models (which take bounded inputs: Whisper 30 s) and for per-segment results.
 */
import { ENGINE_SAMPLE_RATE } from '../types.ts';
import type { VadSpec } from './config.ts';
import { sherpa } from './online.ts';

const SR = ENGINE_SAMPLE_RATE;
const WINDOW = 512; // Silero v4/v5 window at 16 kHz

export interface SpeechSpan {
  /** First sample of the segment in the input. */
  start: number;
  samples: Float32Array;
}

export interface VadSegmentOptions {
  /** Upper bound for one segment; Silero splits longer speech (s). */
  maxSpeechSeconds: number;
  signal?: AbortSignal;
  /** Yield to the event loop every this many seconds of audio (streaming sessions keep running). */
  yieldEverySeconds?: number;
}

function createVad(spec: VadSpec, maxSpeechSeconds: number) {
  const S = sherpa();
  return new S.Vad(
    {
      sileroVad: {
        model: spec.model,
        threshold: spec.threshold ?? 0.5,
        minSilenceDuration: spec.minSilenceSeconds ?? 0.5,
        minSpeechDuration: spec.minSpeechSeconds ?? 0.25,
        maxSpeechDuration: Math.min(spec.maxSpeechSeconds ?? maxSpeechSeconds, maxSpeechSeconds),
        windowSize: WINDOW,
      },
      sampleRate: SR,
      numThreads: 1,
      provider: 'cpu',
      debug: 0,
    },
    Math.max(60, maxSpeechSeconds * 2),
  );
}

/** Speech segments of `pcm`, in order. Silence between them is not returned. */
export async function vadSegments(pcm: Float32Array, spec: VadSpec, opts: VadSegmentOptions): Promise<SpeechSpan[]> {
  const vad = createVad(spec, opts.maxSpeechSeconds);
  const out: SpeechSpan[] = [];
  const drain = () => {
    while (!vad.isEmpty()) {
      const seg = vad.front(false) as { start: number; samples: Float32Array };
      out.push({ start: seg.start, samples: Float32Array.from(seg.samples) });
      vad.pop();
    }
  };
  const yieldEvery = Math.round((opts.yieldEverySeconds ?? 30) * SR);
  let sinceYield = 0;
  for (let i = 0; i < pcm.length; i += WINDOW) {
    vad.acceptWaveform(pcm.subarray(i, Math.min(pcm.length, i + WINDOW)));
    drain();
    sinceYield += WINDOW;
    if (sinceYield >= yieldEvery) {
      sinceYield = 0;
      await new Promise((r) => setImmediate(r));
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    }
  }
  vad.flush();
  drain();
  // Silero only raises its threshold on long speech (it may not split); enforce the bound.
  return out.flatMap((sp) => splitLong(sp, opts.maxSpeechSeconds));
}

/**
 * Split a span longer than `maxSeconds` at its quietest 30 ms frame in the last 40% of each
 * window, so cuts land in pauses between words where there are any.
 */
export function splitLong(sp: SpeechSpan, maxSeconds: number): SpeechSpan[] {
  const max = Math.max(SR, Math.floor(maxSeconds * SR));
  const out: SpeechSpan[] = [];
  let off = 0;
  const frame = Math.round(0.03 * SR);
  while (sp.samples.length - off > max) {
    let best = off + max;
    let bestEnergy = Infinity;
    for (let f = off + Math.floor(max * 0.6); f + frame <= off + max; f += frame) {
      let e = 0;
      for (let i = f; i < f + frame; i++) e += sp.samples[i] * sp.samples[i];
      if (e < bestEnergy) {
        bestEnergy = e;
        best = f + (frame >> 1);
      }
    }
    out.push({ start: sp.start + off, samples: sp.samples.subarray(off, best) });
    off = best;
  }
  out.push({ start: sp.start + off, samples: sp.samples.subarray(off) });
  return out;
}

/** Fixed windows (no VAD configured): consecutive spans of at most `maxSeconds`. */
export function fixedWindows(pcm: Float32Array, maxSeconds: number): SpeechSpan[] {
  const n = Math.max(1, Math.round(maxSeconds * SR));
  const out: SpeechSpan[] = [];
  for (let i = 0; i < pcm.length; i += n) out.push({ start: i, samples: pcm.subarray(i, Math.min(pcm.length, i + n)) });
  return out;
}
