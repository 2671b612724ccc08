/**
 * Inverse text normalization: spoken numbers → written forms on final words.
 *
 *   normalizeNumbers(words) → words, where each normalized token spans its source words (start of
 *   the first, end of the last), takes their highest confidence, keeps `spoken` = the source words,
 *   re-attaches the last source word's punctuation and keeps a leading capital.
 *
 * Classes and written style (documented in the README paragraph of the report):
 *   cardinal    "twenty five" → 25, "two thousand five hundred" → 2,500 (commas from 1,000)
 *   ordinal     "twenty first" → 21st
 *   decimal     "three point one four" → 3.14
 *   percent     "fifty percent" → 50%
 *   money       "twenty five dollars" → $25, "five dollars and fifty cents" → $5.50, "ten million dollars" → $10 million,
 *               "fifty cents" → $0.50 (also £, €, ¥, ₹)
 *   time        "three thirty pm" → 3:30 PM, "seven am" → 7 AM, "at ten fifteen" → at 10:15 (AM/PM without dots:
 *               a dot would read as a sentence end)
 *   date        "may fifth" → May 5, "january first twenty twenty four" → January 1, 2024, "the fifth of may" → the 5th of May
 *   year        "in fourteen sixty five" → in 1465, "nineteen oh five" → 1905, "the nineteen sixties" → the 1960s
 *   telephone   ten spoken digits → 555-123-4567 (seven → 555-1234, eleven with a leading 1 → 1-555-123-4567)
 *   digits      "four one one one" → 4111 ("double five" → 55)
 *   measure     SI and data units take their symbol ("ten kilometers" → 10 km, "five gigabytes" → 5 GB,
 *               "twenty degrees celsius" → 20 °C); imperial units keep their word ("six feet" → 6 feet:
 *               "in", "ft", "lb" read poorly or collide with words)
 *
 * Conservative where the reading is ambiguous (AP style for standalone numbers):
 *   - a lone "one" .. "nine" stays a word ("one of them", "two options") unless a context makes it a
 *     numeral: a unit, currency, percent, time, date, digit string, or a cue word before it
 *     ("press one", "option two", "room five", "number three");
 *   - "first" .. "ninth" stay words ("first of all", "wait a second") except in dates;
 *   - a number directly followed by another number word it cannot absorb ("twenty twenty", "fourteen
 *     sixty five" with no year context) is left as spoken: its reading (year? list? digits?) is unknown;
 *   - two-group years need a year context (in, since, by, until, from, year, a month, AD/BC ...);
 *   - hyphenated words are only normalized as a whole ("one-off" stays);
 *   - nothing crosses a punctuation mark of the punctuation stage (except the comma in "May 5, 2024").
 */
import type { Word } from '../types.ts';
import {
  DECADES, digitOf, groupThousands, ORDINALS, ordinalSuffix, parseCardinal, parseTwoDigit, SCALES, TEENS, TENS, UNITS, isNumberWord,
  type CardinalParse,
} from './numbers.ts';

interface Tok {
  /** Lowercase letters of this (sub-)token. */
  t: string;
  /** Source word index. */
  wi: number;
  /** First / last sub-token of its word (hyphenated words split into several). */
  first: boolean;
  last: boolean;
  /** Its word carries a trailing mark after this token: spans may not continue past it. */
  mark: string;
}

interface Match {
  /** Token range [i, end). */
  end: number;
  text: string;
  cls: ItnClass;
}

export type ItnClass = 'cardinal' | 'ordinal' | 'decimal' | 'percent' | 'money' | 'time' | 'date' | 'year' | 'telephone' | 'digits' | 'measure';

const TRAILING = /[.,?!;:]+$/;

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
/** Month names that are also common words: need an ordinal day or a year after them. */
const AMBIGUOUS_MONTHS = new Set(['may', 'march', 'august']);
const YEAR_CONTEXT = new Set([
  'in', 'since', 'by', 'until', 'till', 'from', 'year', 'during', 'before', 'after', 'circa', 'around', 'of', 'to', 'through',
  'summer', 'winter', 'spring', 'autumn', 'fall', 'born', 'died', 'early', 'late', 'mid', 'class', 'vintage', 'model',
  ...MONTHS,
]);
const ERA = new Set(['ad', 'bc', 'bce', 'ce']);
/** Words after which a lone digit word is a numeral ("press one", "option two"). */
const DIGIT_CUES = new Set([
  'press', 'dial', 'option', 'extension', 'ext', 'number', 'room', 'gate', 'platform', 'channel', 'line', 'page',
  'chapter', 'step', 'level', 'floor', 'suite', 'unit', 'apartment', 'apt', 'flight', 'bus', 'route', 'track', 'version', 'volume',
  'grade', 'score', 'size', 'code', 'pin', 'zip', 'account', 'card', 'cvv', 'digit', 'figure', 'aisle', 'seat', 'row', 'table',
]);
/** Before a digit string of 2–3 digits, these make it a code rather than counting. */
const CODE_CUES = DIGIT_CUES;
/** Words after which a clock time without am/pm is a time ("at ten fifteen"). */
const TIME_CUES = new Set(['at', 'by', 'until', 'till', 'around', 'before', 'after', 'from', 'about']);

const CURRENCY: Record<string, { symbol: string; minor?: string[] }> = {
  dollar: { symbol: '$', minor: ['cent', 'cents'] },
  dollars: { symbol: '$', minor: ['cent', 'cents'] },
  buck: { symbol: '$' },
  bucks: { symbol: '$' },
  euro: { symbol: '€', minor: ['cent', 'cents'] },
  euros: { symbol: '€', minor: ['cent', 'cents'] },
  yen: { symbol: '¥' },
  rupee: { symbol: '₹', minor: ['paise'] },
  rupees: { symbol: '₹', minor: ['paise'] },
};
/** "pound(s)" is money only with "sterling" or when followed by pence; alone it may be weight. */
const POUND_WORDS = new Set(['pound', 'pounds']);

/** Units with a symbol (SI, data, temperature) and the imperial ones that keep their word. */
const UNIT_SYMBOLS: Record<string, string> = {
  kilometer: 'km', kilometers: 'km', kilometre: 'km', kilometres: 'km', meter: 'm', meters: 'm', metre: 'm', metres: 'm',
  centimeter: 'cm', centimeters: 'cm', centimetre: 'cm', centimetres: 'cm', millimeter: 'mm', millimeters: 'mm', millimetre: 'mm', millimetres: 'mm',
  kilogram: 'kg', kilograms: 'kg', kilo: 'kg', kilos: 'kg', gram: 'g', grams: 'g', milligram: 'mg', milligrams: 'mg',
  liter: 'L', liters: 'L', litre: 'L', litres: 'L', milliliter: 'mL', milliliters: 'mL', millilitre: 'mL', millilitres: 'mL',
  kilobyte: 'KB', kilobytes: 'KB', megabyte: 'MB', megabytes: 'MB', gigabyte: 'GB', gigabytes: 'GB', terabyte: 'TB', terabytes: 'TB',
  hertz: 'Hz', kilohertz: 'kHz', megahertz: 'MHz', gigahertz: 'GHz', watt: 'W', watts: 'W', kilowatt: 'kW', kilowatts: 'kW',
  volt: 'V', volts: 'V', milliseconds: 'ms', millisecond: 'ms',
};
const UNIT_PHRASES: Record<string, string> = {
  'miles per hour': 'mph', 'kilometers per hour': 'km/h', 'kilometres per hour': 'km/h',
  'degrees celsius': '°C', 'degrees fahrenheit': '°F', 'degree celsius': '°C', 'degree fahrenheit': '°F', 'degrees centigrade': '°C',
  'square meters': 'm²', 'square metres': 'm²', 'square kilometers': 'km²', 'cubic meters': 'm³',
};
const IMPERIAL = new Set(['mile', 'miles', 'foot', 'feet', 'inch', 'inches', 'yard', 'yards', 'ounce', 'ounces', 'gallon', 'gallons', 'acre', 'acres', 'ton', 'tons', 'tonnes']);

function tokenize(words: Word[]): { toks: Tok[]; marks: string[] } {
  const toks: Tok[] = [];
  const marks: string[] = [];
  words.forEach((w, wi) => {
    const m = TRAILING.exec(w.word);
    const core = (m ? w.word.slice(0, m.index) : w.word).toLowerCase();
    marks.push(m ? m[0] : '');
    // Letters with dots ("a.m.") are one token; hyphenated compounds split.
    const parts = /^(?:[a-z]\.)+[a-z]?$/.test(core) ? [core.replace(/\./g, '')] : core.split('-').filter(Boolean);
    if (!parts.length) parts.push(core);
    parts.forEach((p, k) => toks.push({ t: p.replace(/[^a-z0-9'&]/g, ''), wi, first: k === 0, last: k === parts.length - 1, mark: k === parts.length - 1 && m ? m[0] : '' }));
  });
  return { toks, marks };
}

/**
 * Normalize spoken numbers in final words. Pure: words in, words out; a word not part of a number
 * is returned as the same object.
 */
export function normalizeNumbers(words: Word[]): Word[] {
  if (!words.length) return words;
  const { toks } = tokenize(words);
  const T = toks.map((x) => x.t);
  const out: Word[] = [];
  let i = 0;
  let emittedWord = -1;
  while (i < toks.length) {
    const tok = toks[i];
    let m: Match | null = null;
    if (tok.first && (isNumberWord(tok.t) || tok.t === 'a' || tok.t === 'double' || tok.t === 'triple' || tok.t === 'point' || tok.t === 'minus' || tok.t === 'negative' || MONTHS.includes(tok.t))) {
      m = matchAt(toks, T, i);
      // A span must end at the end of a word.
      if (m && !toks[m.end - 1].last) m = null;
    }
    if (m) {
      const w0 = tok.wi;
      const w1 = toks[m.end - 1].wi;
      const src = words.slice(w0, w1 + 1);
      let text = m.text.replace(MONTH_SLOT, () => src[0].word.replace(TRAILING, ''));
      if (/^\p{Lu}/u.test(src[0].word) && /^\p{Ll}/u.test(text)) text = text[0].toUpperCase() + text.slice(1);
      const mark = toks[m.end - 1].mark;
      const nw: Word = {
        ...src[0],
        word: text + mark,
        start: src[0].start,
        end: src[src.length - 1].end,
        confidence: Math.max(...src.map((w) => w.confidence)),
        spoken: src.map((w) => w.spoken ?? w.word.replace(TRAILING, '')).join(' '),
      };
      out.push(nw);
      emittedWord = w1;
      i = m.end;
      continue;
    }
    // No reading here: a run of number words stays as spoken as a whole ("twenty twenty" must not
    // become "twenty 20").
    let j = i + 1;
    if (tok.first && isNumberWord(tok.t) && !(tok.t in ORDINALS)) {
      while (j < toks.length && !toks[j - 1].mark && (isNumberWord(toks[j].t) || toks[j].t === 'oh' || toks[j].t === 'and' || toks[j].t === 'point' || !toks[j].first)) j++;
    }
    for (let k = i; k < j; k++) {
      if (toks[k].wi !== emittedWord) {
        out.push(words[toks[k].wi]);
        emittedWord = toks[k].wi;
      }
    }
    i = j;
  }
  return out;
}

/** Index bound for a span starting at i: it may not run past a token whose word carries a mark. */
function spanLimit(toks: Tok[], i: number, allowComma = false): number {
  let j = i;
  while (j < toks.length) {
    if (toks[j].mark && !(allowComma && toks[j].mark === ',')) return j + 1;
    j++;
  }
  return j;
}

function matchAt(toks: Tok[], T: string[], i: number): Match | null {
  const limit = spanLimit(toks, i);
  const prev = i > 0 ? T[i - 1] : undefined;
  const prevMarked = i > 0 && !!toks[i - 1].mark;
  if ((T[i] === 'minus' || T[i] === 'negative') && i + 1 < limit && !toks[i].mark) {
    const m = matchMoneyPercentMeasure(T, i + 1, limit);
    if (m && (m.cls === 'measure' || m.cls === 'percent')) return { ...m, text: `-${m.text}` };
  }
  return (
    matchDate(toks, T, i) ??
    matchTime(T, i, limit, prevMarked ? undefined : prev) ??
    matchMoneyPercentMeasure(T, i, limit) ??
    matchYear(T, i, limit, prevMarked ? undefined : prev) ??
    matchDigits(T, i, limit, prevMarked ? undefined : prev) ??
    matchNumber(T, i, limit, prevMarked ? undefined : prev)
  );
}

/** A cardinal or decimal value at i: { value text, numeric value, end }. */
function numberAt(T: string[], i: number, limit: number, allowBarePoint: boolean): { text: string; value: number; end: number; p: CardinalParse | null; scaleWord?: string } | null {
  let p: CardinalParse | null = null;
  let intText = '';
  let j = i;
  let value = 0;
  if (T[i] === 'point' && allowBarePoint) {
    intText = '0';
  } else {
    p = parseCardinal(T, i, limit);
    if (!p || p.ordinal) return null;
    intText = groupThousands(p.value);
    value = p.value;
    j = p.end;
  }
  // Decimal part: "point" + digit words.
  if (T[j] === 'point' && j + 1 < limit) {
    let k = j + 1;
    let frac = '';
    while (k < limit) {
      const d = digitOf(T[k], false) ?? (T[k] === 'zero' ? '0' : null);
      if (d === null) break;
      frac += d;
      k++;
    }
    if (frac) {
      // "two point five million" keeps the scale word
      const sc = T[k] in SCALES && k < limit && (!p || p.scale < 1000) ? T[k] : undefined;
      const text = `${intText}.${frac}`;
      return { text: sc ? `${text} ${sc}` : text, value: Number(`${p ? p.value : 0}.${frac}`) * (sc ? SCALES[sc] : 1), end: sc ? k + 1 : k, p, scaleWord: sc };
    }
  }
  if (!p) return null;
  return { text: intText, value, end: j, p };
}

/** "5000000" spoken as "five million" is written "5 million" in money ("$5 million"). */
function scaledText(n: { text: string; p: CardinalParse | null; value: number }): string {
  const p = n.p;
  if (p && p.scale >= 1e6 && !n.text.includes('.')) {
    const s = p.scale;
    const word = Object.entries(SCALES).find(([, v]) => v === s)![0];
    if (n.value % s === 0) return `${groupThousands(n.value / s)} ${word}`;
  }
  return n.text;
}

function matchMoneyPercentMeasure(T: string[], i: number, limit: number): Match | null {
  const n = numberAt(T, i, limit, true);
  if (!n) return null;
  const k = n.end;
  if (k >= limit) return null;
  const next = T[k];
  // percent
  if (next === 'percent' || (next === 'per' && T[k + 1] === 'cent' && k + 1 < limit)) {
    return { end: next === 'percent' ? k + 1 : k + 2, text: `${n.text}%`, cls: 'percent' };
  }
  // money
  const cur = CURRENCY[next] ?? (POUND_WORDS.has(next) && (T[k + 1] === 'sterling' || T[k + 2] === 'pence' || T[k + 3] === 'pence') ? { symbol: '£', minor: ['pence', 'p'] } : undefined);
  if (cur) {
    let end = k + 1;
    if (POUND_WORDS.has(next) && T[end] === 'sterling' && end < limit) end++;
    let cents = '';
    // "... dollars and fifty cents" / "... dollars fifty cents" / "... dollars fifty"
    let c = end;
    if (T[c] === 'and' && c < limit) c++;
    const minor = c < limit ? parseCardinal(T, c, limit) : null;
    if (minor && !minor.ordinal && minor.value > 0 && minor.value < 100 && (cur.minor?.includes(T[minor.end]) || (T[c - 1] !== 'and' && minor.end === limit))) {
      cents = String(minor.value).padStart(2, '0');
      end = cur.minor?.includes(T[minor.end]) && minor.end < limit ? minor.end + 1 : minor.end;
    }
    const amount = n.text.includes('.') ? n.text : scaledText(n);
    return { end, text: `${cur.symbol}${amount}${cents ? `.${cents}` : ''}`, cls: 'money' };
  }
  if ((next === 'cents' || next === 'cent') && n.p && n.value > 0 && n.value < 100 && !n.text.includes('.')) {
    return { end: k + 1, text: `$0.${String(n.value).padStart(2, '0')}`, cls: 'money' };
  }
  // measures
  const two = k + 2 < limit + 1 ? `${T[k]} ${T[k + 1]}` : '';
  const three = `${T[k]} ${T[k + 1]} ${T[k + 2]}`;
  if (k + 2 < limit && UNIT_PHRASES[three]) return { end: k + 3, text: `${n.text} ${UNIT_PHRASES[three]}`, cls: 'measure' };
  if (k + 1 < limit && UNIT_PHRASES[two]) return { end: k + 2, text: `${n.text} ${UNIT_PHRASES[two]}`, cls: 'measure' };
  if (next === 'degrees' || next === 'degree') return { end: k + 1, text: `${n.text}°`, cls: 'measure' };
  if (UNIT_SYMBOLS[next]) return { end: k + 1, text: `${n.text} ${UNIT_SYMBOLS[next]}`, cls: 'measure' };
  if (IMPERIAL.has(next)) return { end: k + 1, text: `${n.text} ${next}`, cls: 'measure' };
  return null;
}

function ampm(T: string[], k: number, limit: number): { text: string; end: number } | null {
  const a = T[k];
  if (k >= limit) return null;
  if (a === 'am' || a === 'pm') return { text: a.toUpperCase(), end: k + 1 };
  if ((a === 'a' || a === 'p') && T[k + 1] === 'm' && k + 1 < limit) return { text: `${a.toUpperCase()}M`, end: k + 2 };
  return null;
}

function matchTime(T: string[], i: number, limit: number, prev: string | undefined): Match | null {
  const h = T[i] in UNITS ? UNITS[T[i]] : T[i] in TEENS ? TEENS[T[i]] : -1;
  if (h < 1 || h > 12) return null;
  let k = i + 1;
  let mm: number | null = null;
  if (T[k] === "o'clock" && k < limit) return { end: k + 1, text: `${h} o'clock`, cls: 'time' };
  const two = parseTwoDigit(T, k, limit);
  if (two && two.value < 60 && (two.oh || two.value >= 10)) {
    mm = two.value;
    k = two.end;
  }
  const ap = ampm(T, k, limit);
  if (ap) return { end: ap.end, text: `${h}${mm !== null ? `:${String(mm).padStart(2, '0')}` : ''} ${ap.text}`, cls: 'time' };
  if (mm !== null && prev !== undefined && TIME_CUES.has(prev) && !isNumberWord(T[k])) {
    return { end: k, text: `${h}:${String(mm).padStart(2, '0')}`, cls: 'time' };
  }
  return null;
}

/** Two-group year ("fourteen sixty five", "nineteen oh five", "twenty twenty four", "nineteen hundred"). */
function yearGroups(T: string[], i: number, limit: number): { value: number; end: number } | null {
  const hi = parseTwoDigit(T, i, limit);
  if (!hi || hi.oh || hi.value < 11) return null;
  if (T[hi.end] === 'hundred' && hi.end < limit) {
    if (hi.value % 10 === 0 && hi.value >= 20) return null; // "twenty hundred" is not a year
    return { value: hi.value * 100, end: hi.end + 1 };
  }
  const lo = parseTwoDigit(T, hi.end, limit);
  if (!lo) return null;
  if (isNumberWord(T[lo.end]) && lo.end < limit) return null;
  if (hi.value % 10 === 0 && hi.end === i + 1 && !lo.oh && lo.value < 10) return null;
  return { value: hi.value * 100 + lo.value, end: lo.end };
}

function matchYear(T: string[], i: number, limit: number, prev: string | undefined): Match | null {
  // Decades: "the nineteen sixties" → 1960s
  if (T[i] in TEENS && T[i + 1] in DECADES && i + 1 < limit) return { end: i + 2, text: `${TEENS[T[i]]}${DECADES[T[i + 1]]}s`, cls: 'year' };
  const ctx = (prev !== undefined && YEAR_CONTEXT.has(prev));
  const g = yearGroups(T, i, limit);
  if (g && (ctx || (ERA.has(T[g.end]) && g.end < limit))) {
    return { end: g.end, text: String(g.value), cls: 'year' };
  }
  if (ctx) {
    const p = parseCardinal(T, i, limit);
    if (p && !p.ordinal && p.value >= 1000 && p.value <= 2099 && p.count >= 2 && !isNumberWord(T[p.end])) return { end: p.end, text: String(p.value), cls: 'year' };
  }
  return null;
}

function matchDate(toks: Tok[], T: string[], i: number): Match | null {
  if (!MONTHS.includes(T[i])) {
    // "the fifth of may" → "the 5th of May": only the ordinal changes.
    const lim = spanLimit(toks, i);
    const p = parseCardinal(T, i, lim);
    if (p && p.ordinal && p.value >= 1 && p.value <= 31 && T[p.end] === 'of' && p.end < lim && MONTHS.includes(T[p.end + 1])) {
      return { end: p.end, text: `${p.value}${ordinalSuffix(p.value)}`, cls: 'date' };
    }
    return null;
  }
  // Month + day [+ ","] [+ year] → "May 5, 2024". The month keeps its source form (MONTH_SLOT).
  if (toks[i].mark) return null;
  const month = T[i];
  const p = parseCardinal(T, i + 1, spanLimit(toks, i + 1));
  if (!p || p.value < 1 || p.value > 31 || (!p.ordinal && p.kinds.some((k) => k === 'hundred' || k === 'scale'))) return null;
  let end = p.end;
  let year = '';
  const afterDay = toks[end - 1].mark;
  if (!afterDay || afterDay === ',') {
    const yl = spanLimit(toks, end);
    const g = yearGroups(T, end, yl);
    const y = g ? null : parseCardinal(T, end, yl);
    if (g) {
      year = String(g.value);
      end = g.end;
    } else if (y && !y.ordinal && y.value >= 1000 && y.value <= 2099 && y.count >= 2 && !isNumberWord(T[y.end])) {
      year = String(y.value);
      end = y.end;
    }
  }
  if (!p.ordinal && !year && AMBIGUOUS_MONTHS.has(month)) return null;
  // "june twenty twenty" without a parse as a year: unclear
  if (!year && end < toks.length && isNumberWord(T[end]) && !toks[end - 1].mark) return null;
  return { end, text: `${MONTH_SLOT} ${p.value}${year ? `, ${year}` : ''}`, cls: 'date' };
}

/** Replaced by the month word as it was given (cased or not by the punctuation stage). */
const MONTH_SLOT = '\u0000M';

function matchDigits(T: string[], i: number, limit: number, prev: string | undefined): Match | null {
  let digits = '';
  let k = i;
  while (k < limit) {
    const t = T[k];
    if ((t === 'double' || t === 'triple') && k + 1 < limit) {
      const d = digitOf(T[k + 1], digits === '') ?? (T[k + 1] === 'zero' ? '0' : null);
      if (d === null) break;
      digits += d.repeat(t === 'double' ? 2 : 3);
      k += 2;
      continue;
    }
    const d = digitOf(t, digits === '') ?? (t === 'zero' ? '0' : null);
    if (d === null) break;
    digits += d;
    k++;
  }
  if (!digits) return null;
  // A following number word that is not a digit (e.g. "one two twenty") makes the reading unclear.
  if (k < limit && isNumberWord(T[k])) return null;
  const cue = prev !== undefined && CODE_CUES.has(prev);
  if (digits.length >= 4 || (digits.length >= 2 && cue) || (digits.length === 1 && cue && k - i === 1)) {
    return { end: k, text: formatDigits(digits), cls: digits.length >= 7 && /^(\d{7}|\d{10}|1\d{10})$/.test(digits) ? 'telephone' : 'digits' };
  }
  return null;
}

function formatDigits(d: string): string {
  if (d.length === 7) return `${d.slice(0, 3)}-${d.slice(3)}`;
  if (d.length === 10) return `${d.slice(0, 3)}-${d.slice(3, 6)}-${d.slice(6)}`;
  if (d.length === 11 && d[0] === '1') return `1-${d.slice(1, 4)}-${d.slice(4, 7)}-${d.slice(7)}`;
  return d;
}

function matchNumber(T: string[], i: number, limit: number, prev: string | undefined): Match | null {
  const neg = (T[i] === 'minus' || T[i] === 'negative') && i + 1 < limit;
  const s = neg ? i + 1 : i;
  const n = numberAt(T, s, limit, false);
  const p = n?.p ?? parseCardinal(T, s, limit);
  if (!p) return null;
  if (p.ordinal) {
    // Ordinals: "twenty first" → 21st; single-word first..ninth stay (AP style, "first of all").
    if (neg) return null;
    if (p.count === 1 && p.value < 10) return null;
    if (p.kinds[0] === 'a') return null;
    return { end: p.end, text: `${groupThousands(p.value)}${ordinalSuffix(p.value)}`, cls: 'ordinal' };
  }
  if (!n) return null;
  // Ambiguous runs: another number word right after what we could parse.
  if (n.end < limit && (isNumberWord(T[n.end]) || T[n.end] === 'oh')) return null;
  const decimal = n.text.includes('.');
  if (!decimal) {
    const single = p.count === 1;
    if (single && p.value < 10 && !(prev !== undefined && DIGIT_CUES.has(prev))) return null;
    if (p.kinds[0] === 'a' && p.count === 2 && !(prev !== undefined && DIGIT_CUES.has(prev))) {
      // "a hundred" / "a thousand": keep as words unless something numeric follows (handled above)
      return null;
    }
  }
  if (neg && !(prev === undefined || !isNumberWord(prev))) return null;
  const text = decimal ? n.text : p.scale >= 1e6 && p.value % p.scale === 0 ? scaledText(n) : groupThousands(p.value);
  return { end: n.end, text: (neg ? '-' : '') + text, cls: decimal ? 'decimal' : 'cardinal' };
}

/** The class of each normalized token (for tests and evaluation): re-runs the matcher. */
export function classify(words: Word[]): { text: string; cls: ItnClass }[] {
  const { toks } = tokenize(words);
  const T = toks.map((x) => x.t);
  const out: { text: string; cls: ItnClass }[] = [];
  let i = 0;
  while (i < toks.length) {
    const m = toks[i].first ? matchAt(toks, T, i) : null;
    if (m && toks[m.end - 1].last) {
      out.push({ text: m.text, cls: m.cls });
      i = m.end;
    } else i++;
  }
  return out;
}

export { ORDINALS, TENS };
