/**
 * English number words: a small grammar over tokens (not strings), so a parse reports exactly which
 * tokens it used and the ITN stage can give the written token its source words' times.
 *
 * Why not `words-to-numbers` (npm): it rewrites whole strings (no token spans, so no timestamps),
 * converts every reading it can ("one of them" → "1 of them"), fuzzy-matches near-miss words into
 * numbers (wrong on recognizer output), has no ordinals/years/times/currency, and pulls babel-runtime 6.
 * The grammar below is the standard cardinal algorithm (units, teens, tens, hundred, scales) with
 * the ordering checks that make a parse stop where the number ends.
 */

export const UNITS: Record<string, number> = {
  zero: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9,
};
export const TEENS: Record<string, number> = {
  ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
};
export const TENS: Record<string, number> = {
  twenty: 20, thirty: 30, forty: 40, fourty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
export const SCALES: Record<string, number> = { thousand: 1e3, million: 1e6, billion: 1e9, trillion: 1e12 };

/** Ordinal word → its cardinal word (the last token of an ordinal number). */
export const ORDINALS: Record<string, string> = {
  first: 'one', second: 'two', third: 'three', fourth: 'four', fifth: 'five', sixth: 'six', seventh: 'seven', eighth: 'eight', ninth: 'nine',
  tenth: 'ten', eleventh: 'eleven', twelfth: 'twelve', thirteenth: 'thirteen', fourteenth: 'fourteen', fifteenth: 'fifteen',
  sixteenth: 'sixteen', seventeenth: 'seventeen', eighteenth: 'eighteen', nineteenth: 'nineteen', twentieth: 'twenty',
  thirtieth: 'thirty', fortieth: 'forty', fiftieth: 'fifty', sixtieth: 'sixty', seventieth: 'seventy', eightieth: 'eighty',
  ninetieth: 'ninety', hundredth: 'hundred', thousandth: 'thousand', millionth: 'million', billionth: 'billion',
};

/** Plural tens ("the sixties"), for decades. */
export const DECADES: Record<string, number> = {
  twenties: 20, thirties: 30, forties: 40, fifties: 50, sixties: 60, seventies: 70, eighties: 80, nineties: 90,
};

export function isNumberWord(t: string | undefined): boolean {
  return t !== undefined && (t in UNITS || t in TEENS || t in TENS || t === 'hundred' || t in SCALES || t in ORDINALS);
}

export interface CardinalParse {
  value: number;
  /** Index after the last token used. */
  end: number;
  /** The last token was an ordinal word ("twenty first"). */
  ordinal: boolean;
  /** Tokens used. */
  count: number;
  /** The largest scale word used (1 if none, 100 for "hundred"). */
  scale: number;
  /** Value of everything below the largest scale (for "2.5 million" style checks). */
  kinds: Kind[];
}

export type Kind = 'unit' | 'teen' | 'tens' | 'hundred' | 'scale' | 'and' | 'a' | 'zero';

/**
 * The longest well-formed cardinal (or ordinal) starting at tokens[i]. "a" is accepted only right
 * before hundred/thousand/million; "and" only after hundred or a scale and before a number word.
 * `maxIndex` bounds the tokens a parse may use (exclusive).
 */
export function parseCardinal(tokens: string[], i: number, maxIndex = tokens.length): CardinalParse | null {
  let total = 0;
  let cur = 0;
  let last: Kind | 'none' = 'none';
  let lastScale = Infinity;
  let maxScale = 1;
  let j = i;
  let ordinal = false;
  const kinds: Kind[] = [];
  let end = i;
  let value = 0;
  while (j < maxIndex) {
    let t = tokens[j];
    let isOrd = false;
    if (t in ORDINALS) {
      t = ORDINALS[t];
      isOrd = true;
    }
    if (!isOrd && t === 'a' && j === i && (tokens[j + 1] === 'hundred' || tokens[j + 1] in SCALES)) {
      cur = 1;
      last = 'a';
      kinds.push('a');
      j++;
      continue;
    }
    if (!isOrd && t === 'and' && (last === 'hundred' || last === 'scale') && (tokens[j + 1] in UNITS || tokens[j + 1] in TEENS || tokens[j + 1] in TENS || (tokens[j + 1] ?? '') in ORDINALS) && tokens[j + 1] !== 'zero') {
      last = 'and';
      kinds.push('and');
      j++;
      continue;
    }
    const afterGroup = last === 'none' || last === 'hundred' || last === 'scale' || last === 'and';
    if (t === 'zero') {
      if (last !== 'none') break;
      kinds.push('zero');
      last = 'zero';
      j++;
      end = j;
      value = 0;
      ordinal = false;
      break; // zero stands alone
    } else if (t in UNITS) {
      if (!(afterGroup || last === 'tens')) break;
      cur += UNITS[t];
      last = 'unit';
    } else if (t in TEENS) {
      if (!afterGroup) break;
      cur += TEENS[t];
      last = 'teen';
    } else if (t in TENS) {
      if (!afterGroup) break;
      cur += TENS[t];
      last = 'tens';
    } else if (t === 'hundred') {
      if (!(last === 'unit' || last === 'teen' || last === 'tens' || last === 'a') || cur >= 100 || cur === 0) break;
      // "fifteen hundred", "twenty five hundred": only without a scale before it
      if (cur >= 10 && lastScale !== Infinity) break;
      cur *= 100;
      last = 'hundred';
      maxScale = Math.max(maxScale, 100);
    } else if (t in SCALES) {
      const s = SCALES[t];
      if (!(last === 'unit' || last === 'teen' || last === 'tens' || last === 'hundred' || last === 'a') || s >= lastScale || cur === 0) break;
      total += cur * s;
      cur = 0;
      lastScale = s;
      last = 'scale';
      maxScale = Math.max(maxScale, s);
    } else {
      break;
    }
    kinds.push(last as Kind);
    j++;
    end = j;
    value = total + cur;
    ordinal = isOrd;
    if (isOrd) break;
  }
  // Trailing "and"/"a" are not part of the number.
  while (kinds.length && (kinds[kinds.length - 1] === 'and' || kinds[kinds.length - 1] === 'a')) kinds.pop();
  if (end === i) return null;
  return { value, end, ordinal, count: end - i, scale: maxScale, kinds: kinds.slice(0, end - i) };
}

/** A two-digit group as spoken in years and clock times: "oh five" (5), "ten".."nineteen", "twenty", "twenty five". */
export function parseTwoDigit(tokens: string[], i: number, maxIndex = tokens.length): { value: number; end: number; oh: boolean } | null {
  const t = tokens[i];
  if (i >= maxIndex || t === undefined) return null;
  if ((t === 'oh' || t === 'o' || t === 'zero') && i + 1 < maxIndex && tokens[i + 1] in UNITS && tokens[i + 1] !== 'zero') {
    return { value: UNITS[tokens[i + 1]], end: i + 2, oh: true };
  }
  if (t in TEENS) return { value: TEENS[t], end: i + 1, oh: false };
  if (t in TENS) {
    const u = tokens[i + 1];
    if (i + 1 < maxIndex && u in UNITS && u !== 'zero') return { value: TENS[t] + UNITS[u], end: i + 2, oh: false };
    return { value: TENS[t], end: i + 1, oh: false };
  }
  return null;
}

/** Digit words in digit strings ("oh" only after another digit). */
export function digitOf(t: string | undefined, first: boolean): string | null {
  if (t === undefined) return null;
  if (t in UNITS) return String(UNITS[t]);
  if (!first && (t === 'oh' || t === 'o')) return '0';
  return null;
}

export function ordinalSuffix(n: number): string {
  const m100 = n % 100;
  if (m100 >= 11 && m100 <= 13) return 'th';
  return ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
}

/** 1234567 → "1,234,567" (commas from 1,000 up). */
export function groupThousands(n: number): string {
  return Math.trunc(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
