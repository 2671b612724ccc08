/**
 * Redaction end to end: the labelled set (test/pipeline/data/redaction-set.jsonl) spoken by
 * espeak-ng (voice en-us+f2, 150 wpm; resampled to 16 kHz mono by sox), decoded by pocketsphinx,
 * then run through
 * the pipeline with redact_pii + redact_pci. Reports, per entity type:
 *   - precision / recall by count per sentence (recognizer words cannot be aligned to the labels);
 *   - leaks: a gold entity whose content is still readable in the unredacted words (a name word,
 *     or 4+ consecutive gold digits);
 * and the stage's overhead: per sentence (as one real-time final: wall and CPU p50/p95) and per
 * minute of audio against recognition time.
 *
 * Voice: on 10 of these sentences pocketsphinx's WER was 0.42 with en-us+f2, 0.57-0.79 with the
 * other en-us variants (m1, m3, m7), 0.74 with en-us, and worse with the default British voice.
 *
 * Rows with written-form text (digits, "@") are spoken as espeak reads them, which is not how
 * a caller says a card number; they are skipped unless they are negatives.
 *
 *   nice -n 10 npx tsx bench/redaction-eval.ts [--limit N] [--out bench/results/redaction.md]
 * Also exports run(ctx) in the bench/run.ts section shape.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEngine } from '../src/engines/index.ts';
import { createPipeline, DEFAULT_OPTIONS, InlineAnalysis, StageState, type Word } from '../src/pipeline/index.ts';
import { newRedactionState, redactWords } from '../src/pipeline/stages/redaction.ts';
import { precision, recall, scoreCounts, table, type LabelledRow, type Scores } from '../src/pipeline/redact/eval.ts';
import { runDigits } from '../src/pipeline/redact/numbers.ts';
import { corpusWer } from '../src/util/wer.ts';
import { median, percentile, REPO_ROOT, type BenchContext, type BenchSection } from './lib.ts';

const SET = path.join(REPO_ROOT, 'test/pipeline/data/redaction-set.jsonl');

function synth(text: string, dir: string): Float32Array {
  const wav = path.join(dir, 'a.wav');
  const raw = path.join(dir, 'a.raw');
  execFileSync('espeak-ng', ['-v', 'en-us+f2', '-w', wav, '-s', '150', text]);
  execFileSync('sox', [wav, '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed-integer', '-t', 'raw', raw]);
  const b = fs.readFileSync(raw);
  const pcm = new Float32Array(b.length >> 1);
  for (let i = 0; i < pcm.length; i++) pcm[i] = b.readInt16LE(i * 2) / 32768;
  return pcm;
}

/** Gold entities still readable in the output's plain (unredacted) words. */
function leaks(row: LabelledRow, out: Word[]): Map<string, number> {
  const plain = out.filter((w) => !w.entity).map((w) => w.word.toLowerCase().replace(/[^a-z0-9'@.]/g, ''));
  const plainDigits = runDigits(plain.filter((w) => /^(zero|oh|one|two|three|four|five|six|seven|eight|nine|\d+)$/.test(w)));
  const m = new Map<string, number>();
  for (const e of row.entities) {
    const ws = e.text.toLowerCase().split(/\s+/).map((w) => w.replace(/[^a-z0-9']/g, ''));
    const digits = runDigits(ws);
    let leaked: boolean;
    if (digits.length >= 4) {
      leaked = false;
      for (let k = 0; k + 4 <= digits.length && !leaked; k++) leaked = plainDigits.includes(digits.slice(k, k + 4));
    } else if (/NAME/.test(e.type)) {
      leaked = ws.some((w) => w.length > 1 && plain.includes(w));
    } else continue;
    if (leaked) m.set(e.type, (m.get(e.type) ?? 0) + 1);
  }
  return m;
}

export async function run(ctx: BenchContext, opts: { limit?: number } = {}): Promise<BenchSection> {
  const rows = fs
    .readFileSync(SET, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LabelledRow & { split: string })
    .filter((r) => r.style !== 'written' || r.entities.length === 0 || !/[\d@]/.test(r.text))
    .slice(0, opts.limit ?? (ctx.quick ? 40 : undefined));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-redact-'));
  const engine = createEngine({ kind: 'pocketsphinx', workers: 1 });
  await engine.init();
  const pipeline = createPipeline({ utterances: { gapSeconds: 0.8, maxSeconds: 30 } });
  const options = { ...DEFAULT_OPTIONS, redactPii: true, redactPci: true, capitalize: false, punctuate: false };
  const scores: Scores = {};
  const leaked = new Map<string, number>();
  const golds = new Map<string, number>();
  const wall: number[] = [];
  const cpu: number[] = [];
  let audioSeconds = 0;
  let recognitionMs = 0;
  let redactionMs = 0;
  const examples: string[] = [];
  const werPairs: { reference: string; hypothesis: string }[] = [];
  try {
    for (const [i, row] of rows.entries()) {
      const pcm = synth(row.text, dir);
      const rec = await engine.recognize(pcm, { language: 'en' });
      audioSeconds += rec.duration;
      werPairs.push({ reference: row.text, hypothesis: rec.text });
      recognitionMs += rec.decodeSeconds * 1000;
      const t = await pipeline.run(
        { words: rec.words, text: rec.text, language: 'en', duration: rec.duration, start: 0, end: rec.duration },
        { mode: 'batch', partial: false, options, state: new StageState(), analysis: new InlineAnalysis(), engine: engine.info },
      );
      redactionMs += t.timings.redaction ?? 0;
      // The same words as one real-time final (session state warm), timed alone.
      const state = newRedactionState();
      const w0 = performance.now();
      const c0 = process.cpuUsage();
      redactWords(rec.words.map((w) => ({ ...w })), { pii: true, pci: true, state, commit: true, realtime: true });
      const c = process.cpuUsage(c0);
      wall.push(performance.now() - w0);
      cpu.push((c.user + c.system) / 1000);
      scoreCounts(row, t.words, scores);
      for (const e of row.entities) golds.set(e.type, (golds.get(e.type) ?? 0) + 1);
      for (const [k, v] of leaks(row, t.words)) leaked.set(k, (leaked.get(k) ?? 0) + v);
      if (examples.length < 12 && row.entities.length && i % 9 === 0) examples.push(`"${row.text}" → heard "${rec.text}" → "${t.text}"`);
      if ((i + 1) % 25 === 0) ctx.log(`redaction-eval: ${i + 1}/${rows.length}`);
    }
  } finally {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const all = Object.values(scores).reduce((a, c) => ({ tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn }), { tp: 0, fp: 0, fn: 0 });
  const leakRows = [...golds.entries()].sort().map(([type, g]) => [type, g, leaked.get(type) ?? 0]);
  return {
    name: 'redaction',
    metrics: {
      sentences: rows.length,
      recognizer_wer: Math.round(corpusWer(werPairs) * 1000) / 1000,
      audio_seconds: Math.round(audioSeconds * 10) / 10,
      precision_all: Math.round(precision(all) * 1000) / 1000,
      recall_all: Math.round(recall(all) * 1000) / 1000,
      final_wall_ms_p50: Math.round(median(wall) * 100) / 100,
      final_wall_ms_p95: Math.round(percentile(wall, 95) * 100) / 100,
      final_cpu_ms_p50: Math.round(median(cpu) * 100) / 100,
      final_cpu_ms_p95: Math.round(percentile(cpu, 95) * 100) / 100,
      redaction_ms_per_audio_minute: Math.round((redactionMs / audioSeconds) * 60 * 10) / 10,
      recognition_ms_per_audio_minute: Math.round((recognitionMs / audioSeconds) * 60),
      overhead_vs_recognition_pct: Math.round((redactionMs / recognitionMs) * 1000) / 10,
      load_average_1m: Math.round(os.loadavg()[0] * 10) / 10,
    },
    tables: [
      {
        title: 'End to end (espeak-ng → pocketsphinx → redaction), by count per sentence',
        columns: ['type', 'TP', 'FP', 'FN', 'precision', 'recall'],
        rows: Object.entries(scores).sort().map(([k, c]) => [k, c.tp, c.fp, c.fn, precision(c).toFixed(3), recall(c).toFixed(3)]),
      },
      { title: 'Leaks: gold entities still readable in the output', columns: ['type', 'gold', 'leaked'], rows: leakRows },
    ],
    notes: [table(scores), ...examples],
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const limit = args.includes('--limit') ? Number(args[args.indexOf('--limit') + 1]) : undefined;
  const outFile = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
  const section = await run({ quick: false, sharedDir: '', log: (m) => console.error(m) }, { limit });
  const md = [
    `# Redaction, end to end`,
    '',
    ...Object.entries(section.metrics).map(([k, v]) => `- ${k}: ${v}`),
    '',
    ...(section.tables ?? []).flatMap((t) => [`## ${t.title}`, '', `| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.join(' | ')} |`), '']),
    '## Examples',
    '',
    ...(section.notes ?? []).slice(1).map((n) => `- ${n}`),
  ].join('\n');
  if (outFile) fs.writeFileSync(outFile, md + '\n');
  console.log(md);
  process.exit(0);
}
