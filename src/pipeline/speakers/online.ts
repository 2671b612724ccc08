/**
 * Real-time diarization without weights. Each final's audio is cut at ΔBIC speaker changes
 * (Chen & Gopalakrishnan 1998) into pieces of at most 2 s of speech. Then (default) the session's
 * recent pieces (up to `maxPieces`, as Gaussian statistics, not audio) and the new ones are
 * re-clustered by agglomerative BIC, the batch clustering, and the clusters are aligned to the
 * labels already sent: a cluster takes the label most of its past speech carried (one cluster per
 * label); a cluster made only of new speech, with at least `minNewSeconds` of it, opens a new label.
 * New pieces take their cluster's label. Past labels are never changed or renumbered, and a new
 * voice can appear at any time. This is online clustering with re-clustering over a sliding
 * history and label alignment, the scheme of streaming diarizers such as diart (Coria et al.,
 * "Overlap-aware low-latency online speaker diarization based on end-to-end local segmentation",
 * ASRU 2021) with BIC clusters instead of neural embeddings.
 *
 * `recluster: false` selects plain sequential BIC assignment (each piece to the nearest speaker
 * model if ΔBIC < 0, else a new speaker; Liu & Kubala, "Online speaker clustering", ICASSP 2004):
 * cheaper, but measured worse (bench/diarization-eval.ts: 45.7% vs 37.2% DER).
 *
 * Speaker models (for word confidences) are capped at `capSeconds` of speech (older data scaled
 * down). State per session: ~1.3 kB per speaker and per kept piece (d=12: 12 + 144 numbers).
 */
import { addStats, deltaBic, gaussLogLik, gaussModel, scaleStats, statsOf, type GaussStats } from './gaussian.ts';
import { changePoints, clusterStats, features, HOP, round3, type Turn } from './classical.ts';
import { assignWords, sigmoid, type Span, type WordSpeaker } from './words.ts';
import { cleanMask } from './speech.ts';

export interface OnlineOptions {
  vadModel?: string;
  ceps?: number;
  /** BIC penalty weight when matching a piece to a known speaker (default 1.7, tuned on the shared sets by bench/diarization-eval.ts). */
  lambda?: number;
  lambdaChange?: number;
  /** Least speech (s) a piece must hold to open a new speaker (default 1.5). */
  minNewSeconds?: number;
  /** Cap of a speaker model's statistics, s of speech (default 60). */
  capSeconds?: number;
  maxSpeakers?: number;
  /** Re-cluster recent pieces each final and align to the labels sent (default true); false: greedy sequential assignment. */
  recluster?: boolean;
  /** BIC penalty weight of the re-clustering (default 2.0, as batch). */
  clusterLambda?: number;
  /** Pieces kept for re-clustering (default 80, about 2.5 minutes of speech; bounds the per-final cost). */
  maxPieces?: number;
}

/** Structured-clone state kept per session (ctx.state). */
export interface OnlineState {
  d: number;
  speakers: { n: number; sum: Float64Array; sq: Float64Array }[];
  /** Recent pieces (≤ 2 s of speech each) with the label they were given (re-clustering). */
  pieces?: { n: number; sum: Float64Array; sq: Float64Array; label: number }[];
  /** All speech frames of the session (for the covariance floor). */
  global: { n: number; sum: Float64Array; sq: Float64Array } | null;
}

export function newOnlineState(): OnlineState {
  return { d: 0, speakers: [], global: null };
}

export interface OnlineResult {
  state: OnlineState;
  turns: Turn[];
  words: WordSpeaker[];
  speakerCount: number;
}

/**
 * `pcm`: the final's audio; `offset`: its time on the session axis; `words`: session times.
 */
export function diarizeOnline(pcm: Float32Array, offset: number, words: Span[], state: OnlineState, o: OnlineOptions = {}): OnlineResult {
  const fs = features(pcm, { vadModel: o.vadModel, ceps: o.ceps });
  if (!o.vadModel) {
    // The engine's endpointer already cut this segment around speech: only drop frames far under
    // its loudest part (the noise-floor percentile of a mostly-speech segment would be speech).
    let peak = -Infinity;
    const e = Float32Array.from(fs.logEnergy, (v) => (10 / Math.LN10) * v);
    for (const v of e) peak = Math.max(peak, v);
    for (let f = 0; f < fs.frames; f++) fs.mask[f] = e[f] >= Math.max(peak - 35, -45) ? 1 : 0;
    cleanMask(fs.mask, 30, 10);
  }
  const d = fs.d;
  const st: OnlineState = { d, speakers: state.d === d ? state.speakers : [], pieces: state.d === d ? state.pieces : [], global: state.d === d ? state.global : null };
  const here = statsOf(fs.x, d, 0, fs.frames, fs.mask);
  const global = st.global ? addStats(st.global as GaussStats, here) : here;
  st.global = global;
  const reg = new Float64Array(d);
  for (let i = 0; i < d; i++) reg[i] = 0.01 * Math.max(1e-6, global.sq[i * d + i] / Math.max(1, global.n) - (global.sum[i] / Math.max(1, global.n)) ** 2);
  fs.reg = reg;

  // Pieces: speech runs cut at ΔBIC change points; pieces under 0.5 s join their left neighbour.
  const pieces: { a: number; b: number }[] = [];
  let f = 0;
  while (f < fs.frames) {
    if (!fs.mask[f]) {
      f++;
      continue;
    }
    let e = f;
    while (e < fs.frames && fs.mask[e]) e++;
    const cuts = [f, ...changePoints(fs, f, e, o.lambdaChange ?? 1.0, 100), e];
    for (let i = 0; i + 1 < cuts.length; i++) pieces.push({ a: cuts[i], b: cuts[i + 1] });
    f = e;
  }
  const merged: { a: number; b: number }[] = [];
  for (const p of pieces) {
    const last = merged[merged.length - 1];
    if (last && (p.b - p.a < 50 || last.b - last.a < 50) && p.a - last.b < 50) last.b = p.b;
    else merged.push({ ...p });
  }

  const lambda = o.lambda ?? 1.7;
  const cap = (o.capSeconds ?? 60) / HOP;
  const minNew = (o.minNewSeconds ?? 1.5) / HOP;
  const maxSpk = o.maxSpeakers ?? 16;
  const lab = new Int16Array(fs.frames).fill(-1);
  const absorb = (k: number, s: GaussStats) => {
    let m = addStats(st.speakers[k] as GaussStats, s);
    if (m.n > cap) m = scaleStats(m, cap / m.n);
    st.speakers[k] = m;
  };
  /** Known speaker closest to `s` by ΔBIC, and that ΔBIC. */
  const nearest = (s: GaussStats): [number, number] => {
    let best = -1;
    let bestV = Infinity;
    st.speakers.forEach((spk, k) => {
      const v = deltaBic(s, spk as GaussStats, lambda, reg);
      if (v < bestV) {
        bestV = v;
        best = k;
      }
    });
    return [best, bestV];
  };
  if (o.recluster === false) {
    for (const p of merged) {
      const s = statsOf(fs.x, d, p.a, p.b, fs.mask);
      if (s.n < 10) continue;
      const [best, bestV] = nearest(s);
      let k = best;
      if (best < 0 || (bestV >= 0 && s.n >= minNew && st.speakers.length < maxSpk)) {
        st.speakers.push(s);
        k = st.speakers.length - 1;
      } else absorb(k, s);
      for (let t = p.a; t < p.b; t++) if (fs.mask[t]) lab[t] = k;
    }
  } else {
    // Re-cluster the session's recent pieces together with this final's (agglomerative BIC, the
    // batch clustering), then align clusters to the labels already sent: a cluster takes the label
    // most of its past speech carried (one cluster per label); a cluster of new speech only, with
    // enough of it, opens a new label. Past labels are never changed.
    const maxLen = 200;
    const fresh: { a: number; b: number; s: GaussStats }[] = [];
    for (const p of merged) {
      const parts = Math.max(1, Math.round((p.b - p.a) / maxLen));
      for (let q = 0; q < parts; q++) {
        const a = p.a + Math.round(((p.b - p.a) * q) / parts);
        const b = p.a + Math.round(((p.b - p.a) * (q + 1)) / parts);
        const s = statsOf(fs.x, d, a, b, fs.mask);
        if (s.n >= 10) fresh.push({ a, b, s });
      }
    }
    const past = st.pieces ?? [];
    const all = [...past.map((p) => p as GaussStats), ...fresh.map((f) => f.s)];
    const cl = clusterStats(all, reg, { lambdaCluster: o.clusterLambda ?? 2.0, maxSpeakers: maxSpk });
    const weight = new Map<string, number>();
    past.forEach((p, i) => {
      if (cl[i] < 0) return;
      const key = `${cl[i]}:${p.label}`;
      weight.set(key, (weight.get(key) ?? 0) + p.n);
    });
    const map = new Map<number, number>();
    const used = new Set<number>();
    for (const [key] of [...weight.entries()].sort((x, y) => y[1] - x[1])) {
      const [c, l] = key.split(':').map(Number);
      if (map.has(c) || used.has(l)) continue;
      map.set(c, l);
      used.add(l);
    }
    const newSpeech = new Map<number, number>();
    fresh.forEach((f, j) => {
      const c = cl[past.length + j];
      if (c >= 0 && !map.has(c)) newSpeech.set(c, (newSpeech.get(c) ?? 0) + f.s.n);
    });
    for (const [c, n] of newSpeech) {
      if ((n >= minNew || !st.speakers.length) && st.speakers.length < maxSpk) {
        st.speakers.push({ n: 0, sum: new Float64Array(d), sq: new Float64Array(d * d) });
        map.set(c, st.speakers.length - 1);
      }
    }
    const pieces = [...past];
    fresh.forEach((f, j) => {
      const c = cl[past.length + j];
      let k = c >= 0 ? (map.get(c) ?? -1) : -1;
      if (k < 0) k = Math.max(0, nearest(f.s)[0]);
      if (!st.speakers[k]) st.speakers[k] = { n: 0, sum: new Float64Array(d), sq: new Float64Array(d * d) };
      absorb(k, f.s);
      pieces.push({ ...f.s, label: k });
      for (let t = f.a; t < f.b; t++) if (fs.mask[t]) lab[t] = k;
    });
    st.pieces = pieces.slice(-(o.maxPieces ?? 80));
  }
  // Turns on the session axis.
  const turns: Turn[] = [];
  let t = 0;
  while (t < lab.length) {
    if (lab[t] < 0) {
      t++;
      continue;
    }
    let e = t;
    while (e < lab.length && (lab[e] === lab[t] || (lab[e] === -1 && e + 1 < lab.length && lab[e + 1] === lab[t]))) e++;
    turns.push({ start: round3(offset + t * HOP), end: round3(offset + e * HOP), speaker: lab[t] });
    t = e;
  }
  // Word confidence: full-covariance Gaussian log-likelihoods under each session speaker.
  const K = st.speakers.length;
  const models = st.speakers.map((s) => gaussModel(s as GaussStats, reg));
  const tmp = new Float64Array(d);
  const local = words.map((w) => ({ start: w.start - offset, end: w.end - offset }));
  const localTurns = turns.map((x) => ({ ...x, start: x.start - offset, end: x.end - offset }));
  let ws: WordSpeaker[];
  if (!turns.length) {
    // No speech found in this piece (very short final): nearest-model assignment of its words.
    ws = local.map((w) => {
      if (!K) return { speaker: 0, confidence: 0.5 };
      const a = Math.max(0, Math.floor(w.start / HOP));
      const b = Math.min(fs.frames, Math.max(a + 1, Math.ceil(w.end / HOP)));
      const sc = models.map((m) => {
        let s = 0;
        for (let q = a; q < b && q < fs.frames; q++) s += gaussLogLik(m, fs.x, q, tmp);
        return s / Math.max(1, b - a);
      });
      const order = sc.map((v, i) => [v, i]).sort((x, y) => y[0] - x[0]);
      return { speaker: order[0][1], confidence: K < 2 ? 1 : Math.round(sigmoid(order[0][0] - order[1][0]) * 1000) / 1000 };
    });
  } else {
    ws = assignWords(local, localTurns, K, fs.frames, HOP, (q, k) => gaussLogLik(models[k], fs.x, q, tmp));
  }
  if (!st.speakers.length) st.speakers.push(statsOf(fs.x, d, 0, fs.frames));
  return { state: st, turns, words: ws, speakerCount: Math.max(1, st.speakers.length) };
}
