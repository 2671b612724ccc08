/**
 * Keyword boosting on the pocketsphinx engine: how often a name the dictionary lacks is
 * recognized with and without `keywords`, what boosting does to clips that do not contain the
 * keywords, and what it costs.
 *
 *   nice -n 10 npx tsx bench/keywords-eval.ts [--quick] [--intensities 0,1,2,3,5] [--names N]
 *     [--templates N] [--voices espeak-us-m-140,flite-slt,...] [--json out.json]
 *
 * Positive clips are synthesized (cached under <tmpdir>/cochlea-keywords-eval): sentences that
 * contain invented or rare names (checked to be outside the decoder's dictionary), spoken by
 * espeak-ng voices and by flite voices (Debian package `flite`, skipped when absent) at several
 * speeds, resampled to 16 kHz mono with sox. flite has its own lexicon and letter-to-sound
 * rules, so those clips do not share the G2P's (espeak-ng's) idea of the pronunciation.
 * A name counts as recognized when every word of it appears in the transcript, in order.
 *
 * Negative clips are real speech from ../shared (en_librispeech, en_pocketsphinx_debian) decoded
 * with every name of the positive set as keywords (unrelated to the clips): corpus WER with and
 * without, and how many keyword words were inserted (false alarms).
 *
 * Everything runs in this thread on one PocketsphinxBackend (one pooled decoder, as a worker
 * does), so timings include the real per-session apply/restore cost.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { PocketsphinxBackend } from '../src/engines/pocketsphinx/backend.ts';
import { DEFAULT_PATHS } from '../src/engines/pocketsphinx/binding.ts';
import { REPO_ROOT, SHARED_DIR, median, type BenchContext, type BenchSection } from './lib.ts';

/** Invented or rare names (the run checks each word is outside the trimmed dictionary). */
export const NAMES = [
  'Anneliese Drumwright',
  'Thaddeus Quarrington',
  'Marisol Ekwueme',
  'Bartosz Wielgosz',
  'Oluwaseun Adeyemi',
  'Ingrid Haugeland',
  'Kwabena Asantewaa',
  'Leopoldine Farquharson',
  'Ximena Castellanos',
  'Radomir Petkovic',
  'Saoirse Mulcahy',
  'Dagny Thorvaldsen',
];

export const TEMPLATES = [
  'please call {name} tomorrow morning',
  'the report was written by {name} last year',
  'I had a long meeting with {name} about the budget',
];

interface Voice {
  engine: 'espeak' | 'flite';
  name: string;
  args: string[];
}

const VOICES: Voice[] = [
  { engine: 'espeak', name: 'espeak-us-m-140', args: ['-v', 'en-us', '-s', '140'] },
  { engine: 'espeak', name: 'espeak-us-f-160', args: ['-v', 'en-us+f3', '-s', '160'] },
  { engine: 'espeak', name: 'espeak-gb-m-150', args: ['-v', 'en-gb', '-s', '150'] },
  { engine: 'flite', name: 'flite-slt', args: ['-voice', 'slt'] },
  { engine: 'flite', name: 'flite-rms', args: ['-voice', 'rms'] },
  { engine: 'flite', name: 'flite-awb-slow', args: ['-voice', 'awb', '--setf', 'duration_stretch=1.15'] },
];

function has(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** Synthesize `text` with `voice` into a 16 kHz mono s16 WAV (cached), return its path. */
export function synthesize(text: string, voice: Voice, cacheDir: string): string {
  const key = `${voice.name}-${text.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`.slice(0, 150);
  const out = path.join(cacheDir, `${key}.wav`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(cacheDir, { recursive: true });
  const raw = path.join(cacheDir, `${key}.raw.wav`);
  if (voice.engine === 'espeak') execFileSync('espeak-ng', [...voice.args, '-w', raw, text]);
  else execFileSync('flite', [...voice.args, '-t', text, '-o', raw]);
  execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', out]);
  fs.rmSync(raw);
  return out;
}

export function readWav(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    if (id === 'data') {
      const n = Math.floor(Math.min(size, buf.length - off - 8) / 2);
      const pcm = new Float32Array(n);
      for (let i = 0; i < n; i++) pcm[i] = buf.readInt16LE(off + 8 + 2 * i) / 32768;
      return pcm;
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

function norm(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Word edit distance. */
export function editDistance(r: string[], h: string[]): number {
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[h.length];
}

/** Every word of `name` in the hypothesis, in order (case-insensitive). */
export function nameRecognized(name: string, hyp: string): boolean {
  const n = norm(name);
  const h = norm(hyp);
  for (let i = 0; i + n.length <= h.length; i++) if (n.every((w, j) => h[i + j] === w)) return true;
  return false;
}

interface Args {
  quick: boolean;
  intensities: number[];
  json?: string;
  names?: number;
  templates?: number;
  voices?: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, intensities: [0, 1, 2, 3, 5] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--quick') a.quick = true;
    else if (argv[i] === '--intensities') a.intensities = argv[++i].split(',').map(Number);
    else if (argv[i] === '--json') a.json = argv[++i];
    else if (argv[i] === '--names') a.names = Number(argv[++i]);
    else if (argv[i] === '--templates') a.templates = Number(argv[++i]);
    else if (argv[i] === '--voices') a.voices = argv[++i].split(',');
  }
  return a;
}

function loadNegatives(sharedDir: string, quick: boolean): { id: string; pcm: Float32Array; text: string }[] {
  const out: { id: string; pcm: Float32Array; text: string }[] = [];
  for (const set of ['en_librispeech', 'en_pocketsphinx_debian']) {
    const dir = path.join(sharedDir, 'speech', set);
    const mf = path.join(dir, 'manifest.jsonl');
    if (!fs.existsSync(mf)) continue;
    const clips = fs
      .readFileSync(mf, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { id?: string; audio: string; text: string | null; duration_s: number })
      .filter((c) => c.text && c.duration_s <= 40);
    for (const c of quick ? clips.slice(0, 4) : clips) out.push({ id: `${set}/${c.id ?? c.audio}`, pcm: readWav(path.join(dir, c.audio)), text: c.text! });
  }
  return out;
}

export async function run(
  ctx: BenchContext & { intensities?: number[]; names?: number; templates?: number; voices?: string[] },
): Promise<BenchSection> {
  const intensities = ctx.intensities ?? [0, 1, 2, 3, 5];
  const cacheDir = path.join(os.tmpdir(), 'cochlea-keywords-eval');
  const voices = VOICES.filter((v) => has(v.engine === 'espeak' ? 'espeak-ng' : 'flite')).filter((v) => !ctx.voices || ctx.voices.includes(v.name));
  const backend = new PocketsphinxBackend({ warmDecoders: 1, maxIdleDecoders: 1 });
  await backend.init();

  // Names with at least one word outside the decoder's dictionary (the others cannot be asked of it).
  const probe = backend.acquire();
  const oovWords = new Set(NAMES.flatMap(norm).filter((w) => probe.lookupWord(w) === null));
  backend.release(probe);
  const oov = NAMES.filter((n) => norm(n).some((w) => oovWords.has(w)));
  const names = oov.slice(0, ctx.names ?? (ctx.quick ? 3 : oov.length));
  const templates = TEMPLATES.slice(0, ctx.templates ?? (ctx.quick ? 1 : TEMPLATES.length));
  ctx.log(`${names.length}/${NAMES.length} names with an OOV word (${oovWords.size} OOV words); ${voices.length} voices; ${templates.length} templates`);

  interface Cell {
    hits: number;
    n: number;
    errs: number;
    refWords: number;
    decodeS: number[];
    audioS: number;
  }
  const conds = ['none', ...intensities.map((i) => `kw:${i}`)];
  const cells = new Map<string, Cell>(conds.map((c) => [c, { hits: 0, n: 0, errs: 0, refWords: 0, decodeS: [], audioS: 0 }]));
  const perVoice = new Map<string, Map<string, { hits: number; n: number }>>();
  const examples: string[] = [];

  for (const name of names) {
    for (const tpl of templates) {
      const text = tpl.replace('{name}', name);
      for (const v of voices) {
        const pcm = readWav(synthesize(text, v, cacheDir));
        for (const c of conds) {
          const keywords = c === 'none' ? undefined : [`${name}:${c.slice(3)}`];
          const t0 = performance.now();
          const r = await backend.recognize(pcm, { keywords });
          const dt = (performance.now() - t0) / 1000;
          const hit = nameRecognized(name, r.text);
          const cell = cells.get(c)!;
          cell.n++;
          cell.hits += hit ? 1 : 0;
          cell.errs += editDistance(norm(text), norm(r.text));
          cell.refWords += norm(text).length;
          cell.decodeS.push(dt);
          cell.audioS += pcm.length / 16000;
          const pv = perVoice.get(v.name) ?? new Map();
          const pc = pv.get(c) ?? { hits: 0, n: 0 };
          pc.n++;
          pc.hits += hit ? 1 : 0;
          pv.set(c, pc);
          perVoice.set(v.name, pv);
          if (examples.length < 12 && (c === 'none' || c === 'kw:2') && tpl === templates[0]) examples.push(`${v.name} ${c}: ${r.text}`);
        }
      }
    }
    ctx.log(`  ${name}: ${conds.map((c) => `${c} ${cells.get(c)!.hits}/${cells.get(c)!.n}`).join(', ')}`);
  }

  // Negatives: unrelated keywords (all the names) on real speech.
  const negatives = loadNegatives(ctx.sharedDir, ctx.quick);
  const negKeywords = (i: number) => names.map((n) => `${n}:${i}`);
  const negConds = ['none', ...intensities.map((i) => `kw:${i}`)];
  const neg = new Map(negConds.map((c) => [c, { errs: 0, refWords: 0, falseAlarms: 0, decodeS: 0, audioS: 0, changed: 0 }]));
  const kwWords = new Set(names.flatMap(norm));
  const baseline = new Map<string, string>();
  for (const clip of negatives) {
    for (const c of negConds) {
      const keywords = c === 'none' ? undefined : negKeywords(Number(c.slice(3)));
      const t0 = performance.now();
      const r = await backend.recognize(clip.pcm, { keywords });
      const e = neg.get(c)!;
      e.decodeS += (performance.now() - t0) / 1000;
      e.audioS += clip.pcm.length / 16000;
      e.errs += editDistance(norm(clip.text), norm(r.text));
      e.refWords += norm(clip.text).length;
      e.falseAlarms += norm(r.text).filter((w) => kwWords.has(w)).length;
      if (c === 'none') baseline.set(clip.id, r.text);
      else if (r.text.toLowerCase() !== baseline.get(clip.id)?.toLowerCase()) e.changed++;
    }
  }

  // After all keyword sessions the pooled decoder carries the added words (disabled): decode the
  // negatives again without keywords and compare with the first, clean decodes.
  let afterErrs = 0;
  let afterChanged = 0;
  let afterRef = 0;
  for (const clip of negatives) {
    const r = await backend.recognize(clip.pcm, {});
    afterErrs += editDistance(norm(clip.text), norm(r.text));
    afterRef += norm(clip.text).length;
    if (r.text !== baseline.get(clip.id)) afterChanged++;
  }
  const restoredIdentical = afterChanged === 0;

  const kw = backend.keywords!.stats;
  backend.dispose();

  const pct = (x: number) => Math.round(x * 1000) / 10;
  const posRows = conds.map((c) => {
    const x = cells.get(c)!;
    return [c, `${x.hits}/${x.n}`, pct(x.hits / x.n), pct(x.errs / x.refWords), Math.round(median(x.decodeS) * 1000), Math.round((x.decodeS.reduce((a, b) => a + b, 0) / x.audioS) * 1000) / 1000];
  });
  const negRows = negConds.map((c) => {
    const x = neg.get(c)!;
    return [c, pct(x.errs / x.refWords), x.falseAlarms, x.changed, Math.round((x.decodeS / x.audioS) * 1000) / 1000];
  });
  negRows.push([`none, after the keyword sessions (${kw.wordsAdded} words added to the pooled decoder)`, pct(afterErrs / Math.max(1, afterRef)), 0, afterChanged, '']);
  const voiceRows = [...perVoice].map(([v, m]) => [v, ...conds.map((c) => `${m.get(c)?.hits ?? 0}/${m.get(c)?.n ?? 0}`)]);
  const metrics: Record<string, number | string | boolean> = {
    names_oov: names.length,
    positive_clips: cells.get('none')!.n,
    negative_clips: negatives.length,
    negative_audio_s: Math.round(neg.get('none')!.audioS),
    restored_identical: restoredIdentical,
    words_added: kw.wordsAdded,
    lexicon_rebuilds: kw.rebuilds,
    apply_ms_total: Math.round(kw.applyMs),
  };
  for (const c of conds) metrics[`recognized_${c}`] = pct(cells.get(c)!.hits / cells.get(c)!.n);
  for (const c of negConds) metrics[`neg_wer_${c}`] = pct(neg.get(c)!.errs / neg.get(c)!.refWords);
  return {
    name: 'keywords',
    metrics,
    tables: [
      { title: 'Names outside the dictionary: recognition rate (positive clips)', columns: ['keywords', 'recognized', '%', 'WER %', 'median decode ms', 'xRT'], rows: posRows },
      { title: 'Per voice', columns: ['voice', ...conds], rows: voiceRows },
      { title: `Clips without the keywords (${negatives.length} real clips, all ${names.length} names as keywords)`, columns: ['keywords', 'WER %', 'keyword words inserted', 'transcripts changed', 'xRT'], rows: negRows },
    ],
    notes: examples,
  };
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('keywords-eval.ts')) {
  const args = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const section = await run({
    quick: args.quick,
    sharedDir: SHARED_DIR,
    log: (m) => console.error(m),
    intensities: args.intensities,
    names: args.names,
    templates: args.templates,
    voices: args.voices,
  });
  for (const t of section.tables ?? []) {
    console.log(`\n## ${t.title}\n`);
    console.log(`| ${t.columns.join(' | ')} |\n|${t.columns.map(() => '---').join('|')}|`);
    for (const r of t.rows) console.log(`| ${r.join(' | ')} |`);
  }
  console.log('\n', JSON.stringify(section.metrics));
  for (const n of section.notes ?? []) console.log('  ', n);
  console.log(`\n(${Math.round((Date.now() - t0) / 1000)} s; dictionary ${path.relative(REPO_ROOT, DEFAULT_PATHS.dict)})`);
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(section, null, 2));
}
