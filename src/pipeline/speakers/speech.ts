/**
 * Speech / non-speech per 10 ms frame for diarization.
 *
 *  - Silero VAD (through sherpa-onnx-node's `Vad`, the same loader the engine workers use) when a
 *    model file is configured (`COCHLEA_VAD_MODEL`, catalog `silero-vad`);
 *  - otherwise an adaptive energy detector: a frame is speech when its log energy is at least
 *    `marginDb` above the noise floor (the 10th percentile of frame energies) and not more than
 *    `belowPeakDb` under the loud speech level (the 95th percentile), with a 0.1 s hangover and
 *    gaps under 0.3 s bridged. Cruder than Silero (breaths and noise bursts pass), but weight-free.
 */
import { createRequire } from 'node:module';

export interface SpeechOptions {
  /** Silero VAD ONNX file. */
  vadModel?: string;
  /** Silero speech probability threshold (default 0.5). */
  threshold?: number;
}

export interface SpeechRegion {
  start: number;
  end: number;
}

const SR = 16000;
const HOP = 0.01;
/**
 * Frame energy (dB of the sum of squares of a 25 ms Hamming-windowed frame of [-1, 1] samples)
 * below which nothing is speech: about −60 dBFS average power. Keeps a near-silent recording from
 * being "normalised" into speech by the relative thresholds.
 */
const ABS_FLOOR_DB = -45;

interface SherpaVad {
  acceptWaveform(samples: Float32Array): void;
  isEmpty(): boolean;
  front(enableExternalBuffer?: boolean): { samples: Float32Array; start: number };
  pop(): void;
  flush(): void;
  reset(): void;
}
type VadCtor = new (config: object, bufferSizeInSeconds: number) => SherpaVad;
const vads = new Map<string, SherpaVad>();

function sileroRegions(pcm: Float32Array, model: string, threshold: number): SpeechRegion[] {
  const key = `${model}|${threshold}`;
  let vad = vads.get(key);
  if (!vad) {
    const Ctor = (createRequire(import.meta.url)('sherpa-onnx-node') as { Vad: VadCtor }).Vad;
    vad = new Ctor(
      {
        sileroVad: { model, threshold, minSpeechDuration: 0.15, minSilenceDuration: 0.15, windowSize: 512, maxSpeechDuration: 1e6 },
        sampleRate: SR,
        numThreads: 1,
        debug: false,
      },
      Math.max(30, pcm.length / SR + 5),
    );
    vads.set(key, vad);
  }
  vad.reset();
  const out: SpeechRegion[] = [];
  const drain = () => {
    while (!vad.isEmpty()) {
      const seg = vad.front(false);
      out.push({ start: seg.start / SR, end: (seg.start + seg.samples.length) / SR });
      vad.pop();
    }
  };
  for (let i = 0; i < pcm.length; i += 512) {
    vad.acceptWaveform(pcm.subarray(i, Math.min(pcm.length, i + 512)));
    drain();
  }
  vad.flush();
  drain();
  vad.reset();
  return out;
}

function percentile(a: Float32Array, p: number): number {
  if (!a.length) return 0;
  const s = Float32Array.from(a).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.floor(p * (s.length - 1))))];
}

/** Energy-based speech mask over frames whose natural-log energies are given. */
export function energyMask(logEnergy: Float32Array, marginDb = 9, belowPeakDb = 35, absoluteDb = ABS_FLOOR_DB): Uint8Array {
  const n = logEnergy.length;
  const mask = new Uint8Array(n);
  if (!n) return mask;
  const toDb = 10 / Math.LN10;
  const floor = percentile(logEnergy, 0.1) * toDb;
  const peak = percentile(logEnergy, 0.95) * toDb;
  const thr = Math.max(floor + marginDb, peak - belowPeakDb, absoluteDb);
  for (let f = 0; f < n; f++) if (logEnergy[f] * toDb >= thr) mask[f] = 1;
  // Hangover 10 frames, then bridge gaps < 30 frames and drop bursts < 15 frames.
  const hang = new Uint8Array(mask);
  for (let f = 0; f < n; f++) if (mask[f]) for (let k = 1; k <= 10 && f + k < n; k++) hang[f + k] = 1;
  return cleanMask(hang, 30, 15);
}

/** Bridge gaps shorter than `gap` frames and remove runs shorter than `minRun` frames (in place). */
export function cleanMask(mask: Uint8Array, gap: number, minRun: number): Uint8Array {
  const n = mask.length;
  let last = -1;
  for (let f = 0; f < n; f++) {
    if (!mask[f]) continue;
    if (last >= 0 && f - last - 1 > 0 && f - last - 1 < gap) mask.fill(1, last + 1, f);
    last = f;
  }
  let f = 0;
  while (f < n) {
    if (!mask[f]) {
      f++;
      continue;
    }
    let e = f;
    while (e < n && mask[e]) e++;
    if (e - f < minRun) mask.fill(0, f, e);
    f = e;
  }
  return mask;
}

export function regionsToMask(regions: SpeechRegion[], frames: number): Uint8Array {
  const mask = new Uint8Array(frames);
  for (const r of regions) mask.fill(1, Math.max(0, Math.floor(r.start / HOP)), Math.min(frames, Math.ceil(r.end / HOP)));
  return mask;
}

export function maskToRegions(mask: Uint8Array): SpeechRegion[] {
  const out: SpeechRegion[] = [];
  let f = 0;
  while (f < mask.length) {
    if (!mask[f]) {
      f++;
      continue;
    }
    let e = f;
    while (e < mask.length && mask[e]) e++;
    out.push({ start: f * HOP, end: e * HOP });
    f = e;
  }
  return out;
}

/**
 * Far-field or quiet recordings (AMI headset mixes sit around −50 dBFS) fall under Silero's
 * learned loudness range; scale so the 99.5th percentile of |x| is 0.5 (never more than +30 dB).
 */
export function normalizeGain(pcm: Float32Array): Float32Array {
  if (!pcm.length) return pcm;
  const step = Math.max(1, Math.floor(pcm.length / 200_000));
  const abs: number[] = [];
  for (let i = 0; i < pcm.length; i += step) abs.push(Math.abs(pcm[i]));
  abs.sort((a, b) => a - b);
  const p = abs[Math.floor(0.995 * (abs.length - 1))];
  if (!(p > 0)) return pcm;
  const g = Math.min(31.6, 0.5 / p);
  if (g <= 1) return pcm;
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i] * g;
  return out;
}

/** Speech mask over `frames` 10 ms frames of `pcm`. */
export function speechMask(pcm: Float32Array, logEnergy: Float32Array, opts: SpeechOptions): { mask: Uint8Array; method: 'silero' | 'energy' } {
  if (opts.vadModel) {
    const regions = sileroRegions(normalizeGain(pcm), opts.vadModel, opts.threshold ?? 0.5);
    return { mask: cleanMask(regionsToMask(regions, logEnergy.length), 20, 10), method: 'silero' };
  }
  return { mask: energyMask(logEnergy), method: 'energy' };
}
