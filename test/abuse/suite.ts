/**
 * `npm run test:abuse` — issue 15's attacks replayed against a child-process server (loopback
 * only, bounded counts and time), with a well-behaved client served concurrently during each.
 *
 * Engine: the scripted engine (every burst of sound is the next word of a known script, so a
 * wrong transcript is detectable exactly), with `decodeDelayMs` busy-waiting per recognition to
 * stand in for a real recognizer's CPU time: 250 ms per 10 s request for the load table.
 * Measurements come from a probe preloaded into the server (test/abuse/probe.mjs): main-thread
 * event-loop delay (max, p99) and RSS, reset per phase.
 *
 * Exit code 1 if an assertion of a fixed item fails (5xx where none is allowed, a credential in
 * the log, a well-behaved client not served, event-loop delay over 250 ms).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { Agent, fetch as ufetch } from 'undici';
import { makeWav } from '../helpers/wav.ts';
import { oggOpusSilence } from '../audio/ogg-build.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const KEY = 'sk_abuse_' + Math.random().toString(36).slice(2);
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango'];
const failures: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `bursts` tone bursts (0.3 s) separated by 0.32 s silences, padded to `seconds`. */
function burstWav(bursts: number, seconds: number): Buffer {
  const x = new Float32Array(Math.round(seconds * 16000));
  for (let b = 0; b < bursts; b++) {
    const s0 = Math.round((0.1 + b * 0.62) * 16000);
    for (let i = 0; i < 0.3 * 16000; i++) x[s0 + i] = 0.2 * Math.sin((2 * Math.PI * 440 * i) / 16000);
  }
  return makeWav(x);
}
const CLIP10 = burstWav(16, 10);
const EXPECT10 = WORDS.slice(0, 16).join(' ');
const CLIP1 = burstWav(1, 1);

interface Server {
  url: string;
  child: ChildProcess;
  log: () => string;
  probe: () => { loopMaxMs: number; loopP99Ms: number; rssMB: number; peakRssMB: number };
  reset: () => Promise<void>;
  stop: () => Promise<void>;
}

async function startServer(env: Record<string, string>): Promise<Server> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-abuse-'));
  const probeFile = path.join(dir, 'probe.json');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'cochlea.js'), 'serve'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH!,
      HOME: dir,
      COCHLEA_CONFIG_DIR: dir,
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      COCHLEA_API_KEYS: KEY,
      COCHLEA_ENGINE: 'scripted',
      COCHLEA_WORKERS: '2',
      NODE_OPTIONS: `--import ${path.join(ROOT, 'test', 'abuse', 'probe.mjs')}`,
      COCHLEA_ABUSE_PROBE: probeFile,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out = (out + d).slice(-20_000_000)));
  child.stderr!.on('data', (d) => (out = (out + d).slice(-20_000_000)));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /listening at (http:\/\/127\.0\.0\.1:\d+)/i.exec(out);
      if (m) {
        clearInterval(t);
        resolve(m[1]);
      }
    }, 50);
    setTimeout(() => reject(new Error('server did not start\n' + out)), 60_000);
  });
  await sleep(600);
  return {
    url,
    child,
    log: () => out,
    probe: () => JSON.parse(fs.readFileSync(probeFile, 'utf8')),
    reset: async () => {
      fs.writeFileSync(probeFile + '.in', 'reset');
      await sleep(600);
    },
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const auth = { authorization: `Bearer ${KEY}` };
/** The well-behaved client has its own connection pool: attackers' broken connections are not its problem. */
const goodAgent = new Agent({ connections: 4 });

async function batch(url: string, body: Buffer, query = 'language=en', headers: Record<string, string> = {}, good = false): Promise<{ status: number; text: string; ms: number; json?: { transcription?: string; message?: string } }> {
  const t0 = performance.now();
  const f = (good ? (u: string, i: object) => ufetch(u, { ...i, dispatcher: goodAgent }) : fetch) as typeof fetch;
  try {
    const r = await f(`${url}/waves/v1/pulse/get_text?${query}`, { method: 'POST', headers: { ...auth, 'content-type': 'audio/wav', ...headers }, body: new Uint8Array(body) });
    const text = await r.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: r.status, text, ms: performance.now() - t0, json };
  } catch (e) {
    return { status: 0, text: String(e), ms: performance.now() - t0 };
  }
}

/** A well-behaved client: /health and a 1 s request every 250 ms; counts what was served right. */
function goodClient(url: string) {
  let stop = false;
  const lat: number[] = [];
  let ok = 0;
  let total = 0;
  const loop = (async () => {
    while (!stop) {
      total++;
      const t0 = performance.now();
      const h = await ufetch(`${url}/health`, { dispatcher: goodAgent }).then(async (r) => (await r.text(), r.status), () => 0);
      const b = await batch(url, CLIP1, 'language=en', {}, true);
      lat.push(performance.now() - t0);
      if (h === 200 && b.status === 200 && b.json?.transcription === WORDS[0]) ok++;
      await sleep(250);
    }
  })();
  return async () => {
    stop = true;
    await loop;
    lat.sort((a, b) => a - b);
    return { ok, total, p95: Math.round(lat[Math.floor(lat.length * 0.95)] ?? 0), max: Math.round(lat[lat.length - 1] ?? 0) };
  };
}

const rows: string[] = [];
async function phase(s: Server, name: string, attack: () => Promise<string>, maxLoopMs = 250): Promise<void> {
  await s.reset();
  const before = s.probe().rssMB;
  const done = goodClient(s.url);
  const t0 = Date.now();
  let note: string;
  try {
    note = await attack();
  } catch (e) {
    note = `ATTACK ERROR ${(e as Error).message}`;
    failures.push(`${name}: ${note}`);
  }
  const good = await done();
  const p = s.probe();
  await sleep(1500);
  const after = s.probe().rssMB;
  const row = `| ${name} | ${((Date.now() - t0) / 1000).toFixed(1)} | ${p.loopMaxMs.toFixed(0)} | ${p.loopP99Ms.toFixed(0)} | ${before.toFixed(0)} / ${p.peakRssMB.toFixed(0)} / ${after.toFixed(0)} | ${good.ok}/${good.total} (p95 ${good.p95} ms) | ${note} |`;
  rows.push(row);
  console.log(row);
  if (good.ok < good.total) failures.push(`${name}: well-behaved client served ${good.ok}/${good.total}`);
  if (p.loopMaxMs > maxLoopMs) failures.push(`${name}: event-loop delay ${p.loopMaxMs.toFixed(0)} ms > ${maxLoopMs}`);
}

function wsOpen(url: string, query: string, headers: Record<string, string> = auth): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/waves/v1/pulse/get_text?' + query, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function flac(seconds: number): Buffer {
  const f = path.join(os.tmpdir(), `cochlea-abuse-${seconds}.flac`);
  if (!fs.existsSync(f)) execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', String(seconds), '-c:a', 'flac', f]);
  return fs.readFileSync(f);
}

async function attacks(): Promise<void> {
  const s = await startServer({ COCHLEA_MAX_INFLIGHT_AUDIO_SECONDS: '7200', COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ words: WORDS }) });
  try {
    console.log('| phase | s | loop max ms | loop p99 ms | RSS MB before / peak / after | good client | result |');
    console.log('|---|---|---|---|---|---|---|');
    await phase(s, 'idle (baseline)', async () => {
      await sleep(3000);
      return '-';
    });
    await phase(s, 'item 1: key as ?token= (batch + WS)', async () => {
      const r = await fetch(`${s.url}/waves/v1/pulse/get_text?language=en&token=${KEY}`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: new Uint8Array(CLIP1) });
      await r.text();
      const ws = await wsOpen(s.url, `token=${KEY}`, {});
      ws.close();
      await sleep(500);
      const leaked = s.log().includes(KEY);
      if (leaked) failures.push('item 1: API key found in the log');
      return `HTTP ${r.status}; key in log: ${leaked}`;
    });
    await phase(s, 'item 2: SSRF via IPv4-embedding IPv6 (6 forms)', async () => {
      const urls = ['http://[::7f00:1]/', 'http://[::127.0.0.1]/', 'http://[::ffff:127.0.0.1]/', 'http://[64:ff9b::7f00:1]/', 'http://[2002:7f00:1::]/', 'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/'];
      const st = await Promise.all(urls.map((u) => fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ url: u }) }).then(async (r) => (await r.text(), r.status))));
      if (st.some((x) => x !== 400)) failures.push(`item 2: statuses ${st}`);
      return `statuses ${st.join(',')}`;
    });
    await phase(s, 'item 3: +json body with a request-line URL', async () => {
      const r = await fetch(`${s.url}/waves/v1/pulse/get_text?url=http://127.0.0.1:1/`, { method: 'POST', headers: { ...auth, 'content-type': 'application/vnd.x+json' }, body: '{}' });
      await r.text();
      if (r.status !== 400) failures.push(`item 3: ${r.status}`);
      return `HTTP ${r.status}`;
    });
    await phase(s, 'item 4: 3 × one 30-min Ogg Opus frame (408 KB)', async () => {
      const bomb = oggOpusSilence(1800);
      const res: string[] = [];
      await Promise.all(
        [0, 1, 2].map(async () => {
          const ws = await wsOpen(s.url, 'encoding=ogg_opus&sample_rate=48000');
          const err = new Promise<string>((r) => {
            ws.on('message', (d) => {
              const e = JSON.parse(String(d));
              if (e.type === 'error') r(String(e.message).slice(0, 60));
            });
            setTimeout(() => r('no error event'), 5000);
          });
          ws.send(bomb);
          res.push(await err);
          ws.terminate();
        }),
      );
      return `error events: ${res[0]}…`;
    });
    await phase(s, 'item 5: 2000 junk frames, replies never read', async () => {
      const ws = await wsOpen(s.url, 'encoding=ogg_opus&sample_rate=48000');
      (ws as unknown as { _socket: net.Socket })._socket.pause();
      for (let i = 0; i < 2000; i++) ws.send(Buffer.alloc(512, 7));
      await sleep(2000);
      const open = ws.readyState === WebSocket.OPEN;
      ws.terminate();
      return `socket still open: ${open} (realtime.ts fix pending)`;
    }, 1e9);
    await phase(s, 'item 8: 4 × 5-h FLAC (2.7 MB each) at once', async () => {
      const b = flac(5 * 3600);
      const r = await Promise.all([0, 1, 2, 3].map(() => batch(s.url, b, 'language=en', { 'content-type': 'audio/flac' })));
      if (r.some((x) => x.status >= 500 && x.status !== 503)) failures.push(`item 8: ${r.map((x) => x.status)}`);
      const errs = [...new Set(r.filter((x) => x.status === 0).map((x) => x.text.slice(0, 60)))];
      return `statuses ${r.map((x) => x.status).join(',')} in ≤ ${Math.max(...r.map((x) => x.ms)).toFixed(0)} ms${errs.length ? ` (0 = client saw: ${errs.join('; ')})` : ''}`;
    });
    await phase(s, 'item 8: 4 × 1-h FLAC at once (budget 2 h)', async () => {
      const b = flac(3600);
      const r = await Promise.all([0, 1, 2, 3].map(() => batch(s.url, b, 'language=en', { 'content-type': 'audio/flac' })));
      return `statuses ${r.map((x) => x.status).join(',')}`;
    }, 1e9);
    await phase(s, 'item 10: 200 idle connections + 20 one-byte trickles', async () => {
      const port = Number(new URL(s.url).port);
      const socks: net.Socket[] = [];
      for (let i = 0; i < 200; i++) socks.push(net.connect(port, '127.0.0.1').on('error', () => {}));
      for (let i = 0; i < 20; i++) {
        const k = net.connect(port, '127.0.0.1').on('error', () => {});
        k.write(`POST /waves/v1/pulse/get_text HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${KEY}\r\ncontent-type: audio/wav\r\ncontent-length: 100000\r\n\r\nR`);
        socks.push(k);
      }
      await sleep(4000);
      const open = socks.filter((k) => !k.destroyed).length;
      for (const k of socks) k.destroy();
      return `${open} of 220 still open after 4 s (closed at the headers/body timeouts)`;
    });
    await phase(s, 'item 13: 200 fuzzed headers/URLs', async () => {
      const NASTY = ['%', '%zz', '%E0%A4%A', '\u00e9', '"', ';', '=', '*', 'a'.repeat(3000)];
      let n5 = 0;
      for (let i = 0; i < 200; i++) {
        const v = NASTY[i % NASTY.length] + NASTY[(i * 7) % NASTY.length];
        const r = await fetch(`${s.url}/waves/v1/pulse/get_text?language=${encodeURIComponent(v)}&keywords=${v.replace(/[^\x21-\x7e]/g, '')}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': i % 3 ? 'audio/wav' : `application/json; x=${v.replace(/[^\x21-\x7e]/g, '')}`, 'content-disposition': `attachment; filename*=UTF-8''${v.replace(/[^\x21-\x7e]/g, '')}` },
          body: i % 3 ? new Uint8Array(CLIP1) : JSON.stringify({ url: `http://127.0.0.1:1/${v.replace(/[^\x21-\x7e]/g, '')}` }),
        }).catch(() => null);
        if (r) {
          await r.text();
          if (r.status >= 500) n5++;
        }
      }
      if (n5) failures.push(`item 13: ${n5} 5xx`);
      return `${n5} 5xx`;
    });
    await phase(s, 'item 15: WS upgrade on / and /health', async () => {
      const res = await Promise.all(['/', '/health'].map((p) => new Promise<string>((r) => {
        const ws = new WebSocket(s.url.replace('http', 'ws') + p);
        ws.once('open', () => (ws.terminate(), r('accepted')));
        ws.once('error', () => r('refused'));
      })));
      if (res.includes('accepted')) failures.push('item 15: upgrade accepted');
      return res.join(', ');
    });
    await phase(s, 'item 11: 3 × 50 sessions opened, fed 2 s, dropped', async () => {
      const pcm = Buffer.from(CLIP10.subarray(44, 44 + 64000));
      for (let r = 0; r < 3; r++) {
        const ws = await Promise.all(Array.from({ length: 50 }, () => wsOpen(s.url, 'encoding=linear16&sample_rate=16000')));
        for (const w of ws) for (let o = 0; o < pcm.length; o += 4096) w.send(pcm.subarray(o, o + 4096));
        await sleep(1500);
        for (const w of ws) w.terminate();
        await sleep(1000);
      }
      return 'RSS after ≈ before means nothing retained';
    }, 1e9);
  } finally {
    await s.stop();
  }
}

async function loadTable(): Promise<void> {
  const s = await startServer({
    COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ words: WORDS, decodeDelayMs: 250 }),
    COCHLEA_MAX_CONNECTIONS_PER_ADDRESS: '512',
  });
  try {
    console.log('\n| N concurrent 10 s requests | wall s | throughput req/s | p50 ms | p95 ms | 200 | 503 | other | wrong transcripts | loop max ms | peak RSS MB |');
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const n of [4, 16, 64, 300]) {
      await s.reset();
      const t0 = performance.now();
      const r = await Promise.all(Array.from({ length: n }, () => batch(s.url, CLIP10)));
      const wall = (performance.now() - t0) / 1000;
      const ok = r.filter((x) => x.status === 200);
      const lat = ok.map((x) => x.ms).sort((a, b) => a - b);
      const wrong = ok.filter((x) => x.json?.transcription !== EXPECT10).length;
      const other = r.filter((x) => x.status !== 200 && x.status !== 503);
      const p = s.probe();
      console.log(`| ${n} | ${wall.toFixed(1)} | ${(ok.length / wall).toFixed(2)} | ${Math.round(lat[Math.floor(lat.length / 2)] ?? 0)} | ${Math.round(lat[Math.floor(lat.length * 0.95)] ?? 0)} | ${ok.length} | ${r.filter((x) => x.status === 503).length} | ${other.length}${other.length ? ' (' + [...new Set(other.map((x) => `${x.status}${x.status ? '' : ': ' + x.text.slice(0, 80)}`))].join('; ') + ')' : ''} | ${wrong} | ${p.loopMaxMs.toFixed(0)} | ${p.peakRssMB.toFixed(0)} |`);
      if (wrong) failures.push(`load N=${n}: ${wrong} wrong transcripts`);
      if (other.some((x) => x.status >= 500)) failures.push(`load N=${n}: 5xx other than 503`);
    }
  } finally {
    await s.stop();
  }
}

const only = process.argv[2];
const deadline = setTimeout(() => {
  console.error('abuse suite: over its 10-minute bound');
  process.exit(2);
}, 10 * 60_000);
deadline.unref();
if (!only || only === 'attacks') await attacks();
if (!only || only === 'load') await loadTable();
if (failures.length) {
  console.error('\nFAILED:\n' + failures.map((f) => '  - ' + f).join('\n'));
  process.exit(1);
}
console.log('\nabuse suite: all fixed items held');
