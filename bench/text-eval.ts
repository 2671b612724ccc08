/**
 * Text stages evaluation: punctuation/capitalization F1 per mark and the time the text stages add.
 *
 *   nice -n 10 npx tsx bench/text-eval.ts        (decodes each clip once with pocketsphinx, cached in
 *                                                 bench/results/text-decode.json; writes
 *                                                 bench/results/text-eval.json)
 *
 * Sets: en_ljspeech and telephony_8k_en_asterisk (punctuated, cased references) from ../shared.
 *  - "stage alone": the reference words, lowercased and stripped of punctuation, with times borrowed
 *    from the aligned recognizer output (so pauses are real), through the stage; scored against the
 *    reference.
 *  - "recognizer": pocketsphinx's words through the stage, aligned to the reference.
 *  - "baseline": capital first letter and a final period only (what any formatter gets for free).
 * Overhead: punctuation + ITN stage time per minute of audio against pocketsphinx decode time, and
 * per real-time final (each clip's words as one final), p95 over repeated runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeAll, type DecodedClip } from './text-decode.ts';
import { percentile, REPO_ROOT } from './lib.ts';
import { punctuate } from '../src/pipeline/text/punctuate.ts';
import { normalizeNumbers } from '../src/pipeline/text/itn.ts';
import { emptyScores, f1, MARK_CLASSES, score, timeReference, tokenize, type Scores } from '../src/pipeline/text/metrics.ts';
import type { Word } from '../src/pipeline/types.ts';

// Each clip is a whole file (batch): its end ends a sentence.
const OPTS = { punctuate: true, capitalize: true, endsSentence: true };
const join = (ws: { word: string }[]) => ws.map((w) => w.word).join(' ');

function baseline(words: Word[]): string {
  const t = join(words);
  return t ? t[0].toUpperCase() + t.slice(1) + '.' : '';
}

function table(name: string, s: Scores): string[] {
  const rows = [`${name}`];
  for (const c of [...MARK_CLASSES, 'capital'] as const) {
    const r = f1(s[c]);
    rows.push(`  ${c.padEnd(9)} P ${pct(r.precision)}  R ${pct(r.recall)}  F1 ${pct(r.f1)}  (n=${r.support})`);
  }
  return rows;
}
const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1).padStart(5) + '%' : '   n/a');

export async function evaluate(clips: DecodedClip[]) {
  const result: Record<string, Record<string, Scores>> = {};
  const samples: string[] = [];
  for (const set of [...new Set(clips.map((c) => c.set)), 'all']) {
    const sel = set === 'all' ? clips : clips.filter((c) => c.set === set);
    const alone = emptyScores();
    const rec = emptyScores();
    const base = emptyScores();
    const baseRef = emptyScores();
    for (const c of sel) {
      const refKeys = tokenize(c.reference).map((t) => t.key);
      const times = timeReference(refKeys, c.words, c.duration);
      const refWords: Word[] = refKeys.map((k, i) => ({ word: k, ...times[i], confidence: 1 }));
      const a = join(punctuate(refWords, OPTS));
      score(c.reference, a, alone);
      score(c.reference, baseline(refWords), baseRef);
      const h = join(punctuate(c.words, OPTS));
      score(c.reference, h, rec);
      score(c.reference, baseline(c.words), base);
      if (set === 'all') samples.push(`REF ${c.reference}\nSTG ${a}\nASR ${h}\n`);
    }
    result[set] = { stageAlone: alone, baselineOnReference: baseRef, recognizer: rec, baselineOnRecognizer: base };
  }
  return { result, samples };
}

function finals(words: Word[]): Word[][] {
  const out: Word[][] = [];
  let cur: Word[] = [];
  for (const w of words) {
    if (cur.length && (cur.length >= 10 || w.start - cur[cur.length - 1].end >= 0.8)) {
      out.push(cur);
      cur = [];
    }
    cur.push(w);
  }
  if (cur.length) out.push(cur);
  return out;
}

function overhead(clips: DecodedClip[], reps: number) {
  const perFinal: number[] = [];
  const perFinalCpu: number[] = [];
  let stageMs = 0;
  let audioS = 0;
  let decodeS = 0;
  const run = (ws: Word[]) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    normalizeNumbers(punctuate(ws, OPTS));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    return { ms, cpu: (cpu.user + cpu.system) / 1000 };
  };
  for (let r = 0; r < reps; r++) {
    for (const c of clips) {
      // Batch: the whole clip at once.
      const whole = run(c.words);
      if (r === reps - 1) {
        stageMs += whole.ms;
        audioS += c.duration;
        decodeS += c.decodeSeconds;
      }
      // Real time: finals as Pulse cuts them (about ten words, or at a pause of 0.8 s).
      for (const f of finals(c.words)) {
        const x = run(f);
        if (r > 0) {
          // the first pass warms the JIT and compromise's lexicon
          perFinal.push(x.ms);
          perFinalCpu.push(x.cpu);
        }
      }
    }
  }
  const stageMsPerMin = (stageMs / audioS) * 60;
  const recogMsPerMin = ((decodeS * 1000) / audioS) * 60;
  return {
    stageMsPerAudioMinute: stageMsPerMin,
    recognitionMsPerAudioMinute: recogMsPerMin,
    ratio: stageMsPerMin / recogMsPerMin,
    perFinalP50: percentile(perFinal, 50),
    perFinalP95: percentile(perFinal, 95),
    perFinalCpuP50: percentile(perFinalCpu, 50),
    perFinalCpuP95: percentile(perFinalCpu, 95),
    finals: perFinal.length,
    loadAverage: os.loadavg()[0],
    cores: os.availableParallelism(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const clips = await decodeAll();
  const { result, samples } = await evaluate(clips);
  const lines: string[] = [];
  for (const [set, r] of Object.entries(result)) {
    lines.push(`== ${set}`);
    for (const [k, s] of Object.entries(r)) lines.push(...table(k, s));
  }
  const ov = overhead(clips, 20);
  lines.push(
    `== overhead (punctuation + ITN, main thread)`,
    `  ${ov.stageMsPerAudioMinute.toFixed(1)} ms per audio minute vs recognition ${ov.recognitionMsPerAudioMinute.toFixed(0)} ms → ${(100 * ov.ratio).toFixed(2)}%`,
    `  per final (wall): p50 ${ov.perFinalP50.toFixed(2)} ms, p95 ${ov.perFinalP95.toFixed(2)} ms over ${ov.finals} finals`,
    `  per final (process CPU time): p50 ${ov.perFinalCpuP50.toFixed(2)} ms, p95 ${ov.perFinalCpuP95.toFixed(2)} ms`,
    `  (load average ${ov.loadAverage.toFixed(1)} on ${ov.cores} cores while measuring)`,
  );
  console.log(lines.join('\n'));
  if (process.argv.includes('--samples')) console.log(samples.join('\n'));
  const out = path.join(REPO_ROOT, 'bench', 'results', 'text-eval.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ result, overhead: ov }, null, 2));
}
