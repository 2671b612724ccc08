/**
 * Truecasing of lowercase recognizer words: proper nouns (people, places, organizations,
 * nationalities), months and weekdays, found by compromise's part-of-speech tagger, which combines
 * its lexicon with context rules ("bill you" is a verb, "Bill Clinton" a name; "may I" a modal,
 * "in May" a month).
 */
import nlp from 'compromise';

const PROPER = ['Person', 'Place', 'Organization', 'ProperNoun', 'Demonym', 'Month', 'WeekDay', 'Honorific'];
/** Tags that veto capitalization even when a proper-noun tag is also present. */
const NOT_PROPER = ['Pronoun', 'Verb', 'Modal', 'Preposition', 'Conjunction', 'Determiner', 'Adverb', 'Expression', 'QuestionWord'];

interface CompromiseTerm {
  text: string;
  pre: string;
  post: string;
  tags: Set<string>;
}

/**
 * Which of `tokens` (lowercase words, in order) are proper nouns. `sentenceBreaks[i]` tells the
 * tagger a sentence ends after token i (it tags better with sentence boundaries).
 */
export function properNouns(tokens: string[], sentenceEnds?: boolean[]): boolean[] {
  const out = new Array<boolean>(tokens.length).fill(false);
  if (!tokens.length || !hasCandidate(tokens)) return out;
  // Build the text and remember where each token starts.
  const starts: number[] = [];
  let text = '';
  tokens.forEach((tok, i) => {
    if (i) text += sentenceEnds?.[i - 1] ? '. ' : ' ';
    starts.push(text.length);
    text += tok;
  });
  const doc = nlp(text) as unknown as { docs: CompromiseTerm[][] };
  // Walk terms, tracking character offsets (pre + text + post reproduce the input).
  let pos = 0;
  let ti = 0;
  for (const sentence of doc.docs) {
    for (const term of sentence) {
      pos += term.pre.length;
      const tStart = pos;
      pos += term.text.length + term.post.length;
      if (!term.text) continue;
      while (ti + 1 < starts.length && starts[ti + 1] <= tStart) ti++;
      const tags = term.tags;
      if (!PROPER.some((t) => tags.has(t)) || NOT_PROPER.some((t) => tags.has(t))) continue;
      // Two-letter "places" are postal abbreviations ("chicago oh" → "Chicago, OH"): never spoken as words.
      if (term.text.length <= 2 && !tags.has('Honorific') && !tags.has('Person')) continue;
      out[ti] = true;
    }
  }
  return out;
}

interface World {
  model: { one: { lexicon: Record<string, string | string[]>; tagSet: Record<string, { parents?: string[] }> } };
}

let candidateTags: Set<string> | undefined;
const MONTHS_DAYS = new Set([
  'january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december',
  'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday',
]);

/** Whether compromise's lexicon has a (possibly contextual) proper noun among the tokens. */
function isCandidate(lex: Record<string, string | string[]>, key: string): boolean {
  const v = lex[key];
  if (v === undefined) return false;
  return (Array.isArray(v) ? v : [v]).some((t) => candidateTags!.has(t));
}

/**
 * Cheap pre-check so that the tagger (about 1 ms per 20 words) only runs on pieces that contain a
 * word the lexicon knows as a name, place, organization, nationality, month or weekday (single
 * words and the lexicon's two- and three-word entries such as "new york").
 */
export function hasCandidate(tokens: string[]): boolean {
  const world = (nlp as unknown as { world(): World }).world();
  const lex = world.model.one.lexicon;
  if (!candidateTags) {
    const ts = world.model.one.tagSet;
    candidateTags = new Set(Object.keys(ts).filter((t) => PROPER.includes(t) || (ts[t].parents ?? []).some((p) => PROPER.includes(p))));
  }
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (MONTHS_DAYS.has(t) || isCandidate(lex, t)) return true;
    if (i + 1 < tokens.length && isCandidate(lex, `${t} ${tokens[i + 1]}`)) return true;
    if (i + 2 < tokens.length && isCandidate(lex, `${t} ${tokens[i + 1]} ${tokens[i + 2]}`)) return true;
  }
  return false;
}

/** "new" → "New", "o'brien" → "O'brien", "jean-luc" → "Jean-Luc". */
export function capitalizeWord(w: string): string {
  return w.replace(/(^|-)(\p{Ll})/gu, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

export function capitalizeFirst(w: string): string {
  const i = w.search(/\p{L}/u);
  if (i < 0) return w;
  return w.slice(0, i) + w[i].toUpperCase() + w.slice(i + 1);
}
