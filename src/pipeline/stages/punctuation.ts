/**
 * Punctuation and casing stage (Pulse `punctuate`, `capitalize`; `format=false` arrives as both
 * false). Runs after diarization, before ITN, on finals only (partials stay in spoken form).
 *
 * Paths, in order of preference:
 *   - engine: the recognizer already punctuated/cased (SenseVoice, Whisper, Parakeet two-pass):
 *     nothing is added; only stripping / lowercasing per the options;
 *   - neural: a catalog punctuation model is installed for the language (`cochlea models pull
 *     online-punct-en-2024-08-06`): sherpa-onnx's punctuation API in the analysis worker;
 *   - local: pauses + wording rules + compromise truecasing (always available, see text/punctuate.ts).
 * `capability()` reports which of neural/local will run for the request (no warning: both serve
 * the options); `transcript.timings.punctuation` has the time.
 */
import type { Capability, StageContext, Transcript, TranscriptionOptions, Word } from '../types.ts';
import { joinWords, type RegisteredStage } from '../pipeline.ts';
import { applyPunctuatedText, formatText, formatWords, hasPunctuation, punctuate, type PunctuateOptions } from '../text/punctuate.ts';
import { selectPunctuationModel, type ModelLookup, type PunctuationModel, type PunctuationTaskInput } from '../text/neural.ts';
import { ModelManager } from '../../models/manager.ts';

export interface PunctuationStageOptions {
  /** Where to look for installed punctuation models (default: the model manager's, COCHLEA_MODELS_DIR). */
  models?: ModelLookup;
  /** Use an installed neural model (default true). */
  neural?: boolean;
  /** Local rule thresholds (seconds). */
  local?: Pick<PunctuateOptions, 'sentenceGap' | 'commaGap' | 'pauseComma'>;
  /** How long an "is it installed" answer is reused (ms). Default 30 s. */
  lookupTtlMs?: number;
}

export type PunctuationPath = 'neural' | 'local';
export type PunctuationCapability = Capability & { path: PunctuationPath; model?: string };

export function punctuationStage(opts: PunctuationStageOptions = {}): RegisteredStage & {
  capability(o: TranscriptionOptions, ctx: Pick<StageContext, 'mode' | 'engine'>): PunctuationCapability;
} {
  let models = opts.models;
  const ttl = opts.lookupTtlMs ?? 30_000;
  const cache = new Map<string, { at: number; model?: PunctuationModel }>();
  const modelFor = (language: string): PunctuationModel | undefined => {
    if (opts.neural === false) return undefined;
    const hit = cache.get(language);
    const now = Date.now();
    if (hit && now - hit.at < ttl) return hit.model;
    let model: PunctuationModel | undefined;
    try {
      models ??= new ModelManager();
      model = selectPunctuationModel(language, models);
    } catch {
      model = undefined;
    }
    cache.set(language, { at: now, model });
    return model;
  };

  return {
    name: 'punctuation',
    serves: ['punctuate', 'capitalize'],
    // Always: with punctuate/capitalize off it still strips what an engine emitted.
    enabled: () => true,
    partials: false,
    capability(o) {
      const model = o.punctuate ? modelFor(o.language) : undefined;
      return model ? { ok: true, path: 'neural', model: model.name } : { ok: true, path: 'local' };
    },
    async run(t: Transcript, ctx: StageContext): Promise<Transcript> {
      const o = ctx.options;
      const fmt = { punctuate: o.punctuate, capitalize: o.capitalize };
      const language = (t.language || o.language || 'en').toLowerCase();
      const english = language.startsWith('en') || language === 'multi';
      if (!t.words.length) {
        // Engines that give text only: format it; local rules need word times.
        return t.text ? { ...t, text: formatText(t.text, fmt) } : t;
      }
      // Real time: a final cut mid-sentence ("... and") stays open and the next one continues it.
      const session = ctx.state.get('punctuation', () => ({ open: false }));
      const local: PunctuateOptions = {
        ...fmt,
        ...opts.local,
        english,
        endsSentence: ctx.mode === 'batch' ? true : undefined,
        startsSentence: ctx.mode === 'batch' || !session.open,
      };
      let words: Word[] = t.words;
      const warnings = [...t.warnings];
      const model = o.punctuate && !hasPunctuation(words) ? modelFor(language.split(/[-_]/)[0]) : undefined;
      if (model) {
        try {
          const input: PunctuationTaskInput = { kind: model.kind, files: model.files, texts: [words.map((w) => w.word.toLowerCase()).join(' ')] };
          const r = await ctx.analysis.run<PunctuationTaskInput, { texts: string[] }>('punctuate', input, { signal: ctx.signal });
          words = applyPunctuatedText(words.map((w) => ({ ...w, word: w.word.toLowerCase() })), r.texts[0]);
          // A model without casing leaves lowercase words: local truecasing follows in punctuate().
        } catch (err) {
          warnings.push({ option: 'punctuate', message: `punctuation model ${model.name} failed (${(err as Error).message}); used the local rules` });
          words = t.words;
        }
      }
      words = punctuate(words, local);
      if (ctx.mode === 'realtime' && words.length) session.open = !/[.?!。？！]["')\]]*$/u.test(words[words.length - 1].word);
      return { ...t, words, text: joinWords(words), warnings };
    },
  };
}

export { formatWords };
