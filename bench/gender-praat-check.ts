/**
 * Cross-check of the gender estimator's f0 measurement against Praat (Boersma & Weenink), the
 * phoneticians' reference tool, on every gender-labelled shared clip:
 *
 *   nice -n 19 npx tsx bench/gender-praat-check.ts        (needs `praat` on PATH: apt-get install praat)
 *
 * Praat is only an offline reference here, never a runtime dependency. Per clip it takes the median
 * f0 of Praat's "To Pitch" (autocorrelation, 75–600 Hz, Praat's defaults for speech) and compares
 * it with ours (YIN, voice/features.ts): the ratio per set, the clips where the two differ by more
 * than 15% (octave errors would show as ratios near 0.5 or 2), and the accuracy of the f0 cue alone
 * with each tracker's f0 (same class model, voice/gender.ts). Without praat it says so and exits 0.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluate, DEV_SETS, HELD_OUT_SETS } from './gender-eval.ts';
import { SHARED_DIR } from './lib.ts';
import { classifyGender } from '../src/pipeline/voice/gender.ts';

const SCRIPT = `form args
  sentence file
endform
s = Read from file: file$
p = To Pitch: 0, 75, 600
med = Get quantile: 0, 0, 0.5, "Hertz"
writeInfoLine: fixed$(med, 2)
`;

function hasPraat(): boolean {
  try {
    execFileSync('praat', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (!hasPraat()) {
  console.log('praat not found on PATH (apt-get install praat): nothing to compare');
  process.exit(0);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-praat-'));
const script = path.join(dir, 'f0.praat');
fs.writeFileSync(script, SCRIPT);
const rows = await evaluate(SHARED_DIR, () => {});
const files = new Map<string, string>();
for (const set of [...DEV_SETS, ...HELD_OUT_SETS]) {
  const sdir = path.join(SHARED_DIR, 'speech', set);
  for (const l of fs.readFileSync(path.join(sdir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean)) {
    const c = JSON.parse(l) as { id: string; audio: string };
    files.set(`${set}/${c.id}`, path.join(sdir, c.audio));
  }
}
const ratio = (r: { f0: number }, p: number) => r.f0 / p;
console.log('set | clips | median ours/praat | >15% apart | f0-only acc (ours) | f0-only acc (praat f0)');
const apart: string[] = [];
let okOurs = 0, okPraat = 0;
for (const set of [...DEV_SETS, ...HELD_OUT_SETS]) {
  const rs = rows.filter((r) => r.set === set);
  if (!rs.length) continue;
  const ratios: number[] = [];
  let o = 0, p = 0;
  for (const r of rs) {
    const out = execFileSync('praat', ['--run', script, files.get(`${set}/${r.id}`)!], { encoding: 'utf8' }).trim();
    const pf0 = Number(out.split('\n').pop());
    const q = ratio(r, pf0);
    ratios.push(q);
    if (Math.abs(q - 1) > 0.15) apart.push(`${set}/${r.id}: ours ${r.f0.toFixed(0)} Hz, praat ${pf0.toFixed(0)} Hz (${r.truth})`);
    if (r.predictedF0Only === r.truth) o++;
    const base = { voicedFrames: 100, voicedSeconds: 1, formantFrames: 0, formantSpacing: NaN, formantSpacingLogSe: NaN, narrowband: false };
    if (Number.isFinite(pf0) && classifyGender({ ...base, f0: pf0 })?.gender === r.truth) p++;
  }
  ratios.sort((a, b) => a - b);
  okOurs += o;
  okPraat += p;
  const n = rs.length;
  console.log(`${set} | ${n} | ${ratios[n >> 1].toFixed(3)} | ${ratios.filter((q) => Math.abs(q - 1) > 0.15).length} | ${o}/${n} | ${p}/${n}`);
}
console.log(`all | ${rows.length} | | ${apart.length} | ${okOurs}/${rows.length} | ${okPraat}/${rows.length}`);
if (apart.length) console.log('\nmore than 15% apart:\n  ' + apart.join('\n  '));
fs.rmSync(dir, { recursive: true, force: true });
