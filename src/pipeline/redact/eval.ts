/**
 * Scoring for the redaction labelled set (test/pipeline/data/redaction-set.jsonl): per entity
 * type precision and recall, used by the stage-level test and the end-to-end bench.
 *
 *  - Stage level (reference words in, exact positions known): a gold entity is found when every one
 *    of its words is inside a placeholder of its type; a placeholder is correct when it overlaps a
 *    gold entity of its type.
 *  - End to end (recognizer words, no alignment to the reference): per sentence and type, the
 *    placeholders produced are matched by count against the gold entities (TP = min(gold, found)).
 */
import type { Word } from '../types.ts';

export interface LabelledRow {
  text: string;
  entities: { type: string; text: string }[];
  style: string;
  note?: string;
}

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
}

export type Scores = Record<string, Counts>;

export function addCounts(s: Scores, type: string, c: Partial<Counts>): void {
  const x = (s[type] ??= { tp: 0, fp: 0, fn: 0 });
  x.tp += c.tp ?? 0;
  x.fp += c.fp ?? 0;
  x.fn += c.fn ?? 0;
}

/** Gold entities as word-index ranges [start, end) of the whitespace-split text. */
export function goldRanges(row: LabelledRow): { type: string; start: number; end: number }[] {
  const out: { type: string; start: number; end: number }[] = [];
  let from = 0;
  for (const e of row.entities) {
    let at = -1;
    for (let k = row.text.indexOf(e.text, from); k >= 0; k = row.text.indexOf(e.text, k + 1)) {
      const before = k === 0 || /\s/.test(row.text[k - 1]);
      const after = k + e.text.length >= row.text.length || /[\s.,?!]/.test(row.text[k + e.text.length]);
      if (before && after) {
        at = k;
        break;
      }
    }
    if (at < 0) throw new Error(`entity "${e.text}" not found in "${row.text}"`);
    const start = row.text.slice(0, at).split(/\s+/).filter(Boolean).length;
    const len = e.text.split(/\s+/).filter(Boolean).length;
    out.push({ type: e.type, start, end: start + len });
    from = at + e.text.length;
  }
  return out;
}

/**
 * Stage-level scoring. `input` are the words given to the stage (times = word index), `output`
 * the redacted words (a placeholder spans [start, end] of its source words).
 */
export function scoreStage(row: LabelledRow, output: Word[], scores: Scores): void {
  const gold = goldRanges(row);
  const preds = output.filter((w) => w.entity).map((w) => ({ type: w.entity!, start: Math.round(w.start), end: Math.round(w.end - 0.5) + 1 }));
  for (const g of gold) {
    const covered = (k: number) => preds.some((p) => p.type === g.type && p.start <= k && k < p.end);
    let all = true;
    for (let k = g.start; k < g.end; k++) all &&= covered(k);
    addCounts(scores, g.type, all ? { tp: 1 } : { fn: 1 });
  }
  for (const p of preds) {
    const ok = gold.some((g) => g.type === p.type && p.start < g.end && g.start < p.end);
    if (!ok) addCounts(scores, p.type, { fp: 1 });
  }
}

/** End-to-end scoring by count per sentence and type. */
export function scoreCounts(row: LabelledRow, output: Word[], scores: Scores): void {
  const gold = new Map<string, number>();
  for (const e of row.entities) gold.set(e.type, (gold.get(e.type) ?? 0) + 1);
  const found = new Map<string, number>();
  for (const w of output) if (w.entity) found.set(w.entity, (found.get(w.entity) ?? 0) + 1);
  for (const type of new Set([...gold.keys(), ...found.keys()])) {
    const g = gold.get(type) ?? 0;
    const f = found.get(type) ?? 0;
    const tp = Math.min(g, f);
    addCounts(scores, type, { tp, fp: f - tp, fn: g - tp });
  }
}

export function precision(c: Counts): number {
  return c.tp + c.fp ? c.tp / (c.tp + c.fp) : 1;
}
export function recall(c: Counts): number {
  return c.tp + c.fn ? c.tp / (c.tp + c.fn) : 1;
}

export function table(scores: Scores): string {
  const rows = Object.entries(scores).sort(([a], [b]) => a.localeCompare(b));
  const all: Counts = { tp: 0, fp: 0, fn: 0 };
  const lines = ['| type | gold | found | TP | FP | FN | precision | recall |', '|---|---|---|---|---|---|---|---|'];
  for (const [type, c] of rows) {
    all.tp += c.tp;
    all.fp += c.fp;
    all.fn += c.fn;
    lines.push(`| ${type} | ${c.tp + c.fn} | ${c.tp + c.fp} | ${c.tp} | ${c.fp} | ${c.fn} | ${precision(c).toFixed(3)} | ${recall(c).toFixed(3)} |`);
  }
  lines.push(`| all | ${all.tp + all.fn} | ${all.tp + all.fp} | ${all.tp} | ${all.fp} | ${all.fn} | ${precision(all).toFixed(3)} | ${recall(all).toFixed(3)} |`);
  return lines.join('\n');
}
