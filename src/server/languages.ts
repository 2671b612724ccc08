/**
 * Map a requested Pulse language onto what the running engine serves.
 *
 *   concrete code (en, de, hi, ...)  served as is; refused (400, with the fix) when not installed
 *   hi-dev                            Devanagari-only Hindi: served by `hi-dev`, else `hi`
 *   multi, auto                       detection: `multi` when the engine detects, else its first language
 *   multi-eu, multi-asian, multi-indic, north_indic, multi-south-indic
 *                                     regional detection: `multi` when the engine detects; else the
 *                                     engine's first language inside the region; else its first
 *                                     language, with a warning
 * The response reports the language actually served (or detected).
 */
import type { EngineInfo } from '../engines/types.ts';
import type { Warning } from '../pipeline/types.ts';
import { badRequest } from './errors.ts';

/** Pulse's regional aggregators (batch and streaming lists merged; see pulse-spec §3.2). */
export const LANGUAGE_GROUPS: Record<string, readonly string[]> = {
  multi: [],
  auto: [],
  'multi-eu': ['en', 'de', 'es', 'ru', 'it', 'fr', 'nl', 'pt', 'uk', 'pl', 'cs', 'sk', 'lv', 'et', 'ro', 'fi', 'sv', 'bg', 'hu', 'da', 'lt', 'mt'],
  'multi-asian': ['en', 'zh', 'yue', 'ko', 'ja'],
  'multi-indic': ['en', 'hi', 'gu', 'mr', 'bn', 'or'],
  north_indic: ['en', 'hi', 'gu', 'mr', 'bn', 'or'],
  'multi-south-indic': ['en', 'ta', 'te', 'kn', 'ml'],
};

export interface ResolvedLanguage {
  /** What the request asked for. */
  requested: string;
  /** What the engine is asked to decode in (`multi` = let it detect). */
  engine: string;
  warning?: Warning;
}

export function resolveLanguage(requested: string, info: EngineInfo): ResolvedLanguage {
  const served = info.languages;
  if (served.includes(requested)) return { requested, engine: requested };
  if (requested === 'hi-dev' && served.includes('hi')) return { requested, engine: 'hi' };
  const group = LANGUAGE_GROUPS[requested];
  if (group) {
    if (served.includes('multi')) return { requested, engine: 'multi' };
    const inGroup = group.length ? served.find((l) => group.includes(l)) : served[0];
    if (inGroup) return { requested, engine: inGroup };
    const fallback = served[0] ?? 'en';
    return {
      requested,
      engine: fallback,
      warning: {
        option: 'language',
        message: `none of the ${requested} languages is installed; transcribed as "${fallback}"`,
        fix: 'cochlea models list',
      },
    };
  }
  throw badRequest(
    `Language "${requested}" is not available on this server: the ${info.name} engine serves ${served.join(', ') || 'no language yet'}. ` +
      `Install a model that serves it ("cochlea models list", then "cochlea models pull <name>") and start the server with --engine sherpa.`,
    [{ field: 'language', message: 'not served by the installed models' }],
  );
}
