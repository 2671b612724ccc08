/**
 * Punctuation and casing on recognizer words, as pure functions (the stage in
 * `stages/punctuation.ts` wraps them).
 *
 *   punctuate(words, opts)          local rules: marks and truecasing → words ("Hello,"), times unchanged
 *   applyPunctuatedText(words, s)   carry a neural model's punctuated, cased text back onto the words
 *   formatWords(words, opts)        punctuate=false strips . , ? !; capitalize=false lowercases
 *
 * Local rules (no model needed), deliberately conservative — a missing comma reads better than a
 * wrong one:
 *  - sentence ends at pauses of `sentenceGap` s or more (never after a determiner, preposition,
 *    conjunction or auxiliary: "the ... house" is a hesitation, not a boundary) and at the end of the
 *    piece (a real-time final or the whole file) — the recognizer's segments;
 *  - "?" when the sentence opens with a question form: wh-word + auxiliary ("what is", "how many"),
 *    "what's", or an inverted auxiliary + subject ("are you", "can the"), after optional discourse
 *    markers ("so what do you ...");
 *  - commas after a sentence-initial discourse marker ("Well, I ...", "Yes, ..."), before a
 *    coordinating conjunction at a pause of `commaGap` s, and at pauses of `pauseComma` s inside a
 *    sentence when both sides hold at least two words (a reader's comma pause);
 *  - casing: sentence starts, "I" (and I'm, I'll ...), proper nouns, months and weekdays from
 *    compromise's tagger.
 * Input that already carries punctuation (SenseVoice, Whisper, Parakeet emit it) is not punctuated
 * again, and input that is already in mixed case is not re-cased; all-caps output (icefall
 * Zipformer) is lowercased and truecased.
 */
import type { Word } from '../types.ts';
import {
  AUXILIARIES, COORDINATORS, DISCOURSE_MARKERS, FIRST_PERSON, NO_BREAK_AFTER, NO_BREAK_BEFORE, SUBJECTS, WH_CONTRACTED,
  WH_FOLLOWERS, WH_WORDS,
} from './lexicon.ts';
import { capitalizeFirst, capitalizeWord, properNouns } from './truecase.ts';

export interface PunctuateOptions {
  /** Add sentence marks and commas (else the result carries none). */
  punctuate: boolean;
  /** Truecase (else everything is lowercase). */
  capitalize: boolean;
  /** Pause (s) that ends a sentence. */
  sentenceGap?: number;
  /** Pause (s) before a coordinating conjunction that takes a comma. */
  commaGap?: number;
  /** Pause (s) inside a sentence that takes a comma on its own. */
  pauseComma?: number;
  /**
   * Whether the last word ends a sentence. true: always (a whole file); undefined (default): unless
   * it cannot end one ("... the", "... and": a real-time final cut mid-sentence); false: never.
   */
  endsSentence?: boolean;
  /** The first word starts a sentence (default true; false when the previous final left one open). */
  startsSentence?: boolean;
  /**
   * English wording rules (questions, commas, proper nouns). Default true; other languages get
   * sentence ends at pauses and sentence-start capitals only.
   */
  english?: boolean;
}

export const PUNCTUATION_DEFAULTS = { sentenceGap: 0.6, commaGap: 0.2, pauseComma: 0.35 };

/** Marks the stage adds and `punctuate=false` strips (Pulse: ". , ? !"). */
const STRIP = /[.,?!]/g;
const TRAILING = /[.,?!;:。？！，]+$/u;
/** A redaction placeholder or other bracketed token: never cased or punctuated. */
const BRACKETED = /^\[.*\]$/;

/** Spelled letters and abbreviations in a recognizer's dictionary ("t.", "a.m.", "mr."): not punctuation. */
const LETTER_DOTS = /^(?:\p{L}\.)+$|^(?:mr|mrs|ms|dr|st|jr|sr|vs|etc)\.$/iu;

/** Whether the words already carry sentence punctuation (the engine emitted it). */
export function hasPunctuation(words: { word: string }[]): boolean {
  return words.some((w) => TRAILING.test(w.word) && !LETTER_DOTS.test(w.word));
}

/** Whether the words are already in mixed case (the engine cased them). */
export function hasCasing(words: { word: string }[]): boolean {
  let upper = false;
  let lower = false;
  for (const w of words) {
    if (BRACKETED.test(w.word)) continue;
    if (/\p{Lu}/u.test(w.word)) upper = true;
    if (/\p{Ll}/u.test(w.word)) lower = true;
    if (upper && lower) return true;
  }
  return false;
}

type Mark = '' | '.' | '?' | ',';

/** Local marks after each word (index i: mark after word i). Words are lowercase cores. */
export function localMarks(tokens: string[], times: { start: number; end: number }[], opts: PunctuateOptions): Mark[] {
  const sentenceGap = opts.sentenceGap ?? PUNCTUATION_DEFAULTS.sentenceGap;
  const commaGap = opts.commaGap ?? PUNCTUATION_DEFAULTS.commaGap;
  const pauseComma = opts.pauseComma ?? PUNCTUATION_DEFAULTS.pauseComma;
  const n = tokens.length;
  const marks: Mark[] = new Array(n).fill('');
  if (!n) return marks;
  const english = opts.english !== false;
  const gap = (i: number) => (i + 1 < n ? times[i + 1].start - times[i].end : Infinity);
  const open = (i: number) =>
    english && (NO_BREAK_AFTER.has(tokens[i]) || (i + 1 < n && (NO_BREAK_BEFORE.has(tokens[i + 1]) || FIXED_PAIRS.has(`${tokens[i]} ${tokens[i + 1]}`))));

  // 1. Sentence boundaries.
  const ends: boolean[] = new Array(n).fill(false);
  for (let i = 0; i < n - 1; i++) {
    if (open(i)) continue;
    if (gap(i) >= sentenceGap) ends[i] = true;
    // "... logged on. Please enter ...": a short pause before "please" + imperative after a clause
    else if (english && gap(i) >= commaGap && i >= 2 && tokens[i + 1] === 'please' && IMPERATIVES.has(tokens[i + 2])) ends[i] = true;
  }
  if (opts.endsSentence === true || (opts.endsSentence === undefined && !(english && OPEN_END.has(tokens[n - 1])))) ends[n - 1] = true;

  // 2. Per sentence: question form, commas.
  let s = 0;
  while (s < n) {
    let e = s;
    while (e < n - 1 && !ends[e]) e++;
    if (!english) {
      if (ends[e]) marks[e] = '.';
      s = e + 1;
      continue;
    }
    // Discourse markers at the sentence start.
    let k = s;
    while (k < e) {
      const m = DISCOURSE_MARKERS[tokens[k]];
      if (!m) break;
      const next = tokens[k + 1];
      if (m.needsSubject && !(SUBJECTS.has(next) || DISCOURSE_MARKERS[next] || WH_WORDS.has(next) || FIRST_PERSON.test(next))) break;
      if (!DISCOURSE_MARKERS[next]) marks[k] = ',';
      k++;
    }
    // Question form from the wording at the (marker-stripped) start; a leading "so", "and",
    // "but", "well", "okay" that did not take a comma may precede it ("so can you ...").
    const questionAt = (q: number) => {
      const a = tokens[q];
      const b = q + 1 <= e ? tokens[q + 1] : undefined;
      if (WH_CONTRACTED.has(a) && q < e) return true;
      if (WH_WORDS.has(a) && b !== undefined && WH_FOLLOWERS.has(b)) return true;
      return AUXILIARIES.has(a) && b !== undefined && isInversionSubject(a, b);
    };
    const question = questionAt(k) || ((DISCOURSE_MARKERS[tokens[k]] !== undefined || COORDINATORS.has(tokens[k])) && k < e && questionAt(k + 1));
    // Commas at pauses inside the sentence.
    for (let i = k; i < e; i++) {
      if (marks[i] || open(i)) continue;
      const g = gap(i);
      const before = i - s + 1;
      const after = e - i;
      if (COORDINATORS.has(tokens[i + 1]) && g >= commaGap && before >= 3 && after >= 3) marks[i] = ',';
      else if (g >= pauseComma && before >= 2 && after >= 2) marks[i] = ',';
    }
    if (ends[e]) marks[e] = question ? '?' : '.';
    s = e + 1;
  }
  return marks;
}

/** Words a sentence cannot end on: a real-time final that ends with one was cut mid-sentence. */
const OPEN_END = new Set(['the', 'a', 'an', 'my', 'your', 'his', 'their', 'our', 'its', 'of', 'and', 'but', 'or', 'nor', 'because', 'if', 'than', 'very', 'every', 'each', 'whether', 'although']);

/** Two-word expressions never split by a mark ("you know", "sort of"). */
const FIXED_PAIRS = new Set(['you know', 'i mean', 'kind of', 'sort of', 'a lot', 'thank you', 'of course', 'as well', 'at least', 'right now']);

/** Verbs that follow a sentence-initial "please" (service and phone-prompt speech). */
const IMPERATIVES = new Set(['enter', 'try', 'hold', 'press', 'call', 'wait', 'note', 'leave', 'say', 'select', 'stay', 'dial', 'record', 'hang', 'check', 'contact', 'visit', 'remember', 'make', 'send', 'let', 'give', 'tell', 'confirm']);

const PRONOUN_SUBJECTS = new Set(['i', 'you', 'he', 'she', 'it', 'we', 'they', 'there', 'anyone', 'anybody', 'someone', 'somebody', 'everyone', 'everybody']);

/** "do/have + the ..." is usually an imperative ("Do the dishes"); other auxiliaries invert with any subject. */
function isInversionSubject(aux: string, next: string): boolean {
  if (aux === 'do' || aux === 'have') return PRONOUN_SUBJECTS.has(next);
  return SUBJECTS.has(next);
}

/**
 * The local path: marks and casing on lowercase (or all-caps) recognizer words. Words that already
 * carry punctuation or mixed case keep it (see the module comment). Times are never changed.
 */
export function punctuate(words: Word[], opts: PunctuateOptions): Word[] {
  if (!words.length) return words;
  const punctuated = hasPunctuation(words);
  const cased = hasCasing(words);
  let out: Word[];
  if (punctuated && cased) {
    out = words;
  } else {
    // Split each word into its core and the marks it already carries.
    const cores = words.map((w) => {
      const m = LETTER_DOTS.test(w.word) ? null : TRAILING.exec(w.word);
      const core = m ? w.word.slice(0, m.index) : w.word;
      return { core: cased || BRACKETED.test(core) ? core : core.toLowerCase(), mark: m ? m[0] : '' };
    });
    const lower = cores.map((c) => c.core.toLowerCase());
    const marks: string[] = punctuated ? cores.map((c) => c.mark) : localMarks(lower, words, opts);
    let forms = cores.map((c) => c.core);
    if (!cased) {
      const sentenceEnds = marks.map((m) => /[.?!。？！]/u.test(m));
      const proper = opts.english === false ? lower.map(() => false) : properNouns(lower, sentenceEnds);
      forms = forms.map((f, i) => {
        if (BRACKETED.test(f)) return f;
        if (opts.english !== false && FIRST_PERSON.test(f)) return capitalizeFirst(f);
        if (proper[i]) f = capitalizeWord(f);
        if ((i === 0 && opts.startsSentence !== false) || (i > 0 && sentenceEnds[i - 1])) f = capitalizeFirst(f);
        return f;
      });
    } else if (!punctuated) {
      // Cased but unpunctuated input: only the new sentence starts need a capital.
      forms = forms.map((f, i) => (i > 0 && /[.?!]/.test(marks[i - 1]) && !BRACKETED.test(f) ? capitalizeFirst(f) : f));
    }
    out = words.map((w, i) => ({ ...w, word: forms[i].endsWith('.') && marks[i] === '.' ? forms[i] : forms[i] + marks[i] }));
  }
  return formatWords(out, opts);
}

/** Pulse's `punctuate=false` (strip . , ? !) and `capitalize=false` (lowercase) on final words. */
export function formatWords(words: Word[], opts: { punctuate: boolean; capitalize: boolean }): Word[] {
  if (opts.punctuate && opts.capitalize) return words;
  const out: Word[] = [];
  for (const w of words) {
    let word = w.word;
    if (!BRACKETED.test(word)) {
      if (!opts.punctuate) word = word.replace(STRIP, '');
      if (!opts.capitalize) word = word.toLowerCase();
    }
    if (!word) continue;
    out.push(word === w.word ? w : { ...w, word });
  }
  return out;
}

/** Same as `formatWords` on free text (engines that give text without words). */
export function formatText(text: string, opts: { punctuate: boolean; capitalize: boolean }): string {
  let t = text;
  if (!opts.punctuate) t = t.replace(/(?<!\[[^\]]*)[.,?!](?![^[]*\])/g, '').replace(/\s+/g, ' ').trim();
  if (!opts.capitalize) t = t.replace(/(\[[^\]]*\])|[^[]+/g, (m, ph: string | undefined) => (ph ? m : m.toLowerCase()));
  return t;
}

const WORD_CHAR = /[\p{L}\p{N}']/u;
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
/** Full-width marks (CT-Transformer emits them for English too) → ASCII after non-CJK words. */
const ASCII_MARK: Record<string, string> = { '，': ',', '。': '.', '？': '?', '！': '!', '、': ',', '；': ';', '：': ':' };

/**
 * Put a model's punctuated (and possibly cased) text back onto the words it was made from:
 * "hello，how are you？" or "Hello, how are you?" onto [hello, how, are, you]. The output is walked
 * character by character against the words' letters, so it works with and without spaces (CJK); a
 * mark after a word's last letter is attached to that word (as ASCII after a non-CJK word); the
 * model's letter case is copied. If the model changed the letters, the words from there on keep
 * their own form. Times and the word count never change.
 */
export function applyPunctuatedText(words: Word[], text: string): Word[] {
  const targets = words.map((w) => [...w.word].filter((c) => WORD_CHAR.test(c)).map((c) => c.toLowerCase()));
  const cased = targets.map(() => [] as string[]);
  const trail = words.map(() => '');
  let wi = 0;
  let p = 0;
  let done = -1; // last word whose letters are all matched
  while (wi < words.length && !targets[wi].length) wi++;
  for (const c of text) {
    if (WORD_CHAR.test(c)) {
      if (wi >= words.length || c.toLowerCase() !== targets[wi][p]) break; // the model changed the text
      cased[wi].push(c);
      p++;
      if (p === targets[wi].length) {
        done = wi;
        wi++;
        p = 0;
        while (wi < words.length && !targets[wi].length) wi++;
      }
    } else if (!/\s/u.test(c) && p === 0 && done >= 0) {
      trail[done] += CJK.test(words[done].word) ? c : (ASCII_MARK[c] ?? c);
    }
  }
  return words.map((w, i) => {
    if (cased[i].length !== targets[i].length || !targets[i].length) return w;
    // copy the model's case onto the word's own characters
    let k = 0;
    const base = [...w.word.replace(/[.,?!;:。？！，、]+$/u, '')].map((ch) => (WORD_CHAR.test(ch) && k < cased[i].length ? cased[i][k++] : ch)).join('');
    return { ...w, word: base + trail[i].replace(/[^.,?!;:。？！，、]/gu, '') };
  });
}
