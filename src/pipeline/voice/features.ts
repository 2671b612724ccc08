/**
 * Speaker-level voice features for gender estimation, from the audio of one speaker (a set of time
 * spans of one buffer): the median f0 of voiced frames (YIN) and the median formant spacing ΔF of
 * voiced frames (LPC formants, Reby & McComb fit). Medians, because both per-frame tracks have
 * outliers (octave errors, merged formants) that a mean would follow.
 */
import { yin, type PitchTrack } from './yin.ts';
import { formantsAt, formantSpacing } from './formants.ts';
import FFT from 'fft.js';

export interface VoiceFeatures {
  /** Median f0 of voiced frames, Hz (NaN when none). */
  f0: number;
  /** Voiced frames used. */
  voicedFrames: number;
  /** Seconds of voiced speech (voicedFrames × hop). */
  voicedSeconds: number;
  /** Median formant spacing ΔF, Hz (NaN when no frame gave four formants). */
  formantSpacing: number;
  /** Frames that gave a ΔF. */
  formantFrames: number;
  /**
   * Standard error of the median log ΔF (natural log), from the frames' own spread and their
   * serial correlation (see `medianLogSe`): how well this speaker's ΔF is measured. NaN without ΔF.
   */
  formantSpacingLogSe: number;
  /** Telephone-band audio (nothing above ~4 kHz): ΔF from F1..F3 only. */
  narrowband: boolean;
}

/** Share of voiced-frame energy above 4 kHz under which audio counts as telephone band (−40 dB). */
const NARROWBAND_RATIO = 1e-4;

/** Energy of the given frames (sample centres) above 4 kHz and in total, from 512-point Hann spectra. */
export function bandEnergies(pcm: Float32Array, centres: number[], sampleRate = 16000): { hi: number; all: number } {
  const N = 512;
  const fft = new FFT(N);
  const frame = new Float64Array(N);
  const out = fft.createComplexArray() as number[];
  const split = Math.round((4000 / sampleRate) * N);
  let hi = 0, all = 0;
  for (const c of centres) {
    const s = c - N / 2;
    if (s < 0 || s + N > pcm.length) continue;
    for (let j = 0; j < N; j++) frame[j] = pcm[s + j] * (0.5 - 0.5 * Math.cos((2 * Math.PI * j) / (N - 1)));
    fft.realTransform(out, frame);
    for (let k = 1; k < N / 2; k++) {
      const p = out[2 * k] * out[2 * k] + out[2 * k + 1] * out[2 * k + 1];
      all += p;
      if (k >= split) hi += p;
    }
  }
  return { hi, all };
}

/** Only frames YIN calls clearly periodic are used (d′ well under the voicing threshold). */
const MAX_APERIODICITY = 0.12;
/** ΔF is measured on at most this many voiced frames per speaker (evenly spread): LPC root finding is the cost. */
const MAX_FORMANT_FRAMES = 400;

/**
 * Standard error of the median of a serially correlated series (natural-log values in time order):
 *
 *   SE = √(π/2) · σ̂ / √n_eff,   σ̂ = 1.4826 · MAD,   n_eff = n · (1 − ρ) / (1 + ρ)
 *
 * √(π/2)·σ/√n is the large-sample standard error of a sample median of normal data; 1.4826·MAD is
 * the robust (outlier-resistant) estimate of σ; n_eff is the usual AR(1) effective sample size for
 * a lag-1 autocorrelation ρ (consecutive 10 ms frames measure nearly the same vocal-tract shape, so
 * n frames carry far fewer than n independent measurements). ρ is clamped to [0, 0.99]. NaN for
 * fewer than 3 values. No constant here is fitted to data.
 */
export function medianLogSe(logs: number[]): number {
  const n = logs.length;
  if (n < 3) return NaN;
  const med = median(logs);
  const sigma = 1.4826 * median(logs.map((v) => Math.abs(v - med)));
  const mean = logs.reduce((a, v) => a + v, 0) / n;
  let c0 = 0, c1 = 0;
  for (let i = 0; i < n; i++) {
    const d = logs[i] - mean;
    c0 += d * d;
    if (i > 0) c1 += d * (logs[i - 1] - mean);
  }
  const rho = c0 > 0 ? Math.min(0.99, Math.max(0, c1 / c0)) : 0;
  const nEff = Math.max(1, (n * (1 - rho)) / (1 + rho));
  return (Math.sqrt(Math.PI / 2) * sigma) / Math.sqrt(nEff);
}

function median(v: number[]): number {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Features for each group (one speaker, or the whole file) given as the speaker's audio segments
 * (16 kHz PCM, each analysed on its own so no pitch frame straddles two segments). Frames are
 * pooled over the group's segments.
 */
export function voiceFeatures(groups: Float32Array[][], sampleRate = 16000): VoiceFeatures[] {
  return groups.map((segments) => {
    const tracks: PitchTrack[] = segments.map((seg) => yin(seg, { sampleRate }));
    const voiced: Array<[number, number]> = []; // [segment, sample index of the frame centre]
    const f0s: number[] = [];
    let hop = 0.01;
    tracks.forEach((p, si) => {
      hop = p.hopSeconds;
      for (let i = 0; i < p.f0.length; i++) {
        if (p.f0[i] > 0 && p.aperiodicity[i] < MAX_APERIODICITY) {
          voiced.push([si, Math.round((i * p.hopSeconds + p.frameCentre) * sampleRate)]);
          f0s.push(p.f0[i]);
        }
      }
    });
    // Formant frames: evenly spread over the voiced frames, at most MAX_FORMANT_FRAMES.
    const step = Math.max(1, voiced.length / MAX_FORMANT_FRAMES);
    const picked: Array<number[]> = segments.map(() => []);
    for (let k = 0; k < voiced.length; k += step) {
      const [si, c] = voiced[Math.floor(k)];
      picked[si].push(c);
    }
    // Telephone band: judged on the pooled spectrum of (every 8th of) the picked frames.
    let hi = 0, all = 0, n = 0;
    picked.forEach((cs, si) => {
      const sub = cs.filter((_, k) => (n + k) % 8 === 0);
      n += cs.length;
      if (!sub.length) return;
      const e = bandEnergies(segments[si], sub, sampleRate);
      hi += e.hi;
      all += e.all;
    });
    const narrowband = all > 0 && hi / all < NARROWBAND_RATIO;
    const spacings: number[] = [];
    picked.forEach((cs, si) => {
      if (!cs.length) return;
      for (const f of formantsAt(segments[si], cs, { sampleRate, ceiling: narrowband ? 3700 : 5000 })) {
        const d = formantSpacing(f, narrowband ? 3 : 4);
        if (Number.isFinite(d)) spacings.push(d);
      }
    });
    return {
      f0: median(f0s),
      voicedFrames: f0s.length,
      voicedSeconds: f0s.length * hop,
      formantSpacing: median(spacings),
      formantFrames: spacings.length,
      formantSpacingLogSe: medianLogSe(spacings.map(Math.log)),
      narrowband,
    };
  });
}
