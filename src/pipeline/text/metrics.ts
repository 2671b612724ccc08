/**
 * Punctuation and capitalization scoring against punctuated, cased references (bench/text-eval.ts
 * and the small accuracy test). Words are aligned by Levenshtein on their letters; the mark after
 * each word is compared per class (period — '.' and '!' —, comma, question mark); capitalization is
 * scored on words the hypothesis got right (first letter upper case = positive).
 */

export type MarkClass = 'period' | 'comma' | 'question';
export const MARK_CLASSES: MarkClass[] = ['period', 'comma', 'question'];

export interface Token {
  /** Lowercase letters/digits/apostrophes: the alignment key. */
  key: string;
  mark?: MarkClass;
  capital: boolean;
}

/** Split text into tokens with the mark that follows each one. ';' ':' and dashes are no class. */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const raw of text.replace(/[—–-]/g, ' ').split(/\s+/)) {
    const key = raw.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '').replace(/^'+|'+$/g, '');
    const tail = /[.,?!;:"')\]]*$/.exec(raw)?.[0] ?? '';
    const mark: MarkClass | undefined = /\?/.test(tail) ? 'question' : /[.!]/.test(tail) && !/^(?:\p{L}\.)+$/u.test(raw) ? 'period' : /,/.test(tail) ? 'comma' : undefined;
    if (!key) {
      // A lone mark ("-", "?") attaches to the previous word.
      if (mark && out.length && !out[out.length - 1].mark) out[out.length - 1].mark = mark;
      continue;
    }
    const first = /[\p{L}\p{N}]/u.exec(raw)?.[0] ?? '';
    out.push({ key, mark, capital: first !== first.toLowerCase() });
  }
  return out;
}

export type AlignOp = { ref?: number; hyp?: number; match: boolean };

/** Levenshtein alignment of two key sequences (substitution, insertion, deletion cost 1). */
export function align(ref: string[], hyp: string[]): AlignOp[] {
  const n = ref.length;
  const m = hyp.length;
  const d: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = 0; i <= n; i++) d[i][0] = i;
  for (let j = 0; j <= m; j++) d[0][j] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      d[i][j] = Math.min(d[i - 1][j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1), d[i - 1][j] + 1, d[i][j - 1] + 1);
    }
  }
  const ops: AlignOp[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    if (i > 0 && j > 0 && d[i][j] === d[i - 1][j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1)) {
      ops.push({ ref: i - 1, hyp: j - 1, match: ref[i - 1] === hyp[j - 1] });
      i--;
      j--;
    } else if (i > 0 && d[i][j] === d[i - 1][j] + 1) {
      ops.push({ ref: i - 1, match: false });
      i--;
    } else {
      ops.push({ hyp: j - 1, match: false });
      j--;
    }
  }
  return ops.reverse();
}

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
}

export type Scores = Record<MarkClass | 'capital', Counts>;

export function emptyScores(): Scores {
  return { period: { tp: 0, fp: 0, fn: 0 }, comma: { tp: 0, fp: 0, fn: 0 }, question: { tp: 0, fp: 0, fn: 0 }, capital: { tp: 0, fp: 0, fn: 0 } };
}

/** Add one reference/hypothesis pair's counts to `acc`. */
export function score(reference: string, hypothesis: string, acc: Scores = emptyScores()): Scores {
  const r = tokenize(reference);
  const h = tokenize(hypothesis);
  for (const op of align(r.map((t) => t.key), h.map((t) => t.key))) {
    const rm = op.ref !== undefined ? r[op.ref].mark : undefined;
    const hm = op.hyp !== undefined ? h[op.hyp].mark : undefined;
    for (const c of MARK_CLASSES) {
      if (rm === c && hm === c) acc[c].tp++;
      else {
        if (hm === c) acc[c].fp++;
        if (rm === c) acc[c].fn++;
      }
    }
    if (op.match && op.ref !== undefined && op.hyp !== undefined) {
      const rc = r[op.ref].capital;
      const hc = h[op.hyp].capital;
      if (rc && hc) acc.capital.tp++;
      else if (hc) acc.capital.fp++;
      else if (rc) acc.capital.fn++;
    }
  }
  return acc;
}

export function f1(c: Counts): { precision: number; recall: number; f1: number; support: number } {
  const precision = c.tp + c.fp ? c.tp / (c.tp + c.fp) : NaN;
  const recall = c.tp + c.fn ? c.tp / (c.tp + c.fn) : NaN;
  const f = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1: f, support: c.tp + c.fn };
}

/**
 * Reference words with times borrowed from an aligned recognizer output (matched and substituted
 * words take the recognizer word's times; the rest are spread evenly between their neighbours):
 * the stage can then be scored on the reference wording with real pauses.
 */
export function timeReference(
  refKeys: string[],
  hyp: { word: string; start: number; end: number }[],
  duration: number,
): { start: number; end: number }[] {
  const ops = align(refKeys, hyp.map((w) => w.word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '')));
  const times: ({ start: number; end: number } | undefined)[] = new Array(refKeys.length).fill(undefined);
  for (const op of ops) if (op.ref !== undefined && op.hyp !== undefined) times[op.ref] = { start: hyp[op.hyp].start, end: hyp[op.hyp].end };
  // Fill runs of untimed words evenly between the surrounding anchors.
  let i = 0;
  while (i < times.length) {
    if (times[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < times.length && !times[j]) j++;
    const from = i > 0 ? times[i - 1]!.end : 0;
    const to = j < times.length ? times[j]!.start : duration;
    const step = Math.max(0, to - from) / (j - i);
    for (let k = i; k < j; k++) times[k] = { start: from + (k - i) * step, end: from + (k - i + 1) * step };
    i = j;
  }
  return times as { start: number; end: number }[];
}
