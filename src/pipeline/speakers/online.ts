/**
 * Real-time diarization without weights: sequential BIC clustering of each final's segment.
 *
 * Each final's audio is cut at ΔBIC speaker changes (Chen & Gopalakrishnan 1998) into pieces; each
 * piece is compared with every known speaker's Gaussian model by ΔBIC (the same test the batch
 * clustering uses as its stopping rule). The best speaker takes the piece when ΔBIC < 0 (one
 * Gaussian explains both: same voice) and its model absorbs the piece's statistics; otherwise,
 * if the piece holds at least `minNewSeconds` (1.5 s) of speech, a new speaker opens. Labels are indices
 * into the session's speaker list: never renumbered, and a new voice can appear at any time.
 * Sequential/online BIC clustering of this kind: e.g. Liu & Kubala, "Online speaker clustering",
 * ICASSP 2004; Kotti, Moschou & Kotropoulos, Signal Processing 88(5), 2008 (review).
 *
 * A speaker's statistics are capped at `capSeconds` of speech (older data scaled down): the model
 * follows slow drift, and the BIC penalty, which grows with log N, stays comparable over a long
 * session. The state is a few kB per speaker (d=12: 12 + 144 numbers) and lives in the session.
 */
import { addStats, deltaBic, gaussLogLik, gaussModel, scaleStats, statsOf, type GaussStats } from './gaussian.ts';
import { changePoints, features, HOP, round3, type Turn } from './classical.ts';
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
}

/** Structured-clone state kept per session (ctx.state). */
export interface OnlineState {
  d: number;
  speakers: { n: number; sum: Float64Array; sq: Float64Array }[];
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
  const st: OnlineState = { d, speakers: state.d === d ? state.speakers : [], global: state.d === d ? state.global : null };
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
  for (const p of merged) {
    const s = statsOf(fs.x, d, p.a, p.b, fs.mask);
    if (s.n < 10) continue;
    let best = -1;
    let bestV = Infinity;
    st.speakers.forEach((spk, k) => {
      const v = deltaBic(s, spk as GaussStats, lambda, reg);
      if (v < bestV) {
        bestV = v;
        best = k;
      }
    });
    let k = best;
    if (best < 0 || (bestV >= 0 && s.n >= minNew && st.speakers.length < maxSpk)) {
      st.speakers.push(s);
      k = st.speakers.length - 1;
    } else {
      let m = addStats(st.speakers[k] as GaussStats, s);
      if (m.n > cap) m = scaleStats(m, cap / m.n);
      st.speakers[k] = m;
    }
    for (let t = p.a; t < p.b; t++) if (fs.mask[t]) lab[t] = k;
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
