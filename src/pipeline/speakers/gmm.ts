/**
 * Diagonal-covariance Gaussian mixture models trained by EM (Dempster, Laird & Rubin 1977), the
 * speaker models of the resegmentation pass (Reynolds, Quatieri & Dunn 2000 use the same family
 * for speaker modelling). Deterministic: means start from frames spread evenly over the data.
 */

export interface DiagGmm {
  k: number;
  d: number;
  logw: Float64Array;
  mean: Float64Array;
  /** 1/variance */
  prec: Float64Array;
  /** Per component: log w − ½(d·log 2π + Σ log var) */
  norm: Float64Array;
}

function finish(g: Omit<DiagGmm, 'norm'>): DiagGmm {
  const norm = new Float64Array(g.k);
  for (let c = 0; c < g.k; c++) {
    let s = 0;
    for (let i = 0; i < g.d; i++) s += Math.log(g.prec[c * g.d + i]);
    norm[c] = g.logw[c] - 0.5 * g.d * Math.log(2 * Math.PI) + 0.5 * s;
  }
  return { ...g, norm };
}

/** log p(x) of row f of a frames×d matrix. */
export function gmmLogLik(g: DiagGmm, data: Float32Array, f: number, tmp: Float64Array): number {
  const d = g.d;
  const row = f * d;
  let max = -Infinity;
  for (let c = 0; c < g.k; c++) {
    let q = 0;
    const o = c * d;
    for (let i = 0; i < d; i++) {
      const t = data[row + i] - g.mean[o + i];
      q += t * t * g.prec[o + i];
    }
    const v = g.norm[c] - 0.5 * q;
    tmp[c] = v;
    if (v > max) max = v;
  }
  let s = 0;
  for (let c = 0; c < g.k; c++) s += Math.exp(tmp[c] - max);
  return max + Math.log(s);
}

/**
 * Train a diagonal GMM on the listed frames. `k` shrinks when there is little data (at least
 * `minFramesPerComp` frames per component). `varFloor` is per dimension.
 */
export function trainGmm(data: Float32Array, d: number, frames: Int32Array, k: number, varFloor: Float64Array, iters = 6, minFramesPerComp = 50): DiagGmm {
  const n = frames.length;
  k = Math.max(1, Math.min(k, Math.floor(n / minFramesPerComp)));
  const mean = new Float64Array(k * d);
  const prec = new Float64Array(k * d);
  const logw = new Float64Array(k).fill(-Math.log(k));
  // Global variance as the starting variance of every component.
  const gm = new Float64Array(d);
  const gv = new Float64Array(d);
  for (let j = 0; j < n; j++) for (let i = 0; i < d; i++) gm[i] += data[frames[j] * d + i];
  for (let i = 0; i < d; i++) gm[i] /= Math.max(1, n);
  for (let j = 0; j < n; j++) for (let i = 0; i < d; i++) gv[i] += (data[frames[j] * d + i] - gm[i]) ** 2;
  for (let i = 0; i < d; i++) gv[i] = Math.max(gv[i] / Math.max(1, n), varFloor[i]);
  for (let c = 0; c < k; c++) {
    // Means: averages of k contiguous chunks of the frames (time order follows the data).
    const a = Math.floor((c * n) / k);
    const b = Math.max(a + 1, Math.floor(((c + 1) * n) / k));
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = a; j < b && j < n; j++) s += data[frames[j] * d + i];
      mean[c * d + i] = k === 1 ? gm[i] : s / Math.max(1, Math.min(b, n) - a);
      prec[c * d + i] = 1 / gv[i];
    }
  }
  let g = finish({ k, d, logw, mean, prec });
  if (k === 1 || n === 0) return g;
  const tmp = new Float64Array(k);
  const resp = new Float64Array(k);
  for (let it = 0; it < iters; it++) {
    const nk = new Float64Array(k);
    const s1 = new Float64Array(k * d);
    const s2 = new Float64Array(k * d);
    for (let j = 0; j < n; j++) {
      const f = frames[j];
      const ll = gmmLogLik(g, data, f, tmp);
      for (let c = 0; c < k; c++) resp[c] = Math.exp(tmp[c] - ll);
      const row = f * d;
      for (let c = 0; c < k; c++) {
        const r = resp[c];
        if (r < 1e-6) continue;
        nk[c] += r;
        const o = c * d;
        for (let i = 0; i < d; i++) {
          const x = data[row + i];
          s1[o + i] += r * x;
          s2[o + i] += r * x * x;
        }
      }
    }
    const nm = new Float64Array(k * d);
    const np = new Float64Array(k * d);
    const nw = new Float64Array(k);
    for (let c = 0; c < k; c++) {
      const w = Math.max(nk[c], 1e-3);
      nw[c] = Math.log(w / n);
      for (let i = 0; i < d; i++) {
        const m = nk[c] > 1 ? s1[c * d + i] / w : g.mean[c * d + i];
        const v = nk[c] > 1 ? s2[c * d + i] / w - m * m : 1 / g.prec[c * d + i];
        nm[c * d + i] = m;
        np[c * d + i] = 1 / Math.max(v, varFloor[i]);
      }
    }
    g = finish({ k, d, logw: nw, mean: nm, prec: np });
  }
  return g;
}
