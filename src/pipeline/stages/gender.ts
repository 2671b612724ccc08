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
        spans.map(([a, b]): Span => [Math.max(0, a - audio.offset), Math.min(dur, b - audio.offset)]).filter(([a, b]) => b > a);
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
      // A copy is transferred to the worker; the transcript's audio stays usable by later stages.
      const pcm = audio.pcm.slice();
      const out = await ctx.analysis.run<GenderTaskInput, GenderTaskOutput>('gender', { pcm, groups }, { transfer: [pcm.buffer as ArrayBuffer], signal: ctx.signal });
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
