/**
 * Truecasing of lowercase recognizer words: proper nouns (people, places, organizations,
 * nationalities), months and weekdays, found by compromise's part-of-speech tagger, which combines
 * its lexicon with context rules ("bill you" is a verb, "Bill Clinton" a name; "may I" a modal,
 * "in May" a month).
 */
import nlp from 'compromise';

const PROPER = ['Person', 'Place', 'Organization', 'ProperNoun', 'Demonym', 'Month', 'WeekDay', 'Honorific'];
/** Tags that veto capitalization even when a proper-noun tag is also present. */
const NOT_PROPER = ['Pronoun', 'Verb', 'Modal', 'Preposition', 'Conjunction', 'Determiner', 'Adverb'];

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
  if (!tokens.length) return out;
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
      if (PROPER.some((t) => tags.has(t)) && !NOT_PROPER.some((t) => tags.has(t))) out[ti] = true;
    }
  }
  return out;
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
