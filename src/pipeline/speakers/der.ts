/**
 * Diarization error rate with NIST md-eval semantics (the scorer behind every published DER):
 *
 *   DER = (missed speech + false alarm + speaker confusion) / total reference speaker time
 *
 * scored on a 1 ms grid. At each instant with N_ref reference and N_hyp hypothesis speakers and
 * N_corr of them matched: miss = max(0, N_ref − N_hyp), false alarm = max(0, N_hyp − N_ref),
 * confusion = min(N_ref, N_hyp) − N_corr. Overlapping speech is scored (each reference speaker
 * counts). The reference→hypothesis speaker map is one-to-one and maximises matched time (exact,
 * by dynamic programming over hypothesis subsets). A `collar` (s) around every reference segment
 * boundary is not scored (md-eval `-c`; 0.25 s is the usual NIST setting; pyannote's published
 * tables use no collar). Written here: no maintained JavaScript DER scorer exists on npm
 * (pyannote.metrics and dscore are Python).
 */

export interface LabelledSegment {
  start: number;
  end: number;
  speaker: string | number;
}

export interface DerResult {
  /** Seconds of scored reference speech (sum over reference speakers). */
  total: number;
  miss: number;
  falseAlarm: number;
  confusion: number;
  der: number;
  refSpeakers: number;
  hypSpeakers: number;
}

export function parseRttm(text: string): LabelledSegment[] {
  const out: LabelledSegment[] = [];
  for (const line of text.split('\n')) {
    const p = line.trim().split(/\s+/);
    if (p[0] !== 'SPEAKER' || p.length < 8) continue;
    const start = Number(p[3]);
    const dur = Number(p[4]);
    out.push({ start, end: start + dur, speaker: p[7] });
  }
  return out;
}

const MS = 1000;

function grid(segs: LabelledSegment[], n: number): { ids: (string | number)[]; on: Uint8Array[] } {
  const ids = [...new Set(segs.map((s) => s.speaker))];
  const on = ids.map(() => new Uint8Array(n));
  for (const s of segs) {
    const a = Math.max(0, Math.round(s.start * MS));
    const b = Math.min(n, Math.round(s.end * MS));
    if (b > a) on[ids.indexOf(s.speaker)].fill(1, a, b);
  }
  return { ids, on };
}

/** Best one-to-one map maximising total overlap: ref index → hyp index or −1. */
function bestMap(overlap: number[][], R: number, H: number): number[] {
  if (H > 14) {
    // Greedy fallback for very many hypothesis speakers.
    const map = new Array(R).fill(-1);
    const used = new Set<number>();
    const pairs: [number, number, number][] = [];
    for (let r = 0; r < R; r++) for (let h = 0; h < H; h++) pairs.push([overlap[r][h], r, h]);
    pairs.sort((a, b) => b[0] - a[0]);
    for (const [, r, h] of pairs) if (map[r] < 0 && !used.has(h)) { map[r] = h; used.add(h); }
    return map;
  }
  const size = 1 << H;
  let dp = new Float64Array(size).fill(-Infinity);
  dp[0] = 0;
  const choice: Int8Array[] = [];
  for (let r = 0; r < R; r++) {
    const next = new Float64Array(size).fill(-Infinity);
    const ch = new Int8Array(size).fill(-2);
    for (let m = 0; m < size; m++) {
      if (dp[m] === -Infinity) continue;
      if (dp[m] > next[m]) { next[m] = dp[m]; ch[m] = -1; }
      for (let h = 0; h < H; h++) {
        if (m & (1 << h)) continue;
        const m2 = m | (1 << h);
        const v = dp[m] + overlap[r][h];
        if (v > next[m2]) { next[m2] = v; ch[m2] = h; }
      }
    }
    choice.push(ch);
    dp = next;
  }
  let m = 0;
  for (let k = 1; k < size; k++) if (dp[k] > dp[m]) m = k;
  const map = new Array(R).fill(-1);
  for (let r = R - 1; r >= 0; r--) {
    const h = choice[r][m];
    map[r] = h;
    if (h >= 0) m &= ~(1 << h);
  }
  return map;
}

export function diarizationErrorRate(ref: LabelledSegment[], hyp: LabelledSegment[], collar = 0.25, duration?: number): DerResult {
  const end = Math.max(duration ?? 0, ...ref.map((s) => s.end), ...hyp.map((s) => s.end), 0);
  const n = Math.ceil(end * MS) + 1;
  const R = grid(ref, n);
  const H = grid(hyp, n);
  const scored = new Uint8Array(n).fill(1);
  if (collar > 0) {
    const c = Math.round(collar * MS);
    for (const s of ref) {
      for (const t of [s.start, s.end]) {
        const x = Math.round(t * MS);
        scored.fill(0, Math.max(0, x - c), Math.min(n, x + c));
      }
    }
  }
  const overlap = R.on.map((r) => H.on.map((h) => {
    let s = 0;
    for (let t = 0; t < n; t++) if (scored[t] && r[t] && h[t]) s++;
    return s;
  }));
  const map = bestMap(overlap, R.ids.length, H.ids.length);
  let total = 0, miss = 0, fa = 0, conf = 0;
  for (let t = 0; t < n; t++) {
    if (!scored[t]) continue;
    let nr = 0, nh = 0, nc = 0;
    for (let r = 0; r < R.on.length; r++) {
      if (!R.on[r][t]) continue;
      nr++;
      if (map[r] >= 0 && H.on[map[r]][t]) nc++;
    }
    for (let h = 0; h < H.on.length; h++) if (H.on[h][t]) nh++;
    total += nr;
    miss += Math.max(0, nr - nh);
    fa += Math.max(0, nh - nr);
    conf += Math.min(nr, nh) - nc;
  }
  const s = (x: number) => x / MS;
  return {
    total: s(total),
    miss: s(miss),
    falseAlarm: s(fa),
    confusion: s(conf),
    der: total ? (miss + fa + conf) / total : 0,
    refSpeakers: R.ids.length,
    hypSpeakers: H.ids.length,
  };
}

/** Pool several files' results (time-weighted, as md-eval over a file list). */
export function pooledDer(rs: DerResult[]): DerResult {
  const sum = (k: 'total' | 'miss' | 'falseAlarm' | 'confusion') => rs.reduce((a, r) => a + r[k], 0);
  const total = sum('total');
  const miss = sum('miss');
  const falseAlarm = sum('falseAlarm');
  const confusion = sum('confusion');
  return { total, miss, falseAlarm, confusion, der: total ? (miss + falseAlarm + confusion) / total : 0, refSpeakers: NaN, hypSpeakers: NaN };
}
