/** Map a requested Pulse language onto what the running engine serves. */
import type { EngineInfo } from '../engines/types.ts';
import { badRequest } from './errors.ts';

const AUTO = new Set(['multi', 'multi-asian']);

/**
 * `language=multi` asks for detection: passed through when the engine detects languages, otherwise
 * served by the engine's only/first language (a single-language engine "detects" trivially).
 * A concrete language the engine does not serve is a 400 that says what to install.
 */
export function resolveLanguage(requested: string, info: EngineInfo): string {
  if (info.languages.includes(requested)) return requested;
  if (AUTO.has(requested)) return info.languages.includes('multi') ? 'multi' : info.languages[0];
  throw badRequest(
    `Language "${requested}" is not available on this server: the ${info.name} engine serves ${info.languages.join(', ')}. ` +
      `Install a model that serves it (see "cochlea models list") and start the server with COCHLEA_ENGINE=sherpa.`,
    [{ field: 'language', message: 'not served by the installed models' }],
  );
}
