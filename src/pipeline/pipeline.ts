/**
 * Runs the ordered stages over a recognizer result. One `Pipeline` serves batch requests and
 * real-time finals (and partials, for the stages that must see them).
 *
 * Guarantees:
 *  - an option the request asked for and no stage (or no installed model) serves yields a
 *    `Warning`, never silence;
 *  - a stage that throws leaves the transcript as the previous stage returned it and adds a
 *    warning naming what is missing; it never fails the request or the session;
 *  - stage time is recorded per stage in `transcript.timings` (ms).
 */
import type { EngineWord } from '../engines/types.ts';
import type { Stage, StageContext, Transcript, TranscriptionOptions, Warning, Word } from './types.ts';

/** What the recognizer produced for this piece of audio. */
export interface RecognizerOutput {
  words: EngineWord[];
  /** Text when the engine gives no words (then `words` is empty). */
  text: string;
  language: string;
  /** Seconds of audio covered. */
  duration: number;
  /** Time span of this piece on the transcript's axis (batch: 0..duration). */
  start?: number;
  end?: number;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const clamp01 = (x: number) => Math.min(1, Math.max(0, Number.isFinite(x) ? x : 0));

export function joinWords(words: { word: string }[]): string {
  return words.map((w) => w.word).filter(Boolean).join(' ');
}

/** The recognizer's words as a transcript: times rounded to ms, confidences clamped. */
export function baseTranscript(r: RecognizerOutput): Transcript {
  const words: Word[] = r.words.map((w) => ({
    word: w.word,
    start: round3(w.start),
    end: round3(w.end),
    confidence: Math.round(clamp01(w.confidence) * 10000) / 10000,
  }));
  const start = r.start ?? 0;
  return {
    text: words.length ? joinWords(words) : r.text.trim(),
    words,
    utterances: [],
    language: r.language,
    duration: r.duration,
    start: round3(start),
    end: round3(r.end ?? start + r.duration),
    warnings: [],
    timings: {},
  };
}

/**
 * The request options that a stage must serve, by their Pulse parameter name. Options served
 * elsewhere (keywords: the engine; word_timestamps: the formatter) are not listed.
 */
export function requestedOptions(o: TranscriptionOptions): string[] {
  const out: string[] = [];
  if (o.diarize) out.push('diarize');
  if (o.genderDetection) out.push('gender_detection');
  if (o.emotionDetection) out.push('emotion_detection');
  if (o.ageDetection) out.push('age_detection');
  if (o.itn) out.push('itn_normalize');
  if (o.redactPii) out.push('redact_pii');
  if (o.redactPci) out.push('redact_pci');
  if (o.punctuate) out.push('punctuate');
  if (o.capitalize) out.push('capitalize');
  return out;
}

/** Options no stage can serve on any engine. */
const RETIRED: Record<string, string> = {
  age_detection: 'age detection was retired by Pulse on 2026-05-06; the parameter is accepted and ignored, and no `age` field is returned',
};

/** A stage and the Pulse options it serves (for coverage warnings). */
export interface RegisteredStage extends Stage {
  /** Pulse parameter names this stage serves, e.g. ['redact_pii', 'redact_pci']. */
  readonly serves: readonly string[];
}

export interface Plan {
  stages: RegisteredStage[];
  warnings: Warning[];
}

export class Pipeline {
  constructor(readonly stages: readonly RegisteredStage[]) {}

  /** Which stages run for these options, and warnings for what cannot be served. */
  plan(options: TranscriptionOptions, ctx: Pick<StageContext, 'mode' | 'engine'>): Plan {
    const warnings: Warning[] = [];
    const stages: RegisteredStage[] = [];
    const served = new Set<string>();
    const refused = new Set<string>();
    for (const s of this.stages) {
      if (!s.enabled(options, ctx.mode)) continue;
      const cap = s.capability?.(options, ctx) ?? { ok: true as const };
      if (cap.ok) {
        stages.push(s);
        for (const o of s.serves) served.add(o);
      } else {
        warnings.push(cap.warning);
        for (const o of s.serves) refused.add(o);
      }
    }
    for (const opt of requestedOptions(options)) {
      if (served.has(opt) || refused.has(opt)) continue;
      warnings.push({
        option: opt,
        message: RETIRED[opt] ?? `${opt} is not available ${ctx.mode === 'realtime' ? 'on real-time sessions' : 'on pre-recorded requests'} of this server; the response does not include it`,
      });
    }
    return { stages, warnings };
  }

  /** Run the planned stages. Real-time partials run only `partials: true` stages. */
  async run(input: RecognizerOutput | Transcript, ctx: StageContext, plan?: Plan): Promise<Transcript> {
    const p = plan ?? this.plan(ctx.options, ctx);
    let t: Transcript = 'warnings' in input ? input : baseTranscript(input);
    if (!ctx.partial) t = { ...t, warnings: [...t.warnings, ...p.warnings] };
    for (const stage of p.stages) {
      if (ctx.partial && !stage.partials) continue;
      if (stage.needsAudio && !ctx.audio) {
        if (!ctx.partial) t.warnings.push({ option: stage.serves[0] ?? stage.name, message: `${stage.name}: no audio available for this piece; skipped` });
        continue;
      }
      ctx.signal?.throwIfAborted();
      const t0 = performance.now();
      try {
        const next = await stage.run(t, ctx);
        t = next;
      } catch (err) {
        if (ctx.signal?.aborted) throw err;
        const dropped = stage.failClosed ? { text: '', words: [], utterances: [] } : {};
        t = {
          ...t,
          ...dropped,
          warnings: [
            ...t.warnings,
            {
              option: stage.serves[0] ?? stage.name,
              message: stage.failClosed
                ? `${stage.name} failed (${(err as Error).message}); the transcript of this piece was withheld`
                : `${stage.name} failed (${(err as Error).message}); the response does not include it`,
            },
          ],
        };
      }
      t.timings = { ...t.timings, [stage.name]: (t.timings[stage.name] ?? 0) + (performance.now() - t0) };
    }
    return t;
  }
}
