/**
 * Issue 15 item 11: RSS of a real server (pocketsphinx + Silero VAD, 2 workers, child process)
 * while bursts of real-time sessions are opened, fed 2 s of speech, and dropped abruptly
 * (TCP reset, no close_stream). Bounded: ROUNDS × SESSIONS sessions, loopback only.
 *
 *   npx tsx bench/audio-session-drops.ts [--root <other checkout>] [--rounds 4] [--sessions 50]
 *
 * Prints RSS (VmRSS of the server process, worker threads included) before, at each burst's
 * peak, and 4 s after each drop.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSet, SILERO_VAD } from '../test/helpers/speech.ts';
import { openLive, wavPcmBytes, type LiveClient } from '../test/helpers/ws.ts';

const arg = (n: string, d: string) => {
  const i = process.argv.indexOf(n);
  return i >= 0 ? process.argv[i + 1] : d;
};
const ROOT = path.resolve(arg('--root', path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')));
const ROUNDS = Number(arg('--rounds', '4'));
const SESSIONS = Number(arg('--sessions', '50'));
const KEY = 'sk_bench_drops';

const rssMB = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : -1;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cfg = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-drops-'));
const child = spawn('nice', ['-n', '10', process.execPath, path.join(ROOT, 'bin', 'cochlea.js'), 'serve'], {
  cwd: ROOT,
  env: {
    PATH: process.env.PATH!,
    HOME: cfg,
    COCHLEA_CONFIG_DIR: cfg,
    HOST: '127.0.0.1',
    PORT: '0',
    COCHLEA_WORKERS: '2',
    COCHLEA_API_KEYS: KEY,
    COCHLEA_MAX_SESSIONS: String(SESSIONS + 14),
    ...(fs.existsSync(SILERO_VAD) ? { COCHLEA_VAD_MODEL: SILERO_VAD } : {}),
    LOG_LEVEL: 'info',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
child.stdout!.on('data', (d) => (out += d));
child.stderr!.on('data', (d) => (out += d));
const url = await new Promise<string>((resolve, reject) => {
  const t = setInterval(() => {
    const m = /listening at (http:\/\/127\.0\.0\.1:\d+)/i.exec(out);
    if (m) {
      clearInterval(t);
      resolve(m[1]);
    }
  }, 100);
  setTimeout(() => reject(new Error('server did not start:\n' + out)), 60_000);
});
// The real server process is node under `nice`: nice execs, so child.pid is node's pid.
const pid = child.pid!;
const ws = url.replace('http', 'ws') + '/waves/v1/pulse/get_text';
const pcm = wavPcmBytes(loadSet('en_pocketsphinx_debian')[0].audio).subarray(0, 32000 * 2);
const rows: string[] = [`root ${ROOT}`, `before: ${rssMB(pid)} MB`];
try {
  for (let r = 1; r <= ROUNDS; r++) {
    const cs: LiveClient[] = await Promise.all(Array.from({ length: SESSIONS }, () => openLive(ws, { authorization: `Bearer ${KEY}` })));
    await Promise.all(cs.map((c) => c.sendAudio(pcm)));
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      peak = Math.max(peak, rssMB(pid));
      await sleep(250);
    }
    for (const c of cs) c.ws.terminate();
    await sleep(4000);
    rows.push(`round ${r}: ${SESSIONS} sessions peak ${peak} MB, 4 s after the drop ${rssMB(pid)} MB`);
    console.log(rows[rows.length - 1]);
  }
} finally {
  child.kill('SIGTERM');
  fs.rmSync(cfg, { recursive: true, force: true });
}
console.log(rows.join('\n'));
