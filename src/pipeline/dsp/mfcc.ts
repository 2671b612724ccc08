/**
 * Short-time features of 16 kHz mono PCM: frame log energy, log-mel filterbank and MFCC.
 *
 * The textbook front end (Davis & Mermelstein 1980; as in HTK/Kaldi): pre-emphasis 0.97, 25 ms
 * Hamming windows every 10 ms, power spectrum by a real FFT (fft.js), triangular mel filters
 * (HTK mel scale 2595·log10(1 + f/700)), log, DCT-II (orthonormal). Written here rather than taken
 * from an npm package because the maintained ones (meyda) are per-frame and allocate per call;
 * this computes a whole buffer into one Float32Array, which matters for diarization of long files.
 * Reusable by any stage that needs frame features (diarization, gender, emotion).
 */
import FFT from 'fft.js';

export interface FeatureOptions {
  sampleRate?: number;
  /** Frame length, seconds (default 0.025). */
  frameSeconds?: number;
  /** Hop, seconds (default 0.010). */
  hopSeconds?: number;
  /** Mel bands (default 40). */
  melBands?: number;
  /** Cepstral coefficients kept, c0..c(n-1) (default 20). */
  numCeps?: number;
  lowHz?: number;
  highHz?: number;
  preEmphasis?: number;
}

export interface Features {
  /** Frames × dims, row-major. */
  data: Float32Array;
  frames: number;
  dims: number;
  /** Seconds between frames. */
  hop: number;
  /** Natural-log frame energy (sum of squared windowed samples), one per frame. */
  logEnergy: Float32Array;
}

const melOf = (hz: number) => 2595 * Math.log10(1 + hz / 700);
const hzOf = (mel: number) => 700 * (10 ** (mel / 2595) - 1);

interface Plan {
  n: number;
  hop: number;
  nfft: number;
  fft: FFT;
  window: Float64Array;
  /** Per band: first bin and weights. */
  bands: { first: number; w: Float64Array }[];
  dct: Float64Array;
  numCeps: number;
  pre: number;
}

const plans = new Map<string, Plan>();

function plan(o: FeatureOptions): Plan {
  const sr = o.sampleRate ?? 16000;
  const n = Math.round((o.frameSeconds ?? 0.025) * sr);
  const hop = Math.round((o.hopSeconds ?? 0.01) * sr);
  const nb = o.melBands ?? 40;
  const nc = Math.min(o.numCeps ?? 20, nb);
  const lo = o.lowHz ?? 20;
  const hi = o.highHz ?? sr / 2 - 200;
  const pre = o.preEmphasis ?? 0.97;
  const key = [sr, n, hop, nb, nc, lo, hi, pre].join(',');
  const cached = plans.get(key);
  if (cached) return cached;
  let nfft = 1;
  while (nfft < n) nfft <<= 1;
  const window = new Float64Array(n);
  for (let i = 0; i < n; i++) window[i] = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (n - 1));
  const mlo = melOf(lo);
  const mhi = melOf(hi);
  const centers: number[] = [];
  for (let b = 0; b < nb + 2; b++) centers.push(hzOf(mlo + ((mhi - mlo) * b) / (nb + 1)));
  const binHz = sr / nfft;
  const bands: Plan['bands'] = [];
  for (let b = 0; b < nb; b++) {
    const [l, c, r] = [centers[b], centers[b + 1], centers[b + 2]];
    const first = Math.max(1, Math.ceil(l / binHz));
    const last = Math.min(nfft / 2, Math.floor(r / binHz));
    const w = new Float64Array(Math.max(0, last - first + 1));
    for (let k = first; k <= last; k++) {
      const f = k * binHz;
      w[k - first] = f <= c ? (f - l) / (c - l) : (r - f) / (r - c);
      if (w[k - first] < 0) w[k - first] = 0;
    }
    bands.push({ first, w });
  }
  const dct = new Float64Array(nc * nb);
  for (let c = 0; c < nc; c++) {
    const s = c === 0 ? Math.sqrt(1 / nb) : Math.sqrt(2 / nb);
    for (let b = 0; b < nb; b++) dct[c * nb + b] = s * Math.cos((Math.PI * c * (b + 0.5)) / nb);
  }
  const p: Plan = { n, hop, nfft, fft: new FFT(nfft), window, bands, dct, numCeps: nc, pre };
  plans.set(key, p);
  return p;
}

/** Number of whole frames in `samples` samples. */
export function frameCount(samples: number, o: FeatureOptions = {}): number {
  const p = plan(o);
  return samples < p.n ? 0 : 1 + Math.floor((samples - p.n) / p.hop);
}

function compute(pcm: Float32Array, o: FeatureOptions, kind: 'mfcc' | 'fbank'): Features {
  const p = plan(o);
  const frames = frameCount(pcm.length, o);
  const nb = p.bands.length;
  const dims = kind === 'mfcc' ? p.numCeps : nb;
  const data = new Float32Array(frames * dims);
  const logEnergy = new Float32Array(frames);
  const buf = new Float64Array(p.nfft);
  const spec = p.fft.createComplexArray() as number[];
  const mel = new Float64Array(nb);
  const power = new Float64Array(p.nfft / 2 + 1);
  for (let f = 0; f < frames; f++) {
    const s0 = f * p.hop;
    let mean = 0;
    for (let i = 0; i < p.n; i++) mean += pcm[s0 + i];
    mean /= p.n;
    let e = 0;
    let prev = s0 > 0 ? pcm[s0 - 1] - mean : 0;
    for (let i = 0; i < p.n; i++) {
      const x = pcm[s0 + i] - mean;
      const y = (x - p.pre * prev) * p.window[i];
      prev = x;
      buf[i] = y;
      e += y * y;
    }
    buf.fill(0, p.n);
    logEnergy[f] = Math.log(e + 1e-10);
    p.fft.realTransform(spec, buf as unknown as number[]);
    for (let k = 0; k <= p.nfft / 2; k++) power[k] = spec[2 * k] * spec[2 * k] + spec[2 * k + 1] * spec[2 * k + 1];
    for (let b = 0; b < nb; b++) {
      const { first, w } = p.bands[b];
      let s = 0;
      for (let j = 0; j < w.length; j++) s += w[j] * power[first + j];
      mel[b] = Math.log(s + 1e-10);
    }
    const row = f * dims;
    if (kind === 'fbank') {
      for (let b = 0; b < nb; b++) data[row + b] = mel[b];
    } else {
      for (let c = 0; c < dims; c++) {
        let s = 0;
        const off = c * nb;
        for (let b = 0; b < nb; b++) s += p.dct[off + b] * mel[b];
        data[row + c] = s;
      }
    }
  }
  return { data, frames, dims, hop: p.hop / (o.sampleRate ?? 16000), logEnergy };
}

/** MFCC c0..c(numCeps-1) per frame. */
export function mfcc(pcm: Float32Array, o: FeatureOptions = {}): Features {
  return compute(pcm, o, 'mfcc');
}

/** Log-mel filterbank energies per frame. */
export function logMel(pcm: Float32Array, o: FeatureOptions = {}): Features {
  return compute(pcm, o, 'fbank');
}
