/**
 * Issue 15 item 8: peak RSS while decoding a decompression bomb (a 2.7 MB FLAC of 4 hours of
 * silence, 16 kHz mono: 921 MB as Float32), streamed as the server streams an upload.
 *
 *   npx tsx bench/audio-bomb.ts [--old <dir with an older src/>]
 *
 * Each variant runs in its own child process (clean RSS), sampling process.memoryUsage().rss
 * every 10 ms: baseline, peak, and the decoded length. Variants:
 *   accepted-4h   maxDurationSeconds 4 h (the default limit): decoded in full
 *   refused-5h    a 5-hour FLAC against the 4 h limit (refused from STREAMINFO now; before: decoded until the limit)
 *   budget-4x1h   four 1-hour FLACs at once with a 2-hour in-flight budget (now: two are refused with 503-class errors)
 * `--old <dir>` runs the same variants against another checkout's src/ (e.g. `git archive <commit> src | tar -x -C <dir>`,
 * with a node_modules symlink) for a before/after table.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const DIR = path.join(os.tmpdir(), 'cochlea-audio-bomb');

function flac(hours: number): string {
  fs.mkdirSync(DIR, { recursive: true });
  const f = path.join(DIR, `silence-${hours}h.flac`);
  if (!fs.existsSync(f)) {
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', String(hours * 3600), '-c:a', 'flac', f]);
  }
  return f;
}

async function child(srcRoot: string, variant: string): Promise<void> {
  const audio = await import(pathToFileURL(path.join(srcRoot, 'src/audio/index.ts')).href);
  let budget: unknown;
  if (fs.existsSync(path.join(srcRoot, 'src/audio/budget.ts'))) {
    const b = await import(pathToFileURL(path.join(srcRoot, 'src/audio/budget.ts')).href);
    budget = new b.AudioBudget(2 * 3600);
  }
  const base = process.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const t0 = performance.now();
  const run = async (file: string, max: number, withBudget: boolean) => {
    try {
      const d = await audio.decodeAudio(fs.createReadStream(file), { maxDurationSeconds: max, ...(withBudget && budget ? { budget } : {}) });
      return `ok ${d.duration.toFixed(0)} s`;
    } catch (e) {
      return `${(e as { code?: string }).code}`;
    }
  };
  let results: string[];
  if (variant === 'accepted-4h') results = [await run(flac(4), 4 * 3600, false)];
  else if (variant === 'refused-5h') results = [await run(flac(5), 4 * 3600, false)];
  else results = await Promise.all([0, 1, 2, 3].map(() => run(flac(1), 4 * 3600, true)));
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(JSON.stringify({ variant, baseMB: Math.round(base / 2 ** 20), peakMB: Math.round(peak / 2 ** 20), deltaMB: Math.round((peak - base) / 2 ** 20), seconds: +((performance.now() - t0) / 1000).toFixed(1), results }));
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--child');
  if (i >= 0) return child(process.argv[i + 1], process.argv[i + 2]);
  const o = process.argv.indexOf('--old');
  const roots: [string, string][] = [['this tree', ROOT]];
  if (o >= 0) roots.unshift(['old', path.resolve(process.argv[o + 1])]);
  for (const h of [1, 4, 5]) flac(h);
  for (const [label, root] of roots) {
    for (const variant of ['accepted-4h', 'refused-5h', 'budget-4x1h']) {
      const out = await new Promise<string>((resolve) => {
        const c = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', root, variant], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
        let s = '';
        c.stdout.on('data', (d) => (s += d));
        c.on('exit', () => resolve(s.trim()));
      });
      console.log(`${label.padEnd(9)} ${out}`);
    }
  }
}

await main();
