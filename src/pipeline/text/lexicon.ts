/**
 * Word classes the local punctuation and casing rules use. Proper nouns do not come from here:
 * they come from compromise's tagger (its lexicon of ~2,700 people, places and organizations plus
 * context rules, see `truecase.ts`). These are closed-class function words (English grammar, not a
 * list to grow), where no library offers a better source.
 */

export const WH_WORDS = new Set(['what', 'where', 'when', 'why', 'who', 'whom', 'whose', 'which', 'how']);

/** Auxiliaries and modals that start a yes/no question when followed by a subject. */
export const AUXILIARIES = new Set([
  'am', 'is', 'are', 'was', 'were', 'do', 'does', 'did', 'can', 'could', 'will', 'would', 'shall', 'should',
  'may', 'might', 'must', 'have', 'has', 'had',
  "isn't", "aren't", "wasn't", "weren't", "don't", "doesn't", "didn't", "can't", "couldn't", "won't",
  "wouldn't", "shouldn't", "haven't", "hasn't", "hadn't", "mustn't",
]);

/** Subjects after an auxiliary that make "aux + subject" an inversion ("are you", "can the ..."). */
export const SUBJECTS = new Set([
  'i', 'you', 'he', 'she', 'it', 'we', 'they', 'there', 'this', 'that', 'these', 'those', 'anyone', 'anybody',
  'someone', 'somebody', 'everyone', 'everybody', 'the', 'a', 'an', 'your', 'my', 'his', 'her', 'our', 'their', 'its',
]);

/** Words a wh-question continues with ("what is", "how do", "where did", "how many"). */
export const WH_FOLLOWERS = new Set([
  ...AUXILIARIES, "what's", "where's", "who's", "how's", 'much', 'many', 'long', 'far', 'often', 'old', 'about', 'else',
]);

/** Contracted wh + aux forms that are questions on their own at a sentence start. */
export const WH_CONTRACTED = new Set(["what's", "where's", "who's", "how's", "when's", "why's", "what're", "where're"]);

/**
 * Sentence-initial discourse markers that take a comma after them ("Well, I ...", "Yes, we ...").
 * `needsSubject`: only when a subject follows ("no one" and "well done" are not markers).
 */
export const DISCOURSE_MARKERS: Record<string, { needsSubject: boolean }> = {
  however: { needsSubject: false },
  anyway: { needsSubject: false },
  meanwhile: { needsSubject: false },
  therefore: { needsSubject: false },
  furthermore: { needsSubject: false },
  moreover: { needsSubject: false },
  nevertheless: { needsSubject: false },
  unfortunately: { needsSubject: false },
  fortunately: { needsSubject: false },
  okay: { needsSubject: false },
  ok: { needsSubject: false },
  alright: { needsSubject: false },
  yes: { needsSubject: false },
  yeah: { needsSubject: false },
  oh: { needsSubject: false },
  hello: { needsSubject: false },
  hi: { needsSubject: false },
  hey: { needsSubject: false },
  well: { needsSubject: true },
  no: { needsSubject: true },
  actually: { needsSubject: true },
  so: { needsSubject: true },
};

/** Coordinating conjunctions: a comma before them when a pause marks a clause boundary. */
export const COORDINATORS = new Set(['and', 'but', 'or', 'so', 'yet', 'nor']);

/**
 * Words after which no punctuation mark may be placed, whatever the pause: determiners,
 * prepositions, conjunctions and auxiliaries keep the sentence open ("the ... house").
 */
export const NO_BREAK_AFTER = new Set([
  'the', 'a', 'an', 'this', 'that', 'these', 'those', 'my', 'your', 'his', 'her', 'our', 'their', 'its', 'some', 'any',
  'of', 'to', 'in', 'on', 'at', 'by', 'for', 'with', 'from', 'into', 'onto', 'about', 'as', 'than', 'like', 'upon',
  'and', 'but', 'or', 'nor', 'if', 'because', 'although', 'though', 'while', 'whether',
  'am', 'is', 'are', 'was', 'were', 'be', 'been', 'being', 'do', 'does', 'did', 'have', 'has', 'had',
  'can', 'could', 'will', 'would', 'shall', 'should', 'may', 'might', 'must', 'very', 'not', 'no', 'every', 'each',
  'i', 'we', 'they', 'he', 'she', "i'm", "we're", "they're", "you're", "it's", 'mr', 'mrs', 'ms', 'dr', 'st',
]);

/** Words that do not start a new sentence after a pause (the sentence goes on). */
export const NO_BREAK_BEFORE = new Set(["'s", 'of', 'than', 'to', 'n\'t']);

/** "i" and its contractions: always capitalized. */
export const FIRST_PERSON = /^i('m|'ll|'ve|'d)?$/;
