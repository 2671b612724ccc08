/**
 * Formant frequencies by linear prediction (autocorrelation method, Levinson–Durbin), formants
 * taken from the roots of the LPC polynomial (frequency = angle·fs/2π, bandwidth = −ln|z|·fs/π; a
 * root is a formant when its bandwidth is under 400 Hz), as in Markel & Gray (1976) and Praat's
 * "To Formant (burg)" defaults (pre-emphasis from 50 Hz, 25 ms Gaussian-like window, 2 poles per
 * kHz of the analysed band, here the full 0–8 kHz of 16 kHz audio, i.e. order 18; formants kept
 * up to a 5 kHz ceiling, 3.7 kHz on telephone-band audio).
 *
 * The speaker-level cue is the formant spacing ΔF (Reby & McComb 2003, Anim. Behav. 65: 519–530):
 * for a uniform tube closed at the glottis, F_i = (2i−1)·ΔF/2 with ΔF = c / (2·VTL); the
 * least-squares fit through the origin over F1..F4 gives ΔF = Σ F_i·(2i−1)/2 / Σ ((2i−1)/2)². A
 * longer (typically male) vocal tract gives a smaller ΔF, independent of f0.
 */

export interface FormantOptions {
  sampleRate?: number;
  /** Highest formant kept, Hz. Default 5000 (Praat's male default; keeps F4 of both sexes in most vowels). */
  ceiling?: number;
  /** Analysis window, seconds. Default 0.025. */
  windowSeconds?: number;
}

/** LPC coefficients a[0..p] (a[0] = 1) by Levinson–Durbin on the autocorrelation r[0..p]. */
export function levinson(r: Float64Array, p: number): Float64Array | null {
  const a = new Float64Array(p + 1);
  const tmp = new Float64Array(p + 1);
  a[0] = 1;
  let err = r[0];
  if (err <= 0) return null;
  for (let i = 1; i <= p; i++) {
    let acc = r[i];
    for (let j = 1; j < i; j++) acc += a[j] * r[i - j];
    const k = -acc / err;
    tmp.set(a);
    for (let j = 1; j < i; j++) a[j] = tmp[j] + k * tmp[i - j];
    a[i] = k;
    err *= 1 - k * k;
    if (err <= 0) return null;
  }
  return a;
}

/** Roots of the monic polynomial z^p + a1 z^(p−1) + ... + ap (Durand–Kerner / Weierstrass iteration). */
export function polyRoots(a: Float64Array): { re: Float64Array; im: Float64Array } {
  const p = a.length - 1;
  const re = new Float64Array(p);
  const im = new Float64Array(p);
  // Start on a circle of radius 0.9 with an irrational angle offset (the standard (0.4+0.9i)^k start).
  for (let k = 0; k < p; k++) {
    const ang = (2 * Math.PI * k) / p + 0.4;
    re[k] = 0.9 * Math.cos(ang);
    im[k] = 0.9 * Math.sin(ang);
  }
  for (let iter = 0; iter < 500; iter++) {
    let moved = 0;
    for (let k = 0; k < p; k++) {
      // f(z_k) by Horner
      let fr = 1, fi = 0;
      for (let j = 1; j <= p; j++) {
        const nr = fr * re[k] - fi * im[k] + a[j];
        const ni = fr * im[k] + fi * re[k];
        fr = nr;
        fi = ni;
      }
      // Π (z_k − z_j)
      let dr = 1, di = 0;
      for (let j = 0; j < p; j++) {
        if (j === k) continue;
        const xr = re[k] - re[j], xi = im[k] - im[j];
        const nr = dr * xr - di * xi;
        const ni = dr * xi + di * xr;
        dr = nr;
        di = ni;
      }
      const den = dr * dr + di * di;
      if (den === 0) continue;
      const qr = (fr * dr + fi * di) / den;
      const qi = (fi * dr - fr * di) / den;
      re[k] -= qr;
      im[k] -= qi;
      moved = Math.max(moved, Math.abs(qr) + Math.abs(qi));
    }
    if (moved < 1e-10) break;
  }
  return { re, im };
}

/**
 * Formants F1..F4 (Hz) of each frame listed in `centres` (sample index of the frame centre), NaN
 * where fewer were found below the ceiling.
 */
export function formantsAt(pcm: Float32Array, centres: number[], opts: FormantOptions = {}): Float64Array[] {
  const sr = opts.sampleRate ?? 16000;
  const ceiling = opts.ceiling ?? 5000;
  const x = pcm;
  const fs = sr;
  // Two poles per kHz of the analysed band plus two for the glottal/radiation tilt (Markel & Gray).
  const order = 2 * Math.round(fs / 2000) + 2;
  const W = Math.round(fs * (opts.windowSeconds ?? 0.025));
  // Pre-emphasis from 50 Hz (Praat): y[n] = x[n] − α x[n−1], α = exp(−2π·50/fs).
  const alpha = Math.exp((-2 * Math.PI * 50) / fs);
  const seg = new Float64Array(W);
  const r = new Float64Array(order + 1);
  const out: Float64Array[] = [];
  for (const c of centres) {
    const start = Math.round(c) - (W >> 1);
    const f = new Float64Array(4).fill(NaN);
    out.push(f);
    if (start < 1 || start + W > x.length) continue;
    for (let j = 0; j < W; j++) {
      const w = 0.54 - 0.46 * Math.cos((2 * Math.PI * j) / (W - 1));
      seg[j] = (x[start + j] - alpha * x[start + j - 1]) * w;
    }
    for (let l = 0; l <= order; l++) {
      let s = 0;
      for (let j = l; j < W; j++) s += seg[j] * seg[j - l];
      r[l] = s;
    }
    r[0] *= 1 + 1e-9; // white-noise correction: keeps the recursion stable on near-silent frames
    const a = levinson(r, order);
    if (!a) continue;
    const { re, im } = polyRoots(a);
    const cands: number[] = [];
    for (let k = 0; k < re.length; k++) {
      if (im[k] <= 0) continue;
      const mag = Math.hypot(re[k], im[k]);
      const freq = (Math.atan2(im[k], re[k]) * fs) / (2 * Math.PI);
      const bw = (-Math.log(mag) * fs) / Math.PI;
      if (freq > 90 && freq < ceiling - 50 && bw > 0 && bw < 400) cands.push(freq);
    }
    cands.sort((p, q) => p - q);
    for (let i = 0; i < 4 && i < cands.length; i++) f[i] = cands[i];
  }
  return out;
}

/**
 * Formant spacing ΔF (Hz) of one frame's F1..Fn (n = 4 for wideband audio, 3 for telephone-band
 * audio whose F4 is cut off) by the Reby & McComb fit; NaN if any is missing.
 */
export function formantSpacing(f: Float64Array, n = 4): number {
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(f[i])) return NaN;
    const k = (2 * (i + 1) - 1) / 2;
    num += f[i] * k;
    den += k * k;
  }
  return num / den;
}
