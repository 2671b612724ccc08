/**
 * Gender detection (`gender_detection`): per speaker when the transcript is diarized (speaker turns,
 * else the speakers on words), for the whole piece otherwise. Feature extraction (YIN f0, LPC
 * formant spacing) and the decision run in the analysis worker (task `gender`, see
 * pipeline/voice/). The top-level estimate is the dominant speaker's: the one with the most speech
 * time. Pre-recorded only, as Pulse (§3.6 of the spec: real time is "coming soon"); on real-time
 * sessions the pipeline's plan reports the option as not available.
 */
import type { RegisteredStage } from '../pipeline.ts';
import type { GenderEstimate, StageContext, Transcript } from '../types.ts';
import type { GenderTaskInput, GenderTaskOutput } from '../analysis/tasks.ts';

type Span = [number, number];

/** Speech spans per speaker (transcript time base), from turns, else word speakers; null when not diarized. */
export function speakerSpans(t: Transcript): Map<number, Span[]> | null {
  const by = new Map<number, Span[]>();
  const add = (s: number, a: number, b: number) => {
    if (!(b > a)) return;
    let l = by.get(s);
    if (!l) by.set(s, (l = []));
    l.push([a, b]);
  };
  if (t.turns?.length) {
    for (const turn of t.turns) add(turn.speaker, turn.start, turn.end);
    return by;
  }
  if (t.words.some((w) => w.speaker !== undefined)) {
    for (const w of t.words) if (w.speaker !== undefined) add(w.speaker, w.start, w.end);
    return by.size ? by : null;
  }
  return null;
}

const spanSeconds = (spans: Span[]) => spans.reduce((a, [s, e]) => a + (e - s), 0);

/** Speech analysed per speaker at most (seconds): gender needs a few seconds, not a whole call. */
export const MAX_SECONDS_PER_SPEAKER = 60;
/** Longest single piece taken from one span, so the budget spreads over the whole file. */
const MAX_PIECE_SECONDS = 8;

/** Sort and merge spans closer than `gap` seconds (word spans → speech stretches). */
export function mergeSpans(spans: Span[], gap = 0.3): Span[] {
  const s = [...spans].sort((a, b) => a[0] - b[0]);
  const out: Span[] = [];
  for (const [a, b] of s) {
    const last = out[out.length - 1];
    if (last && a - last[1] <= gap) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/**
 * At most `budget` seconds of the spans, spread evenly over them: each span contributes in
 * proportion to its length (capped per piece), so a long call is sampled from beginning to end.
 */
export function budgetSpans(spans: Span[], budget = MAX_SECONDS_PER_SPEAKER): Span[] {
  const total = spanSeconds(spans);
  if (total <= budget) return spans.map(([a, b]): Span => [a, b]);
  const ratio = budget / total;
  const out: Span[] = [];
  let credit = 0;
  for (const [a, b] of spans) {
    credit += (b - a) * ratio;
    const take = Math.min(credit, b - a, MAX_PIECE_SECONDS);
    if (take >= 0.25) {
      const mid = (a + b) / 2;
      out.push([mid - take / 2, mid + take / 2]);
      credit -= take;
    }
  }
  return out;
}

export function genderStage(): RegisteredStage {
  return {
    name: 'gender',
    serves: ['gender_detection'],
    enabled: (o, mode) => o.genderDetection && mode === 'batch',
    needsAudio: true,
    partials: false,
    async run(t: Transcript, ctx: StageContext): Promise<Transcript> {
      const audio = ctx.audio!;
      const dur = audio.pcm.length / audio.sampleRate;
      const bySpeaker = speakerSpans(t);
      const keys: number[] = [];
      const groups: Span[][] = [];
      const local = (spans: Span[]): Span[] =>
        mergeSpans(spans.map(([a, b]): Span => [Math.max(0, a - audio.offset), Math.min(dur, b - audio.offset)]).filter(([a, b]) => b > a));
      if (bySpeaker) {
        for (const [spk, spans] of [...bySpeaker.entries()].sort((a, b) => a[0] - b[0])) {
          keys.push(spk);
          groups.push(local(spans));
        }
      } else {
        keys.push(-1);
        // Not diarized: the whole piece (YIN's voicing decision skips silence and noise).
        groups.push([[0, dur]]);
      }
      // Only the sampled speech goes to the worker (copies, transferred): bounded work and memory on long files.
      const sr = audio.sampleRate;
      const segs = groups.map((spans) => budgetSpans(spans).map(([a, b]) => audio.pcm.slice(Math.floor(a * sr), Math.ceil(b * sr))));
      const out = await ctx.analysis.run<GenderTaskInput, GenderTaskOutput>('gender', { groups: segs }, { transfer: segs.flat().map((x) => x.buffer as ArrayBuffer), signal: ctx.signal });
      const estimates = new Map<number, GenderEstimate>();
      out.forEach((r, i) => {
        if (r.decision) estimates.set(keys[i], { gender: r.decision.gender, confidence: r.decision.confidence });
      });
      if (!estimates.size) {
        return {
          ...t,
          warnings: [...t.warnings, { option: 'gender_detection', message: 'gender detection: too little voiced speech to estimate a gender; the response does not include it' }],
        };
      }
      if (!bySpeaker) return { ...t, gender: { ...estimates.get(-1)! } };
      // Dominant speaker: most speech time among those with an estimate.
      let dominant = -1;
      let most = -1;
      for (let i = 0; i < keys.length; i++) {
        const s = spanSeconds(groups[i]);
        if (estimates.has(keys[i]) && s > most) {
          most = s;
          dominant = keys[i];
        }
      }
      const record: Record<number, GenderEstimate> = {};
      for (const k of keys) if (estimates.has(k)) record[k] = estimates.get(k)!;
      return { ...t, gender: { ...estimates.get(dominant)!, bySpeaker: record } };
    },
  };
}
