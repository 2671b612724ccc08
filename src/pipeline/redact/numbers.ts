/**
 * Digit sequences as people say or an ITN stage writes them: "four one one one", "oh five",
 * "double five", "one twenty three", "twenty twenty seven", "4111 1111", "(555) 123-4567".
 * Hand-written because it is a tokenizer over our own word list (numbers only, no units or
 * money: those are ITN's job and are not PII); the arithmetic is a few lines.
 */

export const UNIT: Record<string, number> = {
  zero: 0, oh: 0, o: 0, nought: 0, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9,
};
export const TEEN: Record<string, number> = {
  ten: 10, eleven: 11, twelve: 12, thirteen: 13, fourteen: 14, fifteen: 15, sixteen: 16, seventeen: 17, eighteen: 18, nineteen: 19,
};
export const TENS: Record<string, number> = {
  twenty: 20, thirty: 30, forty: 40, fifty: 50, sixty: 60, seventy: 70, eighty: 80, ninety: 90,
};
/** Recognizer homophones of digits, accepted only between two digit words ("four one to one"). */
const HOMOPHONE: Record<string, string> = { to: '2', too: '2', for: '4', won: '1', ate: '8' };
const REPEAT: Record<string, number> = { double: 2, triple: 3 };
const FILLER = new Set(['uh', 'um', 'er', 'ah', 'hmm']);

/** A written token that is (part of) a digit string: "4111", "555-1234", "(555)", "+1", "555.123.4567". */
export function writtenDigits(norm: string): string | undefined {
  if (!/\d/.test(norm)) return undefined;
  if (/^\+?\(?\d[\d\s\-().]*\)?$/.test(norm)) {
    const d = norm.replace(/\D/g, '');
    // "2.5" is a decimal, not a digit group; "555.123.4567" is a phone.
    if (norm.includes('.') && d.length < 7) return undefined;
    return d;
  }
  return undefined;
}

function isWordDigit(w: string | undefined): boolean {
  return w !== undefined && (UNIT[w] !== undefined || writtenDigits(w) !== undefined);
}

function isNumberWord(w: string | undefined): boolean {
  return w !== undefined && (UNIT[w] !== undefined || TEEN[w] !== undefined || TENS[w] !== undefined || writtenDigits(w) !== undefined);
}

/**
 * Whether token i of `ws` belongs to a digit run, given its neighbours. "oh"/"o" count only next
 * to another number word (else "oh my"); homophones and fillers only between two of them;
 * "hundred"/"thousand"/"and" only inside a cardinal.
 */
export function isRunToken(ws: string[], i: number): boolean {
  const w = ws[i];
  const prev = ws[i - 1];
  const next = ws[i + 1];
  if (w === 'oh' || w === 'o') {
    const solid = (x: string | undefined) => isNumberWord(x) && x !== 'oh' && x !== 'o';
    const rep = (x: string | undefined) => x !== undefined && REPEAT[x] !== undefined;
    return solid(prev) || solid(next) || rep(next) || rep(ws[i - 2]) ||
      ((prev === 'oh' || prev === 'o') && solid(ws[i - 2])) || ((next === 'oh' || next === 'o') && (solid(ws[i + 2]) || rep(ws[i + 2])));
  }
  if (UNIT[w] !== undefined || TEEN[w] !== undefined || TENS[w] !== undefined) return true;
  if (writtenDigits(w) !== undefined) return true;
  if (REPEAT[w] !== undefined) return UNIT[next ?? ''] !== undefined;
  if (w === 'hundred' || w === 'thousand') return isNumberWord(prev);
  if (w === 'and') return (prev === 'hundred' || prev === 'thousand') && isNumberWord(next);
  if (HOMOPHONE[w] !== undefined || FILLER.has(w)) return isWordDigit(prev) && isWordDigit(next);
  return false;
}

/** The digit string a run of tokens spells. */
export function runDigits(ws: string[]): string {
  let out = '';
  let i = 0;
  while (i < ws.length) {
    const w = ws[i];
    const written = writtenDigits(w);
    if (written !== undefined) {
      out += written;
      i++;
    } else if (REPEAT[w] !== undefined && UNIT[ws[i + 1]] !== undefined) {
      out += String(UNIT[ws[i + 1]]).repeat(REPEAT[w]);
      i += 2;
    } else if (UNIT[w] !== undefined && (ws[i + 1] === 'hundred' || ws[i + 1] === 'thousand')) {
      const r = cardinal(ws, i);
      out += String(r.value);
      i = r.next;
    } else if (TEEN[w] !== undefined) {
      out += String(TEEN[w]);
      i++;
    } else if (TENS[w] !== undefined) {
      const u = UNIT[ws[i + 1]];
      if (u !== undefined && u > 0) {
        out += String(TENS[w] + u);
        i += 2;
      } else {
        out += String(TENS[w]);
        i++;
      }
    } else if (UNIT[w] !== undefined) {
      out += String(UNIT[w]);
      i++;
    } else if (HOMOPHONE[w] !== undefined) {
      out += HOMOPHONE[w];
      i++;
    } else {
      i++;
    }
  }
  return out;
}

/** "four hundred (and) twelve", "two thousand three hundred", "one thousand five": value < 10000. */
function cardinal(ws: string[], i: number): { value: number; next: number } {
  let v = UNIT[ws[i]];
  i++;
  if (ws[i] === 'thousand') {
    v *= 1000;
    i++;
    if (UNIT[ws[i]] !== undefined && ws[i + 1] === 'hundred') {
      v += UNIT[ws[i]] * 100;
      i += 2;
    }
  } else {
    v *= 100;
    i++;
  }
  if (ws[i] === 'and') i++;
  // "eight hundred five five five ...": digit by digit after the hundred, so "hundred" is "00".
  const digitNext = (k: number) => UNIT[ws[k]] !== undefined || writtenDigits(ws[k] ?? '') !== undefined;
  if (TENS[ws[i]] !== undefined && UNIT[ws[i + 1]] !== undefined && UNIT[ws[i + 1]] > 0 ? digitNext(i + 2) : digitNext(i + 1)) {
    return { value: v, next: i };
  }
  if (TEEN[ws[i]] !== undefined) {
    v += TEEN[ws[i]];
    i++;
  } else if (TENS[ws[i]] !== undefined) {
    v += TENS[ws[i]];
    i++;
    if (UNIT[ws[i]] !== undefined && UNIT[ws[i]] > 0) {
      v += UNIT[ws[i]];
      i++;
    }
  } else if (UNIT[ws[i]] !== undefined && UNIT[ws[i]] > 0 && ws[i] !== 'oh' && ws[i] !== 'o') {
    v += UNIT[ws[i]];
    i++;
  }
  return { value: v, next: i };
}

/** Luhn (mod 10) check used by every payment card scheme. */
export function luhn(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return digits.length > 0 && sum % 10 === 0;
}
