/**
 * Word error rate with the usual normalisation (lowercase, punctuation stripped, whitespace
 * folded). Levenshtein over words; hand-written because it is ten lines and a dependency would
 * bring its own normalisation rules.
 */
export function normalizeForWer(text: string): string[] {
  return text
    .toLowerCase()
    .normalize('NFKC')
    .replace(/[’']/g, "'")
    .replace(/[^\p{L}\p{N}'\s-]/gu, ' ')
    .replace(/(^|\s)'+|'+(?=\s|$)/g, ' ')
    .replace(/-/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

export interface WerCounts {
  errors: number;
  words: number;
}

export function editDistance(ref: string[], hyp: string[]): number {
  let prev = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const cur = [i];
    for (let j = 1; j <= hyp.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[hyp.length];
}

export function werCounts(reference: string, hypothesis: string): WerCounts {
  const ref = normalizeForWer(reference);
  const hyp = normalizeForWer(hypothesis);
  return { errors: editDistance(ref, hyp), words: ref.length };
}

/** Corpus WER: total errors over total reference words. */
export function corpusWer(pairs: { reference: string; hypothesis: string }[]): number {
  let e = 0;
  let n = 0;
  for (const p of pairs) {
    const c = werCounts(p.reference, p.hypothesis);
    e += c.errors;
    n += c.words;
  }
  return n === 0 ? 0 : e / n;
}
