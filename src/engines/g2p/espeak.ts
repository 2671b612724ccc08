/**
 * Grapheme-to-phoneme for keyword boosting: espeak-ng's phonemes, mapped to the CMU / ARPAbet
 * phone set of pocketsphinx's en-us acoustic model.
 *
 * espeak-ng (Debian package `espeak-ng`) is a maintained rule-based G2P with a large English
 * exception lexicon; it pronounces names and invented words plausibly, which a dictionary cannot.
 * We run `espeak-ng -q -v en-us --ipa --sep=_` (one word per input line, one IPA line out, phonemes
 * separated by "_", stress marks attached to vowels) and map each IPA phoneme with
 * `IPA_TO_CMU` below. There is no npm G2P of comparable coverage for English names that runs
 * offline without model weights, hence this small mapping instead of a library.
 *
 * Blocking: `spawnSync` — call this only from worker threads (the pocketsphinx backend does),
 * never on the server's event loop. Results are cached per word and per process/thread.
 */
import { spawnSync } from 'node:child_process';

/**
 * IPA phonemes as espeak-ng 1.51 writes them for en-us (its `ph_english_us` table, stress marks
 * removed) → CMU phones of the en-us acoustic model (AA AE AH AO AW AY B CH D DH EH ER EY F G HH
 * IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH). Choices where the sets differ:
 * - reduced vowels: ə, ɐ, ʌ → AH; ᵻ (espeak's reduced i) → IH; ɚ, ɝ, ɜ(ː) → ER (CMU has no schwa/R split).
 * - r-coloured vowels espeak writes as one unit are split: ɑːɹ → AA R, ɔːɹ / oːɹ / oɹ → AO R,
 *   ɛɹ / eɹ → EH R, ɪɹ / iɹ / iə → IH R / IY AH, ʊɹ / ʊə → UH R, aɪɚ → AY ER, aʊɚ → AW ER, aɪə → AY AH (cmudict "O'Brien" OW B R AY AH N).
 * - syllabic consonants: əl / l̩ → AH L, n̩ → AH N, m̩ → AH M (cmudict writes "bottle" B AA T AH L).
 * - the flap ɾ and glottal stop ʔ are allophones of /t/ (or /d/) in American English: → T, as
 *   cmudict spells "water" W AO T ER and "button" B AH T AH N.
 * - foreign sounds espeak may emit for names: x → K (as in cmudict "Bach"), ç → HH, ɬ → L,
 *   r (trill) → R, ɒ → AA, a → AE, e → EH, o / oː → OW, y / ø → UW / ER-less UH approximations.
 * - length marks (ː) carry no phone distinction in CMU and are dropped after lookup.
 */
export const IPA_TO_CMU: Record<string, string[]> = {
  // vowels and diphthongs
  i: ['IY'], 'iː': ['IY'], 'ɪ': ['IH'], 'ᵻ': ['IH'], 'ɨ': ['IH'],
  e: ['EH'], 'ɛ': ['EH'], 'eɪ': ['EY'], 'æ': ['AE'], a: ['AE'], 'aː': ['AA'],
  'ɑ': ['AA'], 'ɑː': ['AA'], 'ɒ': ['AA'], 'ɔ': ['AO'], 'ɔː': ['AO'],
  'ʌ': ['AH'], 'ə': ['AH'], 'ɐ': ['AH'], 'ɚ': ['ER'], 'ɝ': ['ER'], 'ɜ': ['ER'], 'ɜː': ['ER'],
  'ʊ': ['UH'], u: ['UW'], 'uː': ['UW'], 'ɯ': ['UW'], y: ['UW'], 'yː': ['UW'], 'ø': ['ER'], 'øː': ['ER'], 'œ': ['ER'],
  o: ['OW'], 'oː': ['OW'], 'oʊ': ['OW'], 'əʊ': ['OW'],
  'aɪ': ['AY'], 'aʊ': ['AW'], 'ɔɪ': ['OY'], 'ɑɪ': ['AY'], 'ɑʊ': ['AW'],
  // r-coloured and reduced units espeak emits as one phoneme
  'ɑːɹ': ['AA', 'R'], 'ɑɹ': ['AA', 'R'], 'ɔːɹ': ['AO', 'R'], 'ɔɹ': ['AO', 'R'], 'oːɹ': ['AO', 'R'], 'oɹ': ['AO', 'R'],
  'ɛɹ': ['EH', 'R'], 'eɹ': ['EH', 'R'], 'ɛə': ['EH', 'R'], 'eə': ['EH', 'R'],
  'ɪɹ': ['IH', 'R'], 'iɹ': ['IY', 'R'], 'iə': ['IY', 'AH'], 'ɪə': ['IH', 'R'],
  'ʊɹ': ['UH', 'R'], 'ʊə': ['UH', 'R'], 'aɪɚ': ['AY', 'ER'], 'aɪə': ['AY', 'AH'], 'aʊɚ': ['AW', 'ER'], 'aʊə': ['AW', 'AH'],
  'əl': ['AH', 'L'], 'l̩': ['AH', 'L'], 'n̩': ['AH', 'N'], 'm̩': ['AH', 'M'], 'ɹ̩': ['ER'],
  // consonants
  p: ['P'], b: ['B'], t: ['T'], d: ['D'], k: ['K'], 'ɡ': ['G'], g: ['G'], 'ʔ': ['T'], 'ɾ': ['T'],
  f: ['F'], v: ['V'], 'θ': ['TH'], 'ð': ['DH'], s: ['S'], z: ['Z'], 'ʃ': ['SH'], 'ʒ': ['ZH'],
  h: ['HH'], 'ɦ': ['HH'], x: ['K'], 'ç': ['HH'], 'χ': ['K'],
  'tʃ': ['CH'], 'dʒ': ['JH'], ts: ['T', 'S'], dz: ['D', 'Z'],
  m: ['M'], n: ['N'], 'ŋ': ['NG'], 'ɲ': ['N', 'Y'],
  l: ['L'], 'ɫ': ['L'], 'ɬ': ['L'], 'ʎ': ['L', 'Y'], 'ɹ': ['R'], r: ['R'], 'ɻ': ['R'], 'ʁ': ['R'],
  w: ['W'], 'ʍ': ['W'], j: ['Y'],
};

/** The CMU phones IPA_TO_CMU may produce (all present in the en-us acoustic model). */
export const CMU_PHONES = new Set(Object.values(IPA_TO_CMU).flat());

const STRESS = /[ˈˌ]/g;
const LONGEST_UNIT = Math.max(...Object.keys(IPA_TO_CMU).map((k) => k.length));

/**
 * One espeak IPA phoneme unit (between "_" separators, stress removed) → CMU phones. Units not
 * in the table (espeak joins some sequences) are split by greedy longest match; characters
 * that match nothing (tie bars, diacritics) are skipped.
 */
export function ipaUnitToCmu(unit: string): string[] {
  const u = unit.replace(STRESS, '').normalize('NFC');
  if (!u) return [];
  const direct = IPA_TO_CMU[u] ?? IPA_TO_CMU[u.replace(/ː/g, '')];
  if (direct) return direct;
  const out: string[] = [];
  let i = 0;
  while (i < u.length) {
    let matched = false;
    for (let len = Math.min(LONGEST_UNIT, u.length - i); len > 0; len--) {
      const piece = u.slice(i, i + len);
      const m = IPA_TO_CMU[piece];
      if (m) {
        out.push(...m);
        i += len;
        matched = true;
        break;
      }
    }
    if (!matched) i++; // ː, tie bar, diacritic or an unknown symbol
  }
  return out;
}

/** An espeak-ng `--ipa --sep=_` line (one word, maybe several space-separated groups) → CMU phones. */
export function ipaLineToCmu(line: string): string[] {
  const phones: string[] = [];
  for (const unit of line.trim().split(/[_\s]+/)) phones.push(...ipaUnitToCmu(unit));
  // espeak sometimes writes one sound twice across a unit boundary ("ʊɹ_ɹ"): CMU never doubles a phone.
  return phones.filter((p, i) => i === 0 || p !== phones[i - 1] || !CONSONANT.has(p));
}

const CONSONANT = new Set(['B', 'CH', 'D', 'DH', 'F', 'G', 'HH', 'JH', 'K', 'L', 'M', 'N', 'NG', 'P', 'R', 'S', 'SH', 'T', 'TH', 'V', 'W', 'Y', 'Z', 'ZH']);

export interface EspeakOptions {
  /** espeak-ng binary. Default "espeak-ng". */
  binary?: string;
  /** espeak-ng voice (language) for phonemization. Default "en-us". */
  voice?: string;
  /** Per-call timeout, ms. Default 5000. */
  timeoutMs?: number;
}

/** Raised when espeak-ng is missing or fails; callers skip the word rather than fail the request. */
export class G2PError extends Error {}

/**
 * espeak-ng G2P with a per-instance cache. `phonemize(words)` returns CMU phone strings
 * ("D R AH M R AY T") per word, one espeak-ng process per call for all uncached words.
 */
export class EspeakG2P {
  private readonly cache = new Map<string, string | null>();
  private readonly binary: string;
  private readonly voice: string;
  private readonly timeoutMs: number;
  /** espeak-ng processes spawned (for tests and metrics). */
  spawns = 0;

  constructor(options: EspeakOptions = {}) {
    this.binary = options.binary ?? 'espeak-ng';
    this.voice = options.voice ?? 'en-us';
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Raw espeak-ng IPA lines for `words` (one line per word), without cache. */
  private espeak(words: string[]): string[] {
    this.spawns++;
    const r = spawnSync(this.binary, ['-q', '-v', this.voice, '--ipa', '--sep=_'], {
      input: words.join('\n') + '\n',
      encoding: 'utf8',
      timeout: this.timeoutMs,
      maxBuffer: 1 << 20,
    });
    if (r.error) throw new G2PError(`espeak-ng failed: ${r.error.message} (install the Debian package espeak-ng)`);
    if (r.status !== 0) throw new G2PError(`espeak-ng exited with ${r.status}: ${String(r.stderr).trim()}`);
    return String(r.stdout)
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0);
  }

  /**
   * CMU phones for each word (null when espeak gives nothing usable, e.g. a word of symbols).
   * Words are phonemized as written (case matters little to espeak; digits are read out).
   */
  phonemize(words: string[]): Map<string, string | null> {
    const out = new Map<string, string | null>();
    const todo = [...new Set(words.filter((w) => !this.cache.has(w) && /[\p{L}\p{N}]/u.test(w)))];
    if (todo.length > 0) {
      let lines = this.espeak(todo);
      // One line per input line is espeak's behaviour for plain words; if it ever merges or
      // splits lines, fall back to one process per word so no word gets another's phones.
      if (lines.length !== todo.length) lines = todo.map((w) => this.espeak([w]).join(' '));
      todo.forEach((w, i) => {
        const phones = ipaLineToCmu(lines[i] ?? '');
        this.cache.set(w, phones.length > 0 ? phones.join(' ') : null);
      });
    }
    for (const w of words) out.set(w, this.cache.get(w) ?? null);
    return out;
  }
}
