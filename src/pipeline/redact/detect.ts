/**
 * PII/PCI detection over a token sequence (one transcript piece), spoken or written form, cased or
 * lowercase. Returns non-overlapping spans with an entity type and a normalized value (the key that
 * keeps one placeholder number per entity).
 *
 * Resources: census name lexicon and USPS suffixes (lexicon.ts), libphonenumber-js for phone
 * numbers, compromise for part of speech and person tagging (it uses case when the engine gives
 * it), Luhn for card numbers. Context words decide what a bare digit run is ("security code" →
 * CVV, "zip" → ZIP, ...): the nearest one before the run wins.
 */
import nlp from 'compromise';
import { parsePhoneNumberFromString } from 'libphonenumber-js';
import { addressLexicon, nameLexicon } from './lexicon.ts';
import { isRunToken, luhn, runDigits, TEEN, TENS, UNIT, writtenDigits } from './numbers.ts';

export type EntityType =
  | 'FIRSTNAME'
  | 'LASTNAME'
  | 'ADDRESS'
  | 'PHONENUMBER'
  | 'EMAIL'
  | 'CREDITCARDNUMBER'
  | 'CREDITCARDCVV'
  | 'CREDITCARDEXPIRY'
  | 'ZIPCODE'
  | 'ACCOUNTNUMBER';

export const PII_TYPES: ReadonlySet<EntityType> = new Set(['FIRSTNAME', 'LASTNAME', 'ADDRESS', 'PHONENUMBER', 'EMAIL']);
export const PCI_TYPES: ReadonlySet<EntityType> = new Set(['CREDITCARDNUMBER', 'CREDITCARDCVV', 'CREDITCARDEXPIRY', 'ZIPCODE', 'ACCOUNTNUMBER']);

export interface Token {
  /** As written (may carry punctuation and case). */
  raw: string;
  /** Lowercase, outer punctuation stripped. */
  norm: string;
  /** Has an uppercase first letter in the source (only meaningful when the text is cased). */
  cap: boolean;
}

export interface Span {
  /** Token indices [start, end). */
  start: number;
  end: number;
  type: EntityType;
  /** Normalized value: same entity, same key. */
  key: string;
}

export interface DetectOptions {
  /** Tokens of the previous piece (real time): context only, never redacted. */
  context?: Token[];
  /** Whether the source is cased (then capitalization is evidence). */
  cased?: boolean;
  /** Real time: the previous piece ended in an unfinished card-context digit run. */
  cardContinues?: boolean;
  /** Real time: a card-context run at the end of the piece may continue in the next one. */
  realtime?: boolean;
}

export function tokenize(raw: string): Token {
  const norm = raw
    .toLowerCase()
    .replace(/^[^\p{L}\p{N}(+]+/u, '')
    .replace(/[^\p{L}\p{N})]+$/u, '')
    .replace(/’/g, "'");
  return { raw, norm, cap: /^[^\p{L}]*\p{Lu}/u.test(raw) };
}

// ---------------------------------------------------------------------------------------------
// Context

type Ctx = 'CARD' | 'CVV' | 'EXPIRY' | 'ZIP' | 'ACCOUNT' | 'PHONE' | 'ADDRESS';

/** Context cue → what a following digit run is. Multi-word cues are checked first. */
const CUES2: Record<string, Ctx> = {
  'security code': 'CVV',
  'security number': 'CVV',
  'verification code': 'CVV',
  'verification number': 'CVV',
  'card verification': 'CVV',
  'zip code': 'ZIP',
  'postal code': 'ZIP',
  'area code': 'PHONE',
  'pin code': 'ACCOUNT',
  'valid thru': 'EXPIRY',
  'valid through': 'EXPIRY',
  'good thru': 'EXPIRY',
  'good through': 'EXPIRY',
  'expiration date': 'EXPIRY',
  'expiry date': 'EXPIRY',
  'exp date': 'EXPIRY',
  'master card': 'CARD',
  'american express': 'CARD',
  'sort code': 'ACCOUNT',
  'social security': 'ACCOUNT',
  'reach me': 'PHONE',
  'call me': 'PHONE',
  'text me': 'PHONE',
  'live at': 'ADDRESS',
  'live on': 'ADDRESS',
  'lives at': 'ADDRESS',
  'located at': 'ADDRESS',
  'ship to': 'ADDRESS',
  'deliver to': 'ADDRESS',
  'send it to': 'ADDRESS',
  'address is': 'ADDRESS',
};
const CUES1: Record<string, Ctx> = {
  card: 'CARD', cards: 'CARD', credit: 'CARD', debit: 'CARD', visa: 'CARD', mastercard: 'CARD', amex: 'CARD', discover: 'CARD',
  cvv: 'CVV', cvc: 'CVV', cvv2: 'CVV', cvc2: 'CVV', csc: 'CVV', cid: 'CVV', code: 'CVV',
  expires: 'EXPIRY', expire: 'EXPIRY', expiry: 'EXPIRY', expiration: 'EXPIRY', expiring: 'EXPIRY', expired: 'EXPIRY', exp: 'EXPIRY',
  zip: 'ZIP', zipcode: 'ZIP', postcode: 'ZIP', postal: 'ZIP',
  account: 'ACCOUNT', acct: 'ACCOUNT', pin: 'ACCOUNT', passcode: 'ACCOUNT', routing: 'ACCOUNT', iban: 'ACCOUNT', bank: 'ACCOUNT', checking: 'ACCOUNT', savings: 'ACCOUNT', ssn: 'ACCOUNT', member: 'ACCOUNT', policy: 'ACCOUNT',
  phone: 'PHONE', telephone: 'PHONE', cell: 'PHONE', mobile: 'PHONE', fax: 'PHONE', landline: 'PHONE', callback: 'PHONE', call: 'PHONE', dial: 'PHONE', extension: 'PHONE',
  address: 'ADDRESS',
};
/** How far back (tokens) a cue reaches. */
const CUE_WINDOW = 10;

function cueAt(ws: string[], i: number): Ctx | undefined {
  if (i > 0) {
    const two = CUES2[`${ws[i - 1]} ${ws[i]}`];
    if (two) return two;
  }
  if (i > 1 && ws[i - 2] === 'send' && ws[i - 1] === 'it' && ws[i] === 'to') return 'ADDRESS';
  return CUES1[ws[i]];
}

// ---------------------------------------------------------------------------------------------
// Words

const MONTHS: Record<string, number> = {
  january: 1, jan: 1, february: 2, feb: 2, march: 3, mar: 3, april: 4, apr: 4, may: 5, june: 6, jun: 6, july: 7, jul: 7,
  august: 8, aug: 8, september: 9, sept: 9, sep: 9, october: 10, oct: 10, november: 11, nov: 11, december: 12, dec: 12,
};
const TLD = new Set(['com', 'net', 'org', 'edu', 'gov', 'io', 'co', 'us', 'uk', 'info', 'biz', 'me', 'ca', 'ai', 'dev', 'app', 'mil']);
const EMAIL_JOIN: Record<string, string> = { dot: '.', period: '.', underscore: '_', dash: '-', hyphen: '-', '.': '.', _: '_', '-': '-' };
const DIRECTION = new Set(['north', 'south', 'east', 'west', 'northeast', 'northwest', 'southeast', 'southwest', 'n', 's', 'e', 'w', 'ne', 'nw', 'se', 'sw']);
const UNIT_WORDS = new Set(['apartment', 'apt', 'unit', 'suite', 'ste', 'floor', 'room', 'building', 'bldg', 'lot', '#', 'number']);
const ORDINAL_WORDS = new Set([
  'first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth', 'eleventh', 'twelfth', 'thirteenth',
  'fourteenth', 'fifteenth', 'sixteenth', 'seventeenth', 'eighteenth', 'nineteenth', 'twentieth', 'thirtieth', 'fortieth', 'fiftieth',
]);
/**
 * Street suffixes that name a thoroughfare in ordinary speech (standard USPS abbreviations). The
 * rest of Pub 28 C1 ("key", "well", "light", "point", "club", ...) counts only with an address cue
 * or a capitalized name.
 */
const STRONG_SUFFIX = new Set([
  'st', 'ave', 'rd', 'dr', 'ln', 'blvd', 'ct', 'pl', 'cir', 'ter', 'pkwy', 'hwy', 'way', 'trl', 'sq', 'aly', 'expy', 'fwy', 'pike', 'tpke', 'plz', 'cres', 'loop', 'xing', 'row', 'walk', 'ctr', 'rdg', 'hts', 'gln', 'holw', 'crk', 'cv',
]);
const FILLERS = new Set(['uh', 'um', 'er', 'ah', 'hmm', 'like']);
/** Part-of-speech tags that never start or continue a name, an email local part or a street name. */
const FUNCTION_TAGS = ['Determiner', 'Preposition', 'Conjunction', 'Pronoun', 'Negative', 'Copula', 'Auxiliary', 'QuestionWord', 'Expression'];

/** Name cues: token sequence before the name → which part comes first, and how strong. */
interface NameCue {
  words: string[];
  first: 'FIRSTNAME' | 'LASTNAME';
  strong: boolean;
}
const NAME_CUES: NameCue[] = [
  ...['my name is', "my name's", 'name is', 'names is', 'first name is', 'known as', 'goes by', 'first name', 'named', 'spelled'].map((s) => ({ words: s.split(' '), first: 'FIRSTNAME' as const, strong: true })),
  ...['last name is', 'surname is', 'family name is', 'last name', 'surname', 'mr', 'mrs', 'ms', 'miss', 'mister', 'missus', 'dr', 'doctor', 'professor'].map((s) => ({ words: s.split(' '), first: 'LASTNAME' as const, strong: true })),
  ...['call me', 'this is', 'it is', "it's", "i'm", 'i am', 'speak to', 'speak with', 'speaking with', 'talk to', 'talking to', 'ask for', 'hi', 'hello', 'hey', 'thanks', 'thank you', 'dear', 'bye', 'goodbye', 'and', 'with', 'from', 'tell', 'ask', 'for'].map((s) => ({ words: s.split(' '), first: 'FIRSTNAME' as const, strong: false })),
];

// ---------------------------------------------------------------------------------------------

interface Tagged {
  tags: Set<string>;
}

/** compromise tags per token (mapped back by character offset). */
function tagTokens(tokens: Token[]): Tagged[] {
  const out: Tagged[] = tokens.map(() => ({ tags: new Set<string>() }));
  if (!tokens.length) return out;
  const starts: number[] = [];
  let text = '';
  for (const t of tokens) {
    starts.push(text.length);
    text += t.raw + ' ';
  }
  // Walk compromise's terms in order: pre + text + post reproduce the input, so the running length
  // is each term's character offset (cheaper than .json({offset:true})).
  const doc = nlp(text) as unknown as { document: Array<Array<{ text: string; pre: string; post: string; tags: Set<string> }>> };
  let at = 0;
  let k = 0;
  for (const s of doc.document) {
    for (const term of s) {
      at += term.pre.length;
      while (k + 1 < starts.length && starts[k + 1] <= at) k++;
      for (const tag of term.tags) out[k].tags.add(tag);
      at += term.text.length + term.post.length;
    }
  }
  return out;
}

function has(t: Tagged | undefined, ...tags: string[]): boolean {
  return !!t && tags.some((x) => t.tags.has(x));
}

export function detect(tokens: Token[], opts: DetectOptions = {}): Span[] {
  const ctxToks = opts.context ?? [];
  const all = [...ctxToks, ...tokens];
  const off = ctxToks.length;
  const ws = all.map((t) => t.norm);
  const spans: Array<Span & { prio: number }> = [];
  const add = (start: number, end: number, type: EntityType, key: string, prio: number) => {
    if (end <= off) return;
    spans.push({ start: Math.max(start, off), end, type, key, prio });
  };
  let tags: Tagged[] | undefined;
  const tag = () => (tags ??= [...ctxToks.map(() => ({ tags: new Set<string>() })), ...tagTokens(tokens)]);
  const names = nameLexicon();
  const addr = addressLexicon();

  /** Nearest cue before index i (within the window), and its distance. */
  const cueBefore = (i: number, window = CUE_WINDOW): Ctx | undefined => {
    for (let j = i - 1; j >= Math.max(0, i - window); j--) {
      const c = cueAt(ws, j);
      if (c) return c;
    }
    return undefined;
  };

  // --- Emails: written, then spoken ("john dot smith at gmail dot com").
  for (let i = 0; i < ws.length; i++) {
    const m = /^[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.[\p{L}]{2,}$/u.exec(ws[i]);
    if (m) add(i, i + 1, 'EMAIL', ws[i], 100);
  }
  for (let i = 1; i < ws.length - 2; i++) {
    if (ws[i] !== 'at') continue;
    // Domain: label (join label)* ending in a TLD.
    let j = i + 1;
    const dom: string[] = [];
    if (!/^[\p{L}\p{N}-]+$/u.test(ws[j] ?? '')) continue;
    dom.push(ws[j++]);
    let sawTld = false;
    while (j + 1 < ws.length + 1 && (ws[j] === 'dot' || ws[j] === '.')) {
      const lab = ws[j + 1];
      if (!lab || !/^[\p{L}\p{N}-]+$/u.test(lab)) break;
      dom.push(lab);
      j += 2;
      if (TLD.has(lab)) sawTld = true;
    }
    if (!sawTld && /\.(com|net|org|edu|gov|io)$/.test(dom[0])) sawTld = true;
    if (!sawTld) continue;
    // Local part: back from "at" over token (join token)*, digits and spelled letters included.
    let s = i - 1;
    if (!/^[\p{L}\p{N}]+$/u.test(ws[s]) || has(tag()[s], ...FUNCTION_TAGS)) continue;
    while (s - 2 >= 0 && EMAIL_JOIN[ws[s - 1]] !== undefined && /^[\p{L}\p{N}]+$/u.test(ws[s - 2])) s -= 2;
    // Spelled letters before the local part ("j smith at ...") join it.
    while (s - 1 >= 0 && /^\p{L}$/u.test(ws[s - 1]) && ws[s - 1] !== 'a' && ws[s - 1] !== 'i') s--;
    const local = ws.slice(s, i).map((w) => EMAIL_JOIN[w] ?? w).join('');
    add(s, j, 'EMAIL', `${local}@${dom.join('.')}`, 100);
  }

  // --- Digit runs.
  interface Run {
    start: number;
    end: number;
    digits: string;
    /** Written with phone punctuation, e.g. "(555) 123-4567". */
    phoneFormat: boolean;
  }
  const runs: Run[] = [];
  for (let i = 0; i < ws.length; ) {
    if (!isRunToken(ws, i)) {
      i++;
      continue;
    }
    let j = i;
    while (j < ws.length && isRunToken(ws, j)) j++;
    const slice = ws.slice(i, j);
    const digits = runDigits(slice);
    const raw = all.slice(i, j).map((t) => t.raw).join(' ');
    if (digits.length) runs.push({ start: i, end: j, digits, phoneFormat: /\(\d{3}\)|\d{3}[-.]\d{3,4}/.test(raw) });
    i = j;
  }

  for (const r of runs) {
    const n = r.digits.length;
    const cue = cueBefore(r.start);
    const isEnd = r.end === ws.length;
    if (cue === 'ACCOUNT' && n >= 4) {
      add(r.start, r.end, 'ACCOUNTNUMBER', r.digits, 80);
      continue;
    }
    if (n >= 13 && n <= 19 && luhn(r.digits)) {
      add(r.start, r.end, 'CREDITCARDNUMBER', r.digits, 90);
      continue;
    }
    const endWord = (w: string | undefined) => w === 'ends' || w === 'ending' || w === 'last';
    const lastDigits = endWord(ws[r.start - 1]) || (endWord(ws[r.start - 2]) && ['in', 'with', 'four', 'digits'].includes(ws[r.start - 1]));
    // In a card context: 12+ digits (the rule), and also any 4+ digit fragment: what a
    // recognizer keeps of a card number it partly misheard, or the start of one split across
    // real-time finals. Not "ends in 4432" / "last four 4432" (PCI DSS allows the last four).
    if (cue === 'CARD' && (n >= 12 || (n >= 4 && !lastDigits))) {
      add(r.start, r.end, 'CREDITCARDNUMBER', r.digits, 90);
      continue;
    }
    if (r.start === off && opts.cardContinues && n >= 4) {
      add(r.start, r.end, 'CREDITCARDNUMBER', r.digits, 90);
      continue;
    }
    if (cue === 'CVV' && (n === 3 || n === 4)) {
      add(r.start, r.end, 'CREDITCARDCVV', r.digits, 80);
      continue;
    }
    if (cue === 'EXPIRY' && expiryDigits(r.digits)) {
      add(r.start, r.end, 'CREDITCARDEXPIRY', expiryDigits(r.digits)!, 80);
      continue;
    }
    if (cue === 'ZIP' && (n === 5 || n === 9)) {
      add(r.start, r.end, 'ZIPCODE', r.digits.slice(0, 5), 80);
      continue;
    }
    // After a state name (address tail): "springfield illinois six two seven oh four".
    if ((n === 5 || n === 9) && r.start > 0 && (addr.states.has(ws[r.start - 1]) || (r.start > 1 && addr.states.has(`${ws[r.start - 2]} ${ws[r.start - 1]}`)))) {
      add(r.start, r.end, 'ZIPCODE', r.digits.slice(0, 5), 70);
      continue;
    }
    const phone = phoneKey(r.digits, cue === 'PHONE' || r.phoneFormat);
    if (phone) {
      add(r.start, r.end, 'PHONENUMBER', phone, 70);
      continue;
    }
    // Any other digit string read digit by digit (6+ digits in 6+ words: not "nineteen ninety nine")
    // is an identifier of some kind, or the part of a card number the recognizer kept while it
    // garbled the cue. 15-16 digits: card-length, so a card; otherwise an account number.
    if (n >= 6 && (r.end - r.start >= 6 || n >= 9)) add(r.start, r.end, n === 15 || n === 16 ? 'CREDITCARDNUMBER' : 'ACCOUNTNUMBER', r.digits, 40);
  }

  // --- Expiry dates: month name + year, written MM/YY, after an expiry cue.
  for (let i = 0; i < ws.length; i++) {
    const slash = /^(\d{1,2})\/(\d{2}|\d{4})$/.exec(ws[i]);
    if (slash) {
      const c = cueBefore(i);
      const mm = Number(slash[1]);
      if ((c === 'EXPIRY' || c === 'CARD' || c === 'CVV') && mm >= 1 && mm <= 12) add(i, i + 1, 'CREDITCARDEXPIRY', `${String(mm).padStart(2, '0')}/${slash[2].slice(-2)}`, 85);
      continue;
    }
    const month = MONTHS[ws[i]];
    if (month === undefined || cueBefore(i, 6) !== 'EXPIRY') continue;
    let j = i + 1;
    if (ws[j] === 'of' || ws[j] === 'in') j++;
    const run = runs.find((r) => r.start === j);
    if (run && (run.digits.length === 2 || run.digits.length === 4)) {
      add(i, run.end, 'CREDITCARDEXPIRY', `${String(month).padStart(2, '0')}/${run.digits.slice(-2)}`, 85);
    } else if (i >= off && cueBefore(i, 3) === 'EXPIRY' && !has(tag()[i], 'Modal', 'Verb')) {
      // A month alone right after the cue ("it expires in may"), same piece only.
      add(i, i + 1, 'CREDITCARDEXPIRY', String(month).padStart(2, '0'), 85);
    }
  }

  // --- Addresses: [house number] [direction] name+ suffix [direction] [unit N].
  for (let s = 0; s < ws.length; s++) {
    const run = runs.find((r) => r.start === s);
    const cue = cueBefore(s, 4);
    const hasNumber = !!run && run.digits.length <= 6 && run.digits.length >= 1;
    const poBox = (ws[s] === 'po' || ws[s] === 'p.o' || ws[s] === 'p') && (ws[s + 1] === 'box' || (ws[s + 1] === 'o' && ws[s + 2] === 'box'));
    if (poBox) {
      const bi = ws[s + 1] === 'box' ? s + 2 : s + 3;
      const br = runs.find((r) => r.start === bi);
      if (br) add(s, br.end, 'ADDRESS', `po box ${br.digits}`, 60);
      continue;
    }
    // Without a house number only right after an address cue ("i live on maple avenue").
    if (!hasNumber && (s === 0 || cueAt(ws, s - 1) !== 'ADDRESS')) continue;
    if (hasNumber && s > 0 && ['a', 'an', 'the', 'one', 'per', 'every'].includes(ws[s - 1])) continue;
    let j = hasNumber ? run!.end : s;
    const start = s;
    if (DIRECTION.has(ws[j])) j++;
    const nameStart = j;
    let sfx = -1;
    for (let k = j; k < Math.min(ws.length, j + 4); k++) {
      const std = addr.suffix.get(ws[k]);
      if (std && k > nameStart) {
        const strong = STRONG_SUFFIX.has(std);
        if (strong || cue === 'ADDRESS' || (opts.cased && all[k].cap && all[k - 1].cap)) {
          sfx = k;
          break;
        }
      }
      // Street-name words: proper nouns, ordinals, plain nouns; never function words, units of time or digits.
      const t = tag()[k];
      const ordinal = ORDINAL_WORDS.has(ws[k]) || /^\d+(st|nd|rd|th)$/.test(ws[k]);
      if (!ordinal && (has(t, ...FUNCTION_TAGS, 'Duration', 'Unit', 'Adverb', 'Verb', 'Value', 'Date', 'Plural') || !/^[\p{L}'.-]+$/u.test(ws[k]) || FILLERS.has(ws[k]))) break;
    }
    if (sfx < 0) continue;
    let end = sfx + 1;
    // "oak ridge road", "lake shore drive": suffix words run on.
    while (end < ws.length && end < sfx + 3 && STRONG_SUFFIX.has(addr.suffix.get(ws[end]) ?? '')) end++;
    if (DIRECTION.has(ws[end]) && ws[end].length > 1) end++;
    // Unit: "apartment four b", "suite 200", "unit 3".
    if (UNIT_WORDS.has(ws[end]) && ws[end] !== 'number') {
      const ur = runs.find((r) => r.start === end + 1 || (ws[end + 1] === 'number' && r.start === end + 2));
      if (ur) {
        end = ur.end;
        if (/^\p{L}$/u.test(ws[end] ?? '') && ws[end] !== 'a' && ws[end] !== 'i') end++;
      } else if (/^[\p{L}\p{N}]{1,4}$/u.test(ws[end + 1] ?? '')) end += 2;
    }
    const key = [
      hasNumber ? run!.digits : '',
      ...ws.slice(hasNumber ? run!.end : s, end).map((w) => addr.suffix.get(w) ?? w),
    ].filter(Boolean).join(' ');
    add(start, end, 'ADDRESS', key, 60);
    s = end - 1;
  }

  // --- Names.
  const t = tag();
  const isFunc = (k: number) => has(t[k], ...FUNCTION_TAGS) && !has(t[k], 'Person', 'FirstName', 'LastName');
  const nameWord = (k: number) => k < ws.length && /^\p{L}[\p{L}'-]*$/u.test(ws[k]) && !FILLERS.has(ws[k]);
  const spelled = (k: number) => {
    // Letters spelled out after a name: "smith s m i t h".
    let e = k;
    const single = (x: number) => x >= 0 && /^\p{L}$/u.test(ws[x] ?? '');
    while (e < ws.length && single(e) && (e > k || single(k - 1) || (ws[e] !== 'a' && ws[e] !== 'i'))) e++;
    const letters = single(k - 1) ? ws[k - 1] + ws.slice(k, e).join('') : ws.slice(k, e).join('');
    if (e - k >= 1 && single(k - 1) && ws[e] === letters) e++; // "b a k e r baker"
    else if (e - k < 2) return k;
    else if (ws[e] === letters) e++;
    return e;
  };
  const taken = new Set<number>();
  const addName = (s: number, e: number, type: 'FIRSTNAME' | 'LASTNAME') => {
    e = spelled(e);
    for (let k = s; k < e; k++) taken.add(k);
    add(s, e, type, ws.slice(s, e).join(' ').replace(/\s+/g, ' '), 50);
  };
  const sentenceEnd = (k: number) => k > 0 && /[.?!;:]["')\]]*$/.test(all[k - 1].raw);
  const lastOk = (k: number) =>
    nameWord(k) && !sentenceEnd(k) && !isFunc(k) && !has(t[k], 'Verb', 'Adverb', 'Value', 'Date', 'Duration') &&
    (names.last.has(ws[k]) || has(t[k], "LastName") || (!!opts.cased && all[k].cap && has(t[k], "ProperNoun")));

  // Right after an address, a capitalized word is its city ("42 Wallaby Way, Sydney").
  const afterAddress = new Set<number>();
  for (const sp of spans) if (sp.type === 'ADDRESS') for (let k = sp.end; k < sp.end + 3; k++) afterAddress.add(k);
  for (let i = off; i < ws.length; i++) {
    if (taken.has(i) || !nameWord(i)) continue;
    // Cue immediately before (longest first).
    let cue: NameCue | undefined;
    for (const c of NAME_CUES) {
      const n = c.words.length;
      if (i - n < 0) continue;
      let ok = true;
      for (let q = 0; q < n && ok; q++) ok = ws[i - n + q] === c.words[q];
      if (ok && (!cue || n > cue.words.length || (n === cue.words.length && c.strong))) cue = c;
    }
    const first = names.first.has(ws[i]);
    const last = names.last.has(ws[i]);
    const person = has(t[i], 'Person', 'FirstName', 'LastName', 'MaleName', 'FemaleName') && !has(t[i], 'Month', 'Date', 'Honorific');
    let accept = false;
    const capEvidence = !!opts.cased && all[i].cap && i > off && !/[.?!:]$/.test(all[i - 1].raw);
    const afterDet = i > 0 && ['a', 'an', 'the', 'this', 'that', 'these', 'those', 'your', 'his', 'her', 'our', 'their', 'its', 'every', 'each', 'no'].includes(ws[i - 1]);
    if (cue?.strong) {
      // "my name is X": X is a name unless it is plainly not one ("not", "actually", "the", "calling").
      accept = first || ((last || person) && !has(t[i], 'Adverb', 'Verb', 'Date'))
        ? !has(t[i], 'Determiner', 'Preposition', 'Pronoun', 'Negative')
        : !isFunc(i) && !has(t[i], 'Adverb', 'Verb', 'Adjective', 'Value', 'Date');
    } else if (!afterDet && person && (first || last || capEvidence)) {
      // compromise says person. Words that are also ordinary words ("grant", "bill", "mark") need
      // more: a cue, mid-sentence capitals, or a surname right after.
      const pair = first && lastOk(i + 1) && !isAmbiguous(ws[i + 1]);
      accept = !has(t[i], 'Verb', 'Modal', 'Adjective', 'Month') && (!isAmbiguous(ws[i]) || !!cue || capEvidence || pair);
    } else if (capEvidence && first && !afterDet && !isFunc(i) && !isAmbiguous(ws[i]) && !has(t[i], 'Month', 'Date', 'Verb', 'Modal', 'Place')) {
      accept = true;
    }
    // Places ("Sydney", "Georgia", "Jackson" as a city after an address) need a strong cue.
    if (accept && !cue?.strong && ((has(t[i], 'Place', 'City', 'Country', 'Region') && !has(t[i], 'Person')) || afterAddress.has(i))) accept = false;
    if (!accept) continue;
    let type: 'FIRSTNAME' | 'LASTNAME' = cue?.first ?? 'FIRSTNAME';
    if (type === 'FIRSTNAME' && !first && (last || has(t[i], 'LastName')) && !has(t[i], 'FirstName')) type = 'LASTNAME';
    // Honorific + first + last ("mister john smith") → first and last.
    if (type === 'LASTNAME' && first && lastOk(i + 1) && cue && !/name|surname/.test(cue.words.join(' '))) type = 'FIRSTNAME';
    let e = spelled(i + 1);
    addName(i, e, type);
    if (type === 'FIRSTNAME') {
      // Surname (and a middle name) after the first name.
      let k = e;
      if (lastOk(k)) {
        let k2 = k + 1;
        if (lastOk(k2) && (names.first.has(ws[k]) || /^\p{L}$/u.test(ws[k]))) k2++;
        addName(k, k2, 'LASTNAME');
        i = k2 - 1;
        continue;
      }
    }
    i = e - 1;
  }

  // --- Resolve overlaps: higher priority wins, then longer.
  spans.sort((a, b) => b.prio - a.prio || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const used = new Array<boolean>(all.length).fill(false);
  const out: Span[] = [];
  for (const s of spans) {
    let free = true;
    for (let k = s.start; k < s.end && free; k++) free = !used[k];
    if (!free) continue;
    for (let k = s.start; k < s.end; k++) used[k] = true;
    out.push({ start: s.start - off, end: s.end - off, type: s.type, key: s.key });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** MMYY, MYY, MMYYYY → "MM/YY" when the month is valid. */
function expiryDigits(d: string): string | undefined {
  let mm: number;
  let yy: string;
  if (d.length === 4) {
    mm = Number(d.slice(0, 2));
    yy = d.slice(2);
  } else if (d.length === 3) {
    mm = Number(d.slice(0, 1));
    yy = d.slice(1);
  } else if (d.length === 6) {
    mm = Number(d.slice(0, 2));
    yy = d.slice(4);
  } else return undefined;
  if (mm < 1 || mm > 12) return undefined;
  return `${String(mm).padStart(2, '0')}/${yy}`;
}

/** E.164 form of a phone number in these digits (US default), or undefined. */
function phoneKey(digits: string, cued: boolean): string | undefined {
  const n = digits.length;
  if (n < 7 || n > 15) return undefined;
  if (n === 7) return cued ? digits : undefined;
  const p = parsePhoneNumberFromString(digits.length > 11 ? `+${digits}` : digits, 'US');
  if (!p) return undefined;
  if (p.isValid() || (cued && p.isPossible())) return p.number;
  return undefined;
}

let commonCache: Map<string, boolean> | undefined;
/** A word compromise's lexicon knows as something other than a name ("bill", "will", "grant"). */
function isCommonWord(w: string | undefined): boolean {
  if (!w) return false;
  commonCache ??= new Map();
  let v = commonCache.get(w);
  if (v === undefined) {
    const lex = (nlp as unknown as { model(): { one: { lexicon: Record<string, string> } } }).model().one.lexicon;
    const tagv = lex[w];
    v = tagv !== undefined && !/Name|Person/.test(tagv);
    if (commonCache.size < 50000) commonCache.set(w, v);
  }
  return v;
}

const ambiguousCache = new Map<string, boolean>();
/**
 * A name that is also an ordinary word: compromise's lexicon has it as something else, or tags it
 * as a verb in "they X it" or as a common noun in "the X is".
 */
function isAmbiguous(w: string | undefined): boolean {
  if (!w) return false;
  let v = ambiguousCache.get(w);
  if (v === undefined) {
    v = isCommonWord(w);
    if (!v) {
      const asVerb = (nlp(`they ${w} it`) as unknown as { document: Array<Array<{ tags: Set<string> }>> }).document[0]?.[1];
      const asNoun = (nlp(`the ${w} is`) as unknown as { document: Array<Array<{ tags: Set<string> }>> }).document[0]?.[1];
      v = !!asVerb?.tags.has('Verb') || (!!asNoun && !asNoun.tags.has('Person') && asNoun.tags.has('Noun'));
    }
    if (ambiguousCache.size < 50000) ambiguousCache.set(w, v);
  }
  return v;
}

/** Digit-word helpers re-exported for partial hold-back. */
export function isNumeric(ws: string[], i: number): boolean {
  return isRunToken(ws, i);
}

export { UNIT, TEEN, TENS, writtenDigits };
