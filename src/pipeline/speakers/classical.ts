/**
 * The weight-free ("classical") diarizer: what serves `diarize=true` when no neural diarization
 * models are installed. A textbook BIC system in the line of Chen & Gopalakrishnan (1998), as
 * refined in LIUM SpkDiarization (Meignier & Merlin, 2010):
 *
 *  1. speech regions: Silero VAD when configured, else an adaptive energy detector (speech.ts);
 *  2. features: MFCC c1..c(d) every 10 ms (dsp/mfcc.ts; c0 dropped: loudness is not identity);
 *  3. speaker change detection inside each region by ΔBIC between two adjacent windows slid over
 *     candidate points (Chen & Gopalakrishnan 1998; window scheme after Delacourt & Wellekens,
 *     "DISTBIC", Speech Communication 32, 2000), local maxima with ΔBIC > 0 are changes; long
 *     segments are then cut into pieces of at most `maxSegment` s so that a missed change costs
 *     little;
 *  4. clustering: agglomerative, full-covariance Gaussian per cluster, merge the pair with the
 *     lowest ΔBIC while it is negative: the BIC itself is the stopping rule, so the number of
 *     speakers is estimated, not given (Chen & Gopalakrishnan 1998, §4);
 *  5. resegmentation: a diagonal GMM per speaker trained on its frames, Viterbi decoding of the
 *     speech frames with a fixed speaker-switch penalty (an ergodic HMM, one state per speaker,
 *     as LIUM's Viterbi resegmentation), two iterations; speakers left with too little speech
 *     are dropped and their frames decoded again.
 *
 * Output: speaker turns, the per-frame speaker, and the final speaker models so words can be
 * scored (speaker confidence = margin between the best and second-best speaker model).
 */
import { mfcc } from '../dsp/mfcc.ts';
import { deltaBic, addStats, logDetCov, statsOf, type GaussStats } from './gaussian.ts';
import { gmmLogLik, trainGmm, type DiagGmm } from './gmm.ts';
import { maskToRegions, speechMask } from './speech.ts';

export const HOP = 0.01;

export interface ClassicalOptions {
  vadModel?: string;
  /** Cepstra used: c1..c(ceps) (default 12). */
  ceps?: number;
  /** BIC penalty weight for change detection (default 1.0). */
  lambdaChange?: number;
  /** BIC penalty weight for clustering (default 2.0, tuned on diar_pyannote; see bench/diarization-eval.ts). */
  lambdaCluster?: number;
  /** Half-window of change detection, s (default 1.0). */
  changeWindow?: number;
  /** Longest segment before clustering, s (default 2.0). */
  maxSegment?: number;
  /** Exact speaker count when known. */
  numSpeakers?: number;
  /** Upper bound on speakers (default 8). */
  maxSpeakers?: number;
  /** Speaker-switch log penalty of the Viterbi resegmentation (default 60). */
  switchPenalty?: number;
  /** Mixture components per speaker GMM (default 8). */
  gmmComponents?: number;
  /** Resegmentation iterations (default 2). */
  resegIterations?: number;
}

export interface Turn {
  start: number;
  end: number;
  speaker: number;
}

export interface FeatureSet {
  /** frames × d, MFCC c1..cd */
  x: Float32Array;
  d: number;
  frames: number;
  mask: Uint8Array;
  speechMethod: 'silero' | 'energy';
  /** Per-dimension covariance floor (1% of the speech frames' variance). */
  reg: Float64Array;
  /** Natural-log frame energies. */
  logEnergy: Float32Array;
}

export function features(pcm: Float32Array, opts: { vadModel?: string; ceps?: number }): FeatureSet {
  const ceps = opts.ceps ?? 12;
  const f = mfcc(pcm, { numCeps: ceps + 1 });
  const d = ceps;
  const x = new Float32Array(f.frames * d);
  for (let t = 0; t < f.frames; t++) for (let i = 0; i < d; i++) x[t * d + i] = f.data[t * f.dims + i + 1];
  const { mask, method } = speechMask(pcm, f.logEnergy, { vadModel: opts.vadModel });
  const reg = speechVarianceFloor(x, d, mask, 0.01);
  return { x, d, frames: f.frames, mask, speechMethod: method, reg, logEnergy: f.logEnergy };
}

export function speechVarianceFloor(x: Float32Array, d: number, mask: Uint8Array, k: number): Float64Array {
  const s = statsOf(x, d, 0, mask.length, mask);
  const reg = new Float64Array(d);
  const n = Math.max(1, s.n);
  for (let i = 0; i < d; i++) reg[i] = s.n > 1 ? k * Math.max(1e-6, s.sq[i * d + i] / n - (s.sum[i] / n) ** 2) : k;
  return reg;
}

interface Segment {
  /** frame range [a, b) */
  a: number;
  b: number;
}

/** ΔBIC change points (frame indices) inside frames [a, b). */
export function changePoints(fs: FeatureSet, a: number, b: number, lambda: number, win: number): number[] {
  const step = 10;
  const minSide = 50;
  const scores: { t: number; v: number }[] = [];
  for (let t = a + minSide; t <= b - minSide; t += step) {
    const l = Math.max(a, t - win);
    const r = Math.min(b, t + win);
    const L = statsOf(fs.x, fs.d, l, t);
    const R = statsOf(fs.x, fs.d, t, r);
    scores.push({ t, v: deltaBic(L, R, lambda, fs.reg) });
  }
  const out: number[] = [];
  const reach = Math.round(win / step / 2);
  for (let i = 0; i < scores.length; i++) {
    if (scores[i].v <= 0) continue;
    let peak = true;
    for (let j = Math.max(0, i - reach); j <= Math.min(scores.length - 1, i + reach); j++) {
      if (scores[j].v > scores[i].v || (scores[j].v === scores[i].v && j < i)) {
        peak = false;
        break;
      }
    }
    if (peak) out.push(scores[i].t);
  }
  return out;
}

export function segmentSpeech(fs: FeatureSet, o: ClassicalOptions): Segment[] {
  const win = Math.round((o.changeWindow ?? 1.0) / HOP);
  const maxLen = Math.round((o.maxSegment ?? 2.0) / HOP);
  const segs: Segment[] = [];
  for (const r of maskToRegions(fs.mask)) {
    const a = Math.round(r.start / HOP);
    const b = Math.min(fs.frames, Math.round(r.end / HOP));
    const cuts = [a, ...changePoints(fs, a, b, o.lambdaChange ?? 1.0, win), b];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const len = cuts[i + 1] - cuts[i];
      const pieces = Math.max(1, Math.round(len / maxLen));
      for (let p = 0; p < pieces; p++) {
        segs.push({ a: cuts[i] + Math.round((p * len) / pieces), b: cuts[i] + Math.round(((p + 1) * len) / pieces) });
      }
    }
  }
  return segs.filter((s) => s.b > s.a);
}

/**
 * Agglomerative BIC clustering of segments. Returns a cluster index per segment (−1: too short
 * to cluster; the resegmentation assigns it).
 */
export function bicClustering(fs: FeatureSet, segs: Segment[], o: ClassicalOptions): Int32Array {
  return clusterStats(segs.map((s) => statsOf(fs.x, fs.d, s.a, s.b)), fs.reg, o);
}

/** Agglomerative BIC clustering of per-segment Gaussian statistics (segments < 30 frames: −1). */
export function clusterStats(segStats: GaussStats[], reg: Float64Array, o: ClassicalOptions): Int32Array {
  const lambda = o.lambdaCluster ?? 2.0;
  const minFrames = 30;
  const idx = segStats.map((_, i) => i).filter((i) => segStats[i].n >= minFrames);
  const label = new Int32Array(segStats.length).fill(-1);
  if (!idx.length) return label;
  type C = { stats: GaussStats; ld: number; members: number[] };
  const fs = { reg };
  let clusters: (C | null)[] = idx.map((i) => {
    const stats = segStats[i];
    return { stats, ld: logDetCov(stats, fs.reg), members: [i] };
  });
  const n = clusters.length;
  const dist = new Float64Array(n * n).fill(Infinity);
  const pair = (i: number, j: number) => {
    const a = clusters[i]!;
    const b = clusters[j]!;
    return deltaBic(a.stats, b.stats, lambda, fs.reg, a.ld, b.ld);
  };
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) dist[i * n + j] = pair(i, j);
  let alive = n;
  const maxSpk = o.maxSpeakers ?? 8;
  const target = o.numSpeakers;
  // Row minima (over j > i) so a merge step costs O(n), not a full O(n²) scan.
  const rowMin = new Float64Array(n).fill(Infinity);
  const rowArg = new Int32Array(n).fill(-1);
  const scanRow = (i: number) => {
    rowMin[i] = Infinity;
    rowArg[i] = -1;
    if (!clusters[i]) return;
    for (let j = i + 1; j < n; j++) {
      if (clusters[j] && dist[i * n + j] < rowMin[i]) {
        rowMin[i] = dist[i * n + j];
        rowArg[i] = j;
      }
    }
  };
  for (let i = 0; i < n; i++) scanRow(i);
  for (;;) {
    if (alive <= 1 || (target !== undefined && alive <= target)) break;
    let bi = -1;
    let best = Infinity;
    for (let i = 0; i < n; i++) {
      if (clusters[i] && rowArg[i] >= 0 && rowMin[i] < best) {
        best = rowMin[i];
        bi = i;
      }
    }
    if (bi < 0) break;
    const bj = rowArg[bi];
    if (best >= 0 && target === undefined && alive <= maxSpk) break;
    const a = clusters[bi]!;
    const b = clusters[bj]!;
    const stats = addStats(a.stats, b.stats);
    clusters[bi] = { stats, ld: logDetCov(stats, fs.reg), members: [...a.members, ...b.members] };
    clusters[bj] = null;
    alive--;
    for (let k = 0; k < n; k++) {
      if (k === bi || !clusters[k]) continue;
      const lo = Math.min(k, bi);
      const hi = Math.max(k, bi);
      dist[lo * n + hi] = pair(lo, hi);
    }
    // Rows whose minimum involved bi or bj are rescanned; rows before bi may see a new minimum at bi.
    for (let k = 0; k < n; k++) {
      if (!clusters[k]) continue;
      if (k === bi || rowArg[k] === bi || rowArg[k] === bj) scanRow(k);
      else if (k < bi && dist[k * n + bi] < rowMin[k]) {
        rowMin[k] = dist[k * n + bi];
        rowArg[k] = bi;
      }
    }
  }
  clusters = clusters.filter(Boolean);
  clusters.forEach((c, ci) => {
    for (const m of c!.members) label[idx[m]] = ci;
  });
  return label;
}

/** Per-frame log-likelihoods under each model: frames × K. */
export function frameScores(fs: FeatureSet, models: DiagGmm[], frames?: Int32Array): Float64Array {
  const K = models.length;
  const list = frames ?? Int32Array.from({ length: fs.frames }, (_, i) => i);
  const out = new Float64Array(fs.frames * K);
  const tmp = new Float64Array(64);
  for (const f of list) for (let k = 0; k < K; k++) out[f * K + k] = gmmLogLik(models[k], fs.x, f, tmp);
  return out;
}

/** Viterbi over the speech frames (an ergodic HMM, one state per speaker, switch penalty `pen`). */
export function viterbi(fs: FeatureSet, ll: Float64Array, K: number, pen: number): Int16Array {
  const lab = new Int16Array(fs.frames).fill(-1);
  const speech: number[] = [];
  for (let f = 0; f < fs.frames; f++) if (fs.mask[f]) speech.push(f);
  if (!speech.length || !K) return lab;
  const T = speech.length;
  const back = new Int16Array(T * K);
  let score = new Float64Array(K);
  for (let k = 0; k < K; k++) score[k] = ll[speech[0] * K + k];
  for (let t = 1; t < T; t++) {
    const f = speech[t];
    let bestPrev = 0;
    for (let k = 1; k < K; k++) if (score[k] > score[bestPrev]) bestPrev = k;
    const next = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      const stay = score[k];
      const sw = score[bestPrev] - pen;
      if (stay >= sw || bestPrev === k) {
        next[k] = stay + ll[f * K + k];
        back[t * K + k] = k;
      } else {
        next[k] = sw + ll[f * K + k];
        back[t * K + k] = bestPrev;
      }
    }
    score = next;
  }
  let k = 0;
  for (let j = 1; j < K; j++) if (score[j] > score[k]) k = j;
  for (let t = T - 1; t >= 0; t--) {
    lab[speech[t]] = k;
    k = back[t * K + k];
  }
  return lab;
}

export interface ClassicalResult {
  turns: Turn[];
  speakerCount: number;
  /** Per 10 ms frame: speaker, −1 outside speech. */
  frameSpeaker: Int16Array;
  fs: FeatureSet;
  models: DiagGmm[];
  /** Frame log-likelihoods under each final model (frames × speakerCount). */
  ll: Float64Array;
  segments: number;
}

function trainModels(fs: FeatureSet, lab: Int16Array | Int32Array, K: number, comps: number): DiagGmm[] {
  const per: number[][] = Array.from({ length: K }, () => []);
  for (let f = 0; f < fs.frames; f++) if (lab[f] >= 0 && fs.mask[f]) per[lab[f]].push(f);
  const floor = fs.reg;
  return per.map((frames) => trainGmm(fs.x, fs.d, Int32Array.from(frames), comps, floor));
}

export function diarizeClassical(pcm: Float32Array, o: ClassicalOptions = {}): ClassicalResult {
  const fs = features(pcm, o);
  const segs = segmentSpeech(fs, o);
  const segLabel = bicClustering(fs, segs, o);
  let K = segLabel.reduce((m, v) => Math.max(m, v + 1), 0);
  let lab: Int16Array = new Int16Array(fs.frames).fill(-1);
  segs.forEach((s, i) => {
    if (segLabel[i] >= 0) lab.fill(segLabel[i], s.a, s.b);
  });
  const comps = o.gmmComponents ?? 8;
  const pen = o.switchPenalty ?? 60;
  let models: DiagGmm[] = [];
  let ll: Float64Array = new Float64Array(0);
  const speechFrames = Int32Array.from({ length: fs.frames }, (_, i) => i).filter((f) => fs.mask[f]);
  const iters = o.resegIterations ?? 2;
  for (let it = 0; it <= iters && K > 0; it++) {
    models = trainModels(fs, lab, K, comps);
    ll = frameScores(fs, models, speechFrames);
    lab = viterbi(fs, ll, K, pen);
    // Drop speakers with too little speech (< 1 s or < 2% of the speech), then decode again.
    const counts = new Array(K).fill(0);
    for (let f = 0; f < fs.frames; f++) if (lab[f] >= 0) counts[lab[f]]++;
    const minFrames = Math.max(100, 0.02 * speechFrames.length);
    const keep = counts.map((c, k) => (c >= minFrames ? k : -1)).filter((k) => k >= 0);
    if (keep.length && keep.length < K && o.numSpeakers === undefined) {
      models = keep.map((k) => models[k]);
      const K2 = keep.length;
      const ll2 = new Float64Array(fs.frames * K2);
      for (const f of speechFrames) keep.forEach((k, i) => (ll2[f * K2 + i] = ll[f * K + k]));
      K = K2;
      ll = ll2;
      lab = viterbi(fs, ll, K, pen);
    }
  }
  // Labels in order of first appearance: 0, 1, 2, ...
  const order: number[] = [];
  for (let f = 0; f < fs.frames; f++) if (lab[f] >= 0 && !order.includes(lab[f])) order.push(lab[f]);
  const rank = new Map(order.map((k, i) => [k, i]));
  const frameSpeaker = new Int16Array(fs.frames).fill(-1);
  for (let f = 0; f < fs.frames; f++) if (lab[f] >= 0) frameSpeaker[f] = rank.get(lab[f])!;
  const K2 = order.length;
  const ll2 = new Float64Array(fs.frames * K2);
  for (const f of speechFrames) order.forEach((k, i) => (ll2[f * K2 + i] = ll[f * K + k]));
  return {
    turns: framesToTurns(frameSpeaker),
    speakerCount: K2,
    frameSpeaker,
    fs,
    models: order.map((k) => models[k]),
    ll: ll2,
    segments: segs.length,
  };
}

export function framesToTurns(lab: Int16Array, hop = HOP, offset = 0): Turn[] {
  const out: Turn[] = [];
  let f = 0;
  while (f < lab.length) {
    if (lab[f] < 0) {
      f++;
      continue;
    }
    let e = f;
    while (e < lab.length && lab[e] === lab[f]) e++;
    out.push({ start: round3(offset + f * hop), end: round3(offset + e * hop), speaker: lab[f] });
    f = e;
  }
  return out;
}

export const round3 = (x: number) => Math.round(x * 1000) / 1000;


/**
 * Symmetric per-frame cross-likelihood distance between two speakers' models on their own frames:
 * ½[E_i log p(x|λ_i)/p(x|λ_j) + E_j log p(x|λ_j)/p(x|λ_i)], a Monte-Carlo symmetric KL divergence
 * (the GMM distance of Reynolds et al. 1998 / the CLR of Solomonoff et al. 1998 without a UBM).
 */
export function crossLikelihoodDistance(fs: FeatureSet, lab: Int16Array, models: DiagGmm[], i: number, j: number): number {
  const tmp = new Float64Array(64);
  let si = 0, ni = 0, sj = 0, nj = 0;
  for (let f = 0; f < fs.frames; f++) {
    if (lab[f] === i) {
      si += gmmLogLik(models[i], fs.x, f, tmp) - gmmLogLik(models[j], fs.x, f, tmp);
      ni++;
    } else if (lab[f] === j) {
      sj += gmmLogLik(models[j], fs.x, f, tmp) - gmmLogLik(models[i], fs.x, f, tmp);
      nj++;
    }
  }
  return 0.5 * (si / Math.max(1, ni) + sj / Math.max(1, nj));
}
