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
  /** Telephone-band audio (nothing above ~4 kHz): ΔF from F1..F3 only. */
  narrowband: boolean;
}

/** Share of voiced-frame energy above 4 kHz under which audio counts as telephone band (−40 dB). */
const NARROWBAND_RATIO = 1e-4;

/** Fraction of the energy of the given frames (sample centres) above 4 kHz, from 512-point spectra. */
export function highBandRatio(pcm: Float32Array, centres: number[], sampleRate = 16000): number {
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
  return all > 0 ? hi / all : 0;
}

/** Only frames YIN calls clearly periodic are used (d′ well under the voicing threshold). */
const MAX_APERIODICITY = 0.12;
/** ΔF is measured on at most this many voiced frames per speaker (evenly spread): LPC root finding is the cost. */
const MAX_FORMANT_FRAMES = 400;

function median(v: number[]): number {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Features for each group of spans (seconds from the start of `pcm`). One pitch track serves all
 * groups. A frame belongs to a group when its analysis centre falls inside one of its spans.
 */
export function voiceFeatures(pcm: Float32Array, groups: Array<Array<[number, number]>>, sampleRate = 16000, track?: PitchTrack): VoiceFeatures[] {
  const p = track ?? yin(pcm, { sampleRate });
  const centreOf = (i: number) => i * p.hopSeconds + p.frameCentre;
  return groups.map((spans) => {
    const sorted = [...spans].sort((a, b) => a[0] - b[0]);
    const voiced: number[] = [];
    const f0s: number[] = [];
    let s = 0;
    for (let i = 0; i < p.f0.length; i++) {
      const c = centreOf(i);
      while (s < sorted.length && sorted[s][1] < c) s++;
      if (s >= sorted.length) break;
      if (c < sorted[s][0]) continue;
      if (p.f0[i] > 0 && p.aperiodicity[i] < MAX_APERIODICITY) {
        voiced.push(i);
        f0s.push(p.f0[i]);
      }
    }
    const step = Math.max(1, voiced.length / MAX_FORMANT_FRAMES);
    const centres: number[] = [];
    for (let k = 0; k < voiced.length; k += step) centres.push(Math.round(centreOf(voiced[Math.floor(k)]) * sampleRate));
    const narrowband = centres.length > 0 && highBandRatio(pcm, centres.filter((_, k) => k % 8 === 0), sampleRate) < NARROWBAND_RATIO;
    const spacings = formantsAt(pcm, centres, { sampleRate, ceiling: narrowband ? 3700 : 5000 })
      .map((f) => formantSpacing(f, narrowband ? 3 : 4))
      .filter(Number.isFinite);
    return {
      f0: median(f0s),
      voicedFrames: f0s.length,
      voicedSeconds: f0s.length * p.hopSeconds,
      formantSpacing: median(spacings),
      formantFrames: spacings.length,
      narrowband,
    };
  });
}
