/**
 * Neural diarization through sherpa-onnx-node, used when the catalog models are installed:
 *
 *  - batch: `OfflineSpeakerDiarization` (pyannote segmentation-3.0 powerset model over 10 s windows
 *    + a speaker-embedding model + agglomerative clustering with a cosine threshold), the
 *    pipeline of Bredin et al., "pyannote.audio 2.1 speaker diarization pipeline", Interspeech 2023
 *    (Plaquet & Bredin, "Powerset multi-class cross entropy loss for neural speaker diarization",
 *    Interspeech 2023) as ported by k2-fsa;
 *  - real time: the same embedding model (`SpeakerEmbeddingExtractor`) on each final's speech,
 *    assigned to the nearest speaker centroid by cosine similarity above `threshold`, else a new
 *    speaker (labels never renumbered). Centroids are running means of normalised embeddings.
 *
 * Speaker confidence of a word: margin between the cosine similarity of its turn's embedding to
 * the assigned speaker's centroid and to the next-best centroid, through a logistic (slope 10).
 */
import { createRequire } from 'node:module';
import type { Turn } from './classical.ts';
import { speakerByOverlap, sigmoid, type Span, type WordSpeaker } from './words.ts';

export interface NeuralModels {
  /** pyannote-segmentation-3-0 model.onnx */
  segmentation: string;
  /** speaker-embedding model (wespeaker CAM++, 3D-Speaker, NeMo ...) */
  embedding: string;
}

export interface NeuralOptions {
  /** Clustering cosine-distance threshold of sherpa's FastClustering (default 0.5). */
  clusterThreshold?: number;
  numSpeakers?: number;
  /** Real time: least cosine similarity to join a known speaker (default 0.5). */
  threshold?: number;
}

interface OnlineStream {
  acceptWaveform(o: { samples: Float32Array; sampleRate: number }): void;
  inputFinished(): void;
}
interface Extractor {
  dim: number;
  createStream(): OnlineStream;
  isReady(s: OnlineStream): boolean;
  compute(s: OnlineStream, external?: boolean): Float32Array;
}
interface Diarizer {
  sampleRate: number;
  process(samples: Float32Array): { start: number; end: number; speaker: number }[];
}
type Sherpa = {
  OfflineSpeakerDiarization: new (c: object) => Diarizer;
  SpeakerEmbeddingExtractor: new (c: object) => Extractor;
};
let sherpa: Sherpa | undefined;
const load = () => (sherpa ??= createRequire(import.meta.url)('sherpa-onnx-node') as Sherpa);

const diarizers = new Map<string, Diarizer>();
const extractors = new Map<string, Extractor>();

function diarizer(m: NeuralModels, o: NeuralOptions): Diarizer {
  const key = `${m.segmentation}|${m.embedding}|${o.clusterThreshold}|${o.numSpeakers}`;
  let d = diarizers.get(key);
  if (!d) {
    d = new (load().OfflineSpeakerDiarization)({
      segmentation: { pyannote: { model: m.segmentation }, numThreads: 1, debug: 0 },
      embedding: { model: m.embedding, numThreads: 1, debug: 0 },
      clustering: { numClusters: o.numSpeakers ?? -1, threshold: o.clusterThreshold ?? 0.5 },
      minDurationOn: 0.2,
      minDurationOff: 0.5,
    });
    diarizers.set(key, d);
  }
  return d;
}

function extractor(model: string): Extractor {
  let e = extractors.get(model);
  if (!e) {
    e = new (load().SpeakerEmbeddingExtractor)({ model, numThreads: 1, debug: 0 });
    extractors.set(model, e);
  }
  return e;
}

/** Unit-length embedding of `pcm`, or undefined when too short for the model. */
export function embed(model: string, pcm: Float32Array): Float32Array | undefined {
  const ex = extractor(model);
  const s = ex.createStream();
  s.acceptWaveform({ samples: pcm, sampleRate: 16000 });
  s.inputFinished();
  if (!ex.isReady(s)) return undefined;
  const v = Float32Array.from(ex.compute(s, false));
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

const dot = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const unit = (v: Float32Array) => {
  const n = Math.sqrt(dot(v, v)) || 1;
  return v.map((x) => x / n);
};

/** Cosine margin (assigned vs best other centroid) → confidence. */
function margin(e: Float32Array | undefined, centroids: Float32Array[], k: number): number {
  if (centroids.length < 2 || !e) return centroids.length < 2 ? 1 : 0.5;
  let other = -Infinity;
  centroids.forEach((c, j) => {
    if (j !== k) other = Math.max(other, dot(e, unit(c)));
  });
  return Math.round(sigmoid(10 * (dot(e, unit(centroids[k])) - other)) * 1000) / 1000;
}

export interface NeuralBatchResult {
  turns: Turn[];
  speakerCount: number;
  words: WordSpeaker[];
}

export function diarizeNeural(pcm: Float32Array, words: Span[], m: NeuralModels, o: NeuralOptions = {}): NeuralBatchResult {
  const segs = diarizer(m, o).process(pcm);
  // Labels in order of first appearance.
  const order: number[] = [];
  for (const s of [...segs].sort((a, b) => a.start - b.start)) if (!order.includes(s.speaker)) order.push(s.speaker);
  const turns: Turn[] = segs
    .map((s) => ({ start: Math.round(s.start * 1000) / 1000, end: Math.round(s.end * 1000) / 1000, speaker: order.indexOf(s.speaker) }))
    .sort((a, b) => a.start - b.start);
  const K = order.length;
  // Speaker centroids and per-turn embeddings for the confidence margins.
  const embs = turns.map((t) => embed(m.embedding, pcm.subarray(Math.floor(t.start * 16000), Math.ceil(t.end * 16000))));
  const centroids: Float32Array[] = Array.from({ length: K }, () => new Float32Array(0));
  turns.forEach((t, i) => {
    const e = embs[i];
    if (!e) return;
    const c = centroids[t.speaker];
    if (!c.length) centroids[t.speaker] = Float32Array.from(e);
    else for (let j = 0; j < c.length; j++) c[j] += e[j] * (t.end - t.start);
  });
  const ws = words.map((w) => {
    const speaker = Math.max(0, speakerByOverlap(turns, w.start, w.end));
    const ti = turns.findIndex((t) => t.speaker === speaker && t.end > w.start && t.start < w.end);
    const ok = centroids.every((c) => c.length);
    return { speaker, confidence: ok ? margin(ti >= 0 ? embs[ti] : undefined, centroids, speaker) : K < 2 ? 1 : 0.5 };
  });
  return { turns, speakerCount: K, words: ws };
}

export interface NeuralOnlineState {
  centroids: Float32Array[];
  counts: number[];
}

export function diarizeNeuralOnline(pcm: Float32Array, offset: number, words: Span[], state: NeuralOnlineState, model: string, o: NeuralOptions = {}): { state: NeuralOnlineState; turns: Turn[]; words: WordSpeaker[]; speakerCount: number } {
  const e = embed(model, pcm);
  const st: NeuralOnlineState = { centroids: state.centroids.map((c) => Float32Array.from(c)), counts: [...state.counts] };
  let k = -1;
  let best = -Infinity;
  if (e) {
    st.centroids.forEach((c, j) => {
      const v = dot(e, unit(c));
      if (v > best) {
        best = v;
        k = j;
      }
    });
    if (k < 0 || best < (o.threshold ?? 0.5)) {
      st.centroids.push(Float32Array.from(e));
      st.counts.push(1);
      k = st.centroids.length - 1;
    } else {
      const c = st.centroids[k];
      for (let j = 0; j < c.length; j++) c[j] = (c[j] * st.counts[k] + e[j]) / (st.counts[k] + 1);
      st.counts[k]++;
    }
  } else {
    // Too short to embed: the most recent speaker keeps it (no new speaker from a fragment).
    k = Math.max(0, st.centroids.length - 1);
  }
  const end = offset + pcm.length / 16000;
  const conf = margin(e, st.centroids, k);
  return {
    state: st,
    turns: [{ start: Math.round(offset * 1000) / 1000, end: Math.round(end * 1000) / 1000, speaker: k }],
    words: words.map(() => ({ speaker: k, confidence: conf })),
    speakerCount: Math.max(1, st.centroids.length),
  };
}
