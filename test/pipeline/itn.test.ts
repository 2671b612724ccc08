/**
 * ITN: a table of spoken → written cases per class (test/pipeline/data/itn-cases.tsv, spoken forms
 * from Debian's python3-num2words, see make-itn-cases.py), including negatives that must stay as
 * spoken; plus the token contract (times, confidence, spoken, punctuation, case) and the stage.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { normalizeNumbers } from '../../src/pipeline/text/itn.ts';
import { itnStage } from '../../src/pipeline/stages/itn.ts';
import { InlineAnalysis, Pipeline, StageState, DEFAULT_OPTIONS, type Word } from '../../src/pipeline/index.ts';

const DATA = path.join(path.dirname(fileURLToPath(import.meta.url)), 'data', 'itn-cases.tsv');
const words = (s: string, conf = 0.9): Word[] => s.split(' ').map((w, i) => ({ word: w, start: i, end: i + 0.5, confidence: conf }));
const text = (ws: Word[]) => ws.map((w) => w.word).join(' ');

/**
 * Per-class bounds: every class must be at least 95% right; the table's known misses are two
 * readings that are genuinely ambiguous ("until eleven twenty three": a year or 11:23) and one
 * idiom ("the ten commandments").
 */
const MIN_ACCURACY = 0.95;

test('ITN table: at least 300 cases, every class at least 95% and the whole table at least 98%', () => {
  const rows = fs.readFileSync(DATA, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  assert.ok(rows.length >= 300, `${rows.length} cases`);
  const per: Record<string, { ok: number; n: number; misses: string[] }> = {};
  for (const [cls, spoken, written] of rows) {
    const got = text(normalizeNumbers(words(spoken)));
    const c = (per[cls] ??= { ok: 0, n: 0, misses: [] });
    c.n++;
    if (got === written) c.ok++;
    else c.misses.push(`"${spoken}" → "${got}" (want "${written}")`);
  }
  const report = Object.entries(per).map(([k, v]) => `${k.padEnd(10)} ${v.ok}/${v.n} ${((100 * v.ok) / v.n).toFixed(1)}%${v.misses.length ? '  misses: ' + v.misses.join('; ') : ''}`);
  console.log(report.join('\n'));
  const classes = ['cardinal', 'ordinal', 'decimal', 'percent', 'money', 'time', 'date', 'year', 'telephone', 'digits', 'measure', 'negative'];
  for (const c of classes) {
    assert.ok(per[c], `class ${c} present`);
    assert.ok(per[c].ok / per[c].n >= MIN_ACCURACY, `${c}: ${per[c].ok}/${per[c].n}: ${per[c].misses.join('; ')}`);
  }
  const ok = Object.values(per).reduce((s, v) => s + v.ok, 0);
  assert.ok(ok / rows.length >= 0.98, `${ok}/${rows.length}`);
});

test('a normalized token spans its source words, takes their max confidence and keeps the spoken words', () => {
  const ws: Word[] = [
    { word: 'It', start: 0, end: 0.2, confidence: 0.9 },
    { word: 'costs', start: 0.25, end: 0.6, confidence: 0.8 },
    { word: 'twenty', start: 0.7, end: 1.0, confidence: 0.5 },
    { word: 'five', start: 1.05, end: 1.3, confidence: 0.95 },
    { word: 'dollars.', start: 1.35, end: 1.8, confidence: 0.6 },
    { word: 'Twelve', start: 2.5, end: 2.8, confidence: 0.7 },
    { word: 'people', start: 2.9, end: 3.2, confidence: 0.7 },
    { word: 'came?', start: 3.3, end: 3.6, confidence: 0.7 },
  ];
  const out = normalizeNumbers(ws);
  assert.deepEqual(out.map((w) => w.word), ['It', 'costs', '$25.', '12', 'people', 'came?']);
  assert.deepEqual(out[2], { word: '$25.', start: 0.7, end: 1.8, confidence: 0.95, spoken: 'twenty five dollars' });
  assert.equal(out[3].spoken, 'Twelve');
  assert.strictEqual(out[0], ws[0], 'untouched words are passed through');
  // capitalization kept: a month at a sentence start stays capitalized, a date is built around it
  assert.equal(text(normalizeNumbers(words('March third twenty twenty five.'))), 'March 3, 2025.');
  assert.equal(text(normalizeNumbers(words('Fourteen people'))), '14 people');
});

test('spans never cross a sentence mark; a number run with no clear reading stays spoken', () => {
  assert.equal(text(normalizeNumbers(words('it was twenty. Five more'))), 'it was 20. Five more');
  assert.equal(text(normalizeNumbers(words('one, two, three, four'))), 'one, two, three, four');
  assert.equal(text(normalizeNumbers(words('twenty twenty'))), 'twenty twenty');
  assert.equal(text(normalizeNumbers(words('he scored twenty twenty five times'))), 'he scored twenty twenty five times');
});

test('the ITN stage runs only with itn_normalize, on finals, and warns for other languages', async () => {
  const p = new Pipeline([itnStage()]);
  const ctx = (itn: boolean, language = 'en', partial = false) => ({
    mode: 'realtime' as const, partial, options: { ...DEFAULT_OPTIONS, itn, language }, state: new StageState(), analysis: new InlineAnalysis(),
    engine: { name: 'test', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: true },
  });
  const input = { words: words('pay twenty five dollars'), text: '', language: 'en', duration: 4 };
  assert.equal((await p.run(input, ctx(true))).text, 'pay $25');
  assert.equal((await p.run(input, ctx(false))).text, 'pay twenty five dollars');
  assert.equal((await p.run(input, ctx(true, 'en', true))).text, 'pay twenty five dollars', 'partials stay spoken');
  const fr = await p.run({ ...input, language: 'fr' }, ctx(true, 'fr'));
  assert.equal(fr.text, 'pay twenty five dollars');
  assert.ok(fr.warnings.some((w) => w.option === 'itn_normalize' && /English only/.test(w.message)));
});
