/**
 * Inverse text normalization stage (Pulse `itn_normalize`, legacy `numerals`): spoken numbers →
 * written forms on finals (never on partials, as Pulse). Runs after punctuation (so it re-attaches
 * the marks and keeps the casing) and before redaction (which then sees "4111 1111 ..." digits).
 * English only; other languages get a warning.
 */
import type { Capability, StageContext, Transcript, TranscriptionOptions } from '../types.ts';
import { joinWords, type RegisteredStage } from '../pipeline.ts';
import { normalizeNumbers } from '../text/itn.ts';

const isEnglish = (lang: string) => /^en\b|^en[-_]/i.test(lang) || lang.toLowerCase() === 'en';

export function itnStage(): RegisteredStage {
  return {
    name: 'itn',
    serves: ['itn_normalize'],
    enabled: (o: TranscriptionOptions) => o.itn,
    partials: false,
    capability(o: TranscriptionOptions): Capability {
      if (isEnglish(o.language) || o.language === 'multi') return { ok: true };
      return { ok: false, warning: { option: 'itn_normalize', message: `inverse text normalization is available for English only; language "${o.language}" is returned in spoken form` } };
    },
    run(t: Transcript, _ctx: StageContext): Transcript {
      if (!t.words.length) return t;
      if (t.language && !isEnglish(t.language)) {
        return { ...t, warnings: [...t.warnings, { option: 'itn_normalize', message: `inverse text normalization is available for English only; this piece (${t.language}) is in spoken form` }] };
      }
      const words = normalizeNumbers(t.words);
      return words === t.words ? t : { ...t, words, text: joinWords(words) };
    },
  };
}
