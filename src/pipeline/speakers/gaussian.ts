/**
 * Full-covariance Gaussian sufficient statistics of feature frames and the Bayesian Information
 * Criterion distance between two sets of frames, the model-selection test at the heart of
 * classical diarization:
 *
 *   ΔBIC(X, Y) = ½·[N·log|Σ_XY| − N_X·log|Σ_X| − N_Y·log|Σ_Y|] − λ·½·(d + d(d+1)/2)·log N
 *
 * positive → two speakers (two Gaussians explain the data better than one after the penalty),
 * negative → one. S. S. Chen & P. S. Gopalakrishnan, "Speaker, environment and channel change
 * detection and clustering via the Bayesian Information Criterion", DARPA Broadcast News
 * Transcription and Understanding Workshop, 1998.
 */

export interface GaussStats {
  n: number;
  /** Σx, length d. */
  sum: Float64Array;
  /** Σxxᵀ, d×d row-major. */
  sq: Float64Array;
}

export function emptyStats(d: number): GaussStats {
  return { n: 0, sum: new Float64Array(d), sq: new Float64Array(d * d) };
}

/** Accumulate frames [from, to) of a frames×d matrix (optionally only where mask[f] is true). */
export function accumulate(s: GaussStats, data: Float32Array, d: number, from: number, to: number, mask?: Uint8Array): GaussStats {
  for (let f = from; f < to; f++) {
    if (mask && !mask[f]) continue;
    const row = f * d;
    s.n++;
    for (let i = 0; i < d; i++) {
      const xi = data[row + i];
      s.sum[i] += xi;
      const r = i * d;
      for (let j = 0; j <= i; j++) s.sq[r + j] += xi * data[row + j];
    }
  }
  return s;
}

export function statsOf(data: Float32Array, d: number, from: number, to: number, mask?: Uint8Array): GaussStats {
  return accumulate(emptyStats(d), data, d, from, to, mask);
}

export function addStats(a: GaussStats, b: GaussStats): GaussStats {
  const out = emptyStats(a.sum.length);
  out.n = a.n + b.n;
  for (let i = 0; i < a.sum.length; i++) out.sum[i] = a.sum[i] + b.sum[i];
  for (let i = 0; i < a.sq.length; i++) out.sq[i] = a.sq[i] + b.sq[i];
  return out;
}

/** Scale counts (forgetting): keeps mean and covariance, lowers the weight of old data. */
export function scaleStats(a: GaussStats, k: number): GaussStats {
  const out = emptyStats(a.sum.length);
  out.n = a.n * k;
  for (let i = 0; i < a.sum.length; i++) out.sum[i] = a.sum[i] * k;
  for (let i = 0; i < a.sq.length; i++) out.sq[i] = a.sq[i] * k;
  return out;
}

/** Mean and (lower-triangle-filled, symmetric) covariance, with a diagonal floor `reg` added. */
export function meanCov(s: GaussStats, reg: Float64Array | number = 0): { mean: Float64Array; cov: Float64Array } {
  const d = s.sum.length;
  const n = Math.max(s.n, 1e-9);
  const mean = new Float64Array(d);
  for (let i = 0; i < d; i++) mean[i] = s.sum[i] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      const v = s.sq[i * d + j] / n - mean[i] * mean[j];
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
    cov[i * d + i] += typeof reg === 'number' ? reg : reg[i];
  }
  return { mean, cov };
}

/** In-place Cholesky (lower) of a symmetric positive-definite d×d matrix; returns log-determinant. */
export function cholesky(a: Float64Array, d: number): number {
  let logdet = 0;
  for (let j = 0; j < d; j++) {
    let s = a[j * d + j];
    for (let k = 0; k < j; k++) s -= a[j * d + k] * a[j * d + k];
    if (!(s > 1e-12)) s = 1e-12;
    const l = Math.sqrt(s);
    a[j * d + j] = l;
    logdet += 2 * Math.log(l);
    for (let i = j + 1; i < d; i++) {
      let t = a[i * d + j];
      for (let k = 0; k < j; k++) t -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = t / l;
    }
  }
  return logdet;
}

export function logDetCov(s: GaussStats, reg: Float64Array | number): number {
  const d = s.sum.length;
  return cholesky(meanCov(s, reg).cov, d);
}

/**
 * ΔBIC of modelling `a` and `b` with two full-covariance Gaussians instead of one.
 * `reg` floors the covariance diagonal (short segments have singular sample covariances).
 */
export function deltaBic(a: GaussStats, b: GaussStats, lambda: number, reg: Float64Array | number, ldA?: number, ldB?: number): number {
  const d = a.sum.length;
  const n = a.n + b.n;
  const la = ldA ?? logDetCov(a, reg);
  const lb = ldB ?? logDetCov(b, reg);
  const lab = logDetCov(addStats(a, b), reg);
  const p = d + (d * (d + 1)) / 2;
  return 0.5 * (n * lab - a.n * la - b.n * lb) - lambda * 0.5 * p * Math.log(n);
}

/** A Gaussian ready for scoring frames: mean, Cholesky factor and log-normaliser. */
export interface GaussModel {
  d: number;
  mean: Float64Array;
  chol: Float64Array;
  /** −½(d·log 2π + log|Σ|) */
  norm: number;
}

export function gaussModel(s: GaussStats, reg: Float64Array | number): GaussModel {
  const d = s.sum.length;
  const { mean, cov } = meanCov(s, reg);
  const ld = cholesky(cov, d);
  return { d, mean, chol: cov, norm: -0.5 * (d * Math.log(2 * Math.PI) + ld) };
}

/** log N(x; μ, Σ) of row `f` of a frames×d matrix. */
export function gaussLogLik(m: GaussModel, data: Float32Array, f: number, tmp: Float64Array): number {
  const d = m.d;
  const row = f * d;
  // Solve L y = x − μ (forward substitution); log-lik = norm − ½‖y‖².
  let q = 0;
  for (let i = 0; i < d; i++) {
    let t = data[row + i] - m.mean[i];
    for (let k = 0; k < i; k++) t -= m.chol[i * d + k] * tmp[k];
    t /= m.chol[i * d + i];
    tmp[i] = t;
    q += t * t;
  }
  return m.norm - 0.5 * q;
}
