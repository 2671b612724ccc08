/**
 * Real-time capacity sweep (issue 16): 1, 2, 4, 6, 8 concurrent paced WebSocket streams started at
 * staggered times, each playing held-out LibriSpeech and LJSpeech clips back to back at real time
 * (4096-byte linear16 frames, each sent when its last sample would have been captured), with a
 * `finalize` at the end of each clip's speech (a voice agent's turn end) and `close_stream` at the end.
 *
 * Per level and configuration:
 * - lag, as issue 16 defines it: audio sent so far minus the end time of the newest word, taken each
 *   time a partial adds a word later than any before; p50/p95/max pooled, and the p95 of the worst
 *   stream; drift = median lag of each stream's last third minus its first third (growing lag = a
 *   stream falling behind);
 * - first partial after speech onset (onset = the first word of the batch transcript);
 * - finalize → final (all, including a session's first seconds) and close_stream → is_last;
 * - CPU per stream: process CPU (server main thread + engine workers + this client, all in this
 *   process) per second of streamed audio. Far less sensitive to other load on the machine than
 *   wall-clock latencies, and the figure capacity follows from: streams per core ≈ 1 / CPU per
 *   audio second.
 * The engine's batch throughput is measured in the same run (the same clips through
 * engine.recognize, one at a time), as wall RTFx and CPU RTFx (audio seconds per CPU second).
 * Memory: on a fresh server, RSS growth per session with 16 sessions open that have each received
 * 3 s of audio (all 16 in speech at once: each holds a decoder), then the allocator's in-use bytes
 * per session with 16 sessions taking turns (3 s of speech, 3 s listening, turns spread evenly):
 * sessions hand their decoder back between turns (`streamReleaseDecoders`).
 *
 * A/B: `--capacity-ab '{"A":{...},"B":{...}}'` (COCHLEA_POCKETSPHINX_CONFIG objects) runs one
 * server per configuration and interleaves them level by level (A, B, A, B...) on the same clips,
 * so both see the same machine load; `"vad": false` runs that server without Silero VAD (the test
 * server otherwise uses it when ../shared has it); `"codeRoot": "<dir>"` in a configuration runs that server from
 * another checkout of the repo (before/after a code change in one run). Default: the server's
 * default configuration only.
 * Duration per stream: `--capacity-seconds N` (default 30; `--capacity-minutes 5` for the
 * issue's top setting). `--capacity-levels 1,2,4` overrides the levels; `--capacity-clips N` how
 * many clips (LibriSpeech first, then LJSpeech; default 10) are decoded in batch and streamed.
 * `--capacity-turns 3:3,2:4` the speech:listening cycles of the turn-taking memory runs (`none` skips
 * them), `--capacity-turn-seconds N` their length (default 60).
 *
 *   nice -n 10 npx tsx bench/run.ts --only capacity -- --capacity-seconds 30
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { BPS, CHUNK, f32, median, percentile, sharedAvailable, type BenchContext, type BenchSection, type StreamClip } from './lib.ts';
import { startTestServer, type TestServer } from '../test/helpers/server.ts';
import { lcgNoise } from '../test/engines/helpers.ts';
import { wavPcmBytes } from '../test/helpers/ws.ts';
import { nativeHeapInUse } from '../src/util/native-heap.ts';
import type { WorkerPool } from '../src/engines/pool.ts';

type Clip = StreamClip;

function arg(name: string): string | undefined {
  const a = process.argv;
  const i = a.findIndex((x) => x === name || x.startsWith(name + '='));
  if (i < 0) return undefined;
  return a[i].includes('=') ? a[i].slice(a[i].indexOf('=') + 1) : a[i + 1];
}

function readClips(ctx: BenchContext): { id: string; pcm: Buffer }[] {
  const out: { id: string; pcm: Buffer }[] = [];
  for (const set of ['en_librispeech', 'en_ljspeech']) {
    const dir = path.join(ctx.sharedDir, 'speech', set);
    for (const l of fs.readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const o = JSON.parse(l);
      out.push({ id: `${set}/${o.id}`, pcm: wavPcmBytes(path.join(dir, o.audio)) });
    }
  }
  return out;
}

interface StreamStats {
  /** [audio sent (s), lag (s)] each time a partial added a word later than any before. */
  lags: [number, number][];
  firstPartial?: number;
  finalizeRtts: number[];
  closeToLast?: number;
  audioSeconds: number;
}

/** A live session on the legacy Pulse path (English), open. */
async function openStream(s: TestServer): Promise<WebSocket> {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text?language=en`, { headers: { authorization: `Bearer ${s.key}` } });
  await new Promise<void>((r, j) => (ws.once('open', () => r()), ws.once('error', j)));
  return ws;
}

/** Send close_stream and wait until the server has closed the socket. */
function closeStream(ws: WebSocket): Promise<void> {
  return new Promise<void>((r) => {
    ws.on('close', () => r());
    ws.send('{"type":"close_stream"}');
  });
}

/** One paced stream: `clips` back to back until `seconds` of audio, finalize at each clip's speech end. */
async function stream(s: TestServer, clips: Clip[], seconds: number): Promise<StreamStats> {
  const ws = await openStream(s);
  const st: StreamStats = { lags: [], finalizeRtts: [], audioSeconds: 0 };
  // The audio plan: clips back to back, finalize when each clip's speech ends.
  const parts: Buffer[] = [];
  const finalizeAt: number[] = [];
  let onset = -1;
  let total = 0;
  for (let i = 0; total < seconds; i++) {
    const c = clips[i % clips.length];
    if (onset < 0) onset = c.speechStart;
    finalizeAt.push(total + c.speechEnd);
    parts.push(c.pcm);
    total += c.duration;
  }
  const audio = Buffer.concat(parts);
  st.audioSeconds = audio.length / BPS;
  let sentBytes = 0;
  let newest = -Infinity;
  let finalizeSent = -1;
  let closeSent = -1;
  const t0 = performance.now();
  const done = new Promise<void>((resolve) => {
    ws.on('message', (d) => {
      const now = performance.now();
      const e = JSON.parse(String(d));
      if (e.type !== 'transcription') return;
      const words = (e.words ?? []) as { end: number }[];
      const sent = sentBytes / BPS;
      // Interim events carry no words (pulse-spec §3.1); their `end` is the end of the newest word.
      if (!e.is_final && (words.length > 0 || e.transcript)) {
        if (st.firstPartial === undefined) st.firstPartial = (now - t0) / 1000 - onset;
        const end = words.length ? words[words.length - 1].end : (e.end as number);
        if (end > newest) {
          newest = end;
          st.lags.push([sent, sent - end]);
        }
      }
      if (e.is_final && e.from_finalize && finalizeSent >= 0) {
        st.finalizeRtts.push(now - finalizeSent);
        finalizeSent = -1;
      }
      if (e.is_last) {
        if (closeSent >= 0) st.closeToLast = now - closeSent;
        resolve();
      }
    });
    ws.on('close', () => resolve());
  });
  let fi = 0;
  for (let off = 0; off < audio.length; off += CHUNK) {
    const chunk = audio.subarray(off, off + CHUNK);
    const due = t0 + ((off + chunk.length) / BPS) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    ws.send(chunk);
    sentBytes = off + chunk.length;
    if (fi < finalizeAt.length && sentBytes / BPS >= finalizeAt[fi]) {
      fi++;
      if (finalizeSent < 0) {
        finalizeSent = performance.now();
        ws.send('{"type":"finalize"}');
      }
    }
  }
  closeSent = performance.now();
  ws.send('{"type":"close_stream"}');
  await done;
  ws.close();
  return st;
}

interface LevelResult {
  config: string;
  n: number;
  lags: number[];
  worstStreamP95: number;
  drift: number;
  firstPartials: number[];
  finalizeRtts: number[];
  closeToLast: number[];
  cpuPerAudioSecond: number;
}

async function level(s: TestServer, config: string, n: number, clips: Clip[], seconds: number, stagger: number): Promise<LevelResult> {
  const cpu0 = process.cpuUsage();
  const runs = Array.from({ length: n }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * stagger * 1000));
    // Each stream starts at a different clip, so streams are not in lockstep.
    return stream(s, [...clips.slice(i % clips.length), ...clips.slice(0, i % clips.length)], seconds);
  });
  const res = await Promise.all(runs);
  const cpu = process.cpuUsage(cpu0);
  const audio = res.reduce((a, r) => a + r.audioSeconds, 0);
  const third = (r: StreamStats, k: number) => {
    const xs = r.lags.filter(([t]) => t >= (k * r.audioSeconds) / 3 && t < ((k + 1) * r.audioSeconds) / 3).map(([, l]) => l);
    return median(xs);
  };
  const drifts = res.map((r) => third(r, 2) - third(r, 0)).filter((x) => Number.isFinite(x));
  return {
    config,
    n,
    lags: res.flatMap((r) => r.lags.map(([, l]) => l)),
    worstStreamP95: Math.max(...res.map((r) => percentile(r.lags.map(([, l]) => l), 95))),
    drift: drifts.length ? Math.max(...drifts) : NaN,
    firstPartials: res.map((r) => r.firstPartial).filter((x): x is number => x !== undefined),
    finalizeRtts: res.flatMap((r) => r.finalizeRtts),
    closeToLast: res.map((r) => r.closeToLast).filter((x): x is number => x !== undefined),
    cpuPerAudioSecond: (cpu.user + cpu.system) / 1e6 / audio,
  };
}

/**
 * Per session with `n` sessions open that have each received 3 s of audio (all of it decoded): process
 * RSS growth, and growth of the C allocator's in-use bytes.
 */
async function memoryPerSession(s: TestServer, clip: Clip, n: number): Promise<{ rss: number; heap: number }> {
  const base = process.memoryUsage().rss;
  const heap0 = nativeHeapInUse() ?? NaN;
  const socks = await Promise.all(
    Array.from({ length: n }, async () => {
      return openStream(s);
    }),
  );
  // 16 × 3 s sent at once is ~48 s of audio for two workers: measure once it has all been decoded,
  // i.e. when no session has had an event for 2 s (at least 4 s, at most 60 s), not mid-burst.
  let last = performance.now();
  for (const ws of socks) ws.on('message', () => (last = performance.now()));
  for (const ws of socks) for (let off = 0; off < 3 * BPS; off += CHUNK) ws.send(clip.pcm.subarray(off, Math.min(off + CHUNK, 3 * BPS)));
  const t0 = performance.now();
  while (performance.now() - t0 < 60_000 && (performance.now() - t0 < 4000 || performance.now() - last < 2000)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const rss = process.memoryUsage().rss;
  const heap = nativeHeapInUse() ?? NaN;
  await Promise.all(socks.map(closeStream));
  return { rss: (rss - base) / n, heap: (heap - heap0) / n };
}

/**
 * Per session with `n` sessions open that take turns as callers do: each plays `speech` seconds of
 * the clip, then listens (sends `listen` seconds of -60 dBFS noise), paced at real time, the
 * sessions' turns spread evenly over the cycle (speech / (speech + listen) of them speaking at any moment). Allocator
 * in-use bytes sampled every 0.5 s over the last half of `seconds`: median and max growth, per session.
 */
async function memoryTakingTurns(
  s: TestServer,
  clip: Clip,
  n: number,
  speech: number,
  listen: number,
  seconds: number,
): Promise<{ median: number; max: number; decoders: string }> {
  const heap0 = nativeHeapInUse() ?? NaN;
  const cycle = speech + listen;
  const bed = Int16Array.from(lcgNoise(Math.round(listen * 16000), 0.001), (v) => Math.round(v * 32768));
  const speechBytes = clip.pcm.subarray(0, Math.min(clip.pcm.length, Math.round(speech * BPS)));
  const listenBytes = new Uint8Array(bed.buffer);
  const samples: number[] = [];
  const t0 = performance.now();
  const live: number[] = [];
  const idle: number[] = [];
  const sampler = setInterval(() => {
    const t = performance.now() - t0;
    if (t < (seconds / 2) * 1000 || t > seconds * 1000) return; // not while the sessions close
    samples.push(((nativeHeapInUse() ?? NaN) - heap0) / n);
    const pool = (s.server.engine as { pool?: WorkerPool }).pool;
    void pool
      ?.stats()
      .then((ws) => {
        live.push(ws.reduce((a, w) => a + (w.backend?.live ?? 0), 0) / ws.length);
        idle.push(ws.reduce((a, w) => a + (w.backend?.idle ?? 0), 0) / ws.length);
      })
      .catch(() => {});
  }, 500);
  try {
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const ws = await openStream(s);
        ws.on('message', () => {});
        // Session i starts listening for a fraction of the cycle, so turns are spread out.
        let lead = Math.round((i / n) * cycle * 16000) * 2;
        const start = performance.now();
        let sent = 0;
        const send = async (buf: Uint8Array) => {
          for (let off = 0; off < buf.length; off += CHUNK) {
            const part = buf.subarray(off, Math.min(off + CHUNK, buf.length));
            sent += part.length;
            const due = start + (sent / BPS) * 1000;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            ws.send(part);
          }
        };
        while (lead > 0) {
          const part = listenBytes.subarray(0, Math.min(lead, listenBytes.length));
          await send(part);
          lead -= part.length;
        }
        while (performance.now() - t0 < seconds * 1000) {
          await send(speechBytes);
          await send(listenBytes);
        }
        await closeStream(ws);
      }),
    );
  } finally {
    clearInterval(sampler);
  }
  return { median: median(samples), max: Math.max(...samples), decoders: `${r1(median(live))}/${r1(median(idle))}` };
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * A server for one configuration. `codeRoot`: run it from another checkout of the repo (e.g. the
 * commit before a change, extracted with `git archive` and its node_modules linked), in this process.
 */
async function startConfig(c: object | null): Promise<TestServer> {
  const { codeRoot, vad, ...cfg } = (c ?? {}) as { codeRoot?: string; vad?: boolean };
  const start = codeRoot
    ? ((await import(path.resolve(codeRoot, 'test/helpers/server.ts'))) as { startTestServer: typeof startTestServer }).startTestServer
    : startTestServer;
  return start({
    COCHLEA_MAX_SESSIONS: '64',
    // The test server uses Silero VAD when ../shared has it; `"vad": false` runs without (the product's default).
    ...(vad === false ? { COCHLEA_VAD_MODEL: '' } : {}),
    ...(Object.keys(cfg).length ? { COCHLEA_POCKETSPHINX_CONFIG: JSON.stringify(cfg) } : {}),
  });
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  if (!sharedAvailable(ctx)) return { name: 'capacity', metrics: { skipped: 'no ../shared speech' } };
  const minutes = arg('--capacity-minutes');
  const seconds = minutes ? Number(minutes) * 60 : Number(arg('--capacity-seconds') ?? (ctx.quick ? 15 : 30));
  const levels = (arg('--capacity-levels') ?? '1,2,4,6,8').split(',').map(Number);
  const ab = arg('--capacity-ab');
  const configs: Record<string, object | null> = ab ? (JSON.parse(ab) as Record<string, object>) : { default: null };
  const stagger = Number(arg('--capacity-stagger') ?? 1.3);

  const servers = new Map<string, TestServer>();
  try {
    for (const [name, c] of Object.entries(configs)) servers.set(name, await startConfig(c));
    const first = servers.values().next().value!;
    // Batch throughput of the engine in this run, and speech onsets/ends for the clips.
    const raw = readClips(ctx).slice(0, Number(arg('--capacity-clips') ?? 10));
    const clips: Clip[] = [];
    let audio = 0;
    let wall = 0;
    const cpu0 = process.cpuUsage();
    for (const c of raw) {
      const pcm = f32(c.pcm);
      const t = performance.now();
      const r = await first.server.engine.recognize(pcm);
      wall += (performance.now() - t) / 1000;
      audio += pcm.length / 16000;
      if (!r.words.length) continue;
      clips.push({ id: c.id, pcm: c.pcm, duration: c.pcm.length / BPS, speechStart: r.words[0].start, speechEnd: r.words[r.words.length - 1].end });
    }
    const cpu = process.cpuUsage(cpu0);
    const batchRtfx = audio / wall;
    const batchCpuRtfx = audio / ((cpu.user + cpu.system) / 1e6);
    ctx.log(`capacity: batch ${audio.toFixed(0)} s of audio at ${batchRtfx.toFixed(2)}× real time (wall), ${batchCpuRtfx.toFixed(2)}× per CPU second`);

    const results: LevelResult[] = [];
    for (const n of levels) {
      for (const [name, s] of servers) {
        ctx.log(`capacity: ${name}, ${n} streams × ${seconds} s`);
        const r = await level(s, name, n, clips, seconds, stagger);
        results.push(r);
        ctx.log(
          `capacity: ${name} n=${n} lag p50 ${r1(median(r.lags) * 1000)} p95 ${r1(percentile(r.lags, 95) * 1000)} max ${r1(Math.max(...r.lags) * 1000)} ms; ` +
            `first partial ${r1(median(r.firstPartials) * 1000)} ms; finalize p95 ${r1(percentile(r.finalizeRtts, 95))} ms; close→last max ${r1(Math.max(...r.closeToLast))} ms; CPU ${r3(r.cpuPerAudioSecond)} s per audio s`,
        );
      }
    }
    // Memory on a fresh server per configuration (the sweep's servers hold pooled decoders that
    // new sessions would reuse): RSS growth with 16 sessions open, divided by 16.
    const mem: Record<string, { rss: number; heap: number }> = {};
    const turns: Record<string, Record<string, { median: number; max: number; decoders: string }>> = {};
    const turnSeconds = Number(arg('--capacity-turn-seconds') ?? 60);
    // Speech:listening seconds per turn cycle, e.g. "3:3,2:4".
    const turnArg = arg('--capacity-turns') ?? '3:3,2:4';
    const turnCycles = turnArg === 'none' ? [] : turnArg.split(',').map((c) => c.split(':').map(Number) as [number, number]);
    for (const [name, c] of Object.entries(configs)) {
      const old = servers.get(name);
      servers.delete(name);
      await old?.close();
      const fresh = await startConfig(c);
      servers.set(name, fresh);
      await new Promise((r) => setTimeout(r, 1000));
      mem[name] = await memoryPerSession(fresh, clips[0], 16);
      servers.delete(name);
      await fresh.close();
      for (const [speech, listen] of turnCycles) {
        const key = `${speech}:${listen}`;
        ctx.log(`capacity: ${name} memory, 16 sessions open taking turns (${speech} s speech, ${listen} s listening) for ${turnSeconds} s`);
        // Each on a fresh server, so nothing of an earlier run is still held or being freed.
        const fresh2 = await startConfig(c);
        servers.set(name, fresh2);
        await new Promise((r) => setTimeout(r, 1000));
        const t = await memoryTakingTurns(fresh2, clips[0], 16, speech, listen, turnSeconds);
        servers.delete(name);
        await fresh2.close();
        (turns[name] ??= {})[key] = t;
        ctx.log(
          `capacity: ${name} taking turns ${key}: ${r1(t.median / 2 ** 20)} MB in use per session (median; max ${r1(t.max / 2 ** 20)}), ` +
            `decoders per worker live/idle (median) ${t.decoders}`,
        );
      }
    }

    const cores = 2;
    const metrics: Record<string, number | string> = {
      stream_seconds: seconds,
      batch_rtfx_wall: r3(batchRtfx),
      batch_rtfx_cpu: r3(batchCpuRtfx),
    };
    for (const name of Object.keys(configs)) {
      const mine = results.filter((r) => r.config === name);
      const ok = mine.filter((r) => percentile(r.lags, 95) <= 1.0 && !(r.drift > 0.5));
      const cap = ok.length ? Math.max(...ok.map((r) => r.n)) : 0;
      const cpuPerStream = median(mine.map((r) => r.cpuPerAudioSecond));
      metrics[`${name}_streams_lag_p95_le_1s`] = cap;
      metrics[`${name}_capacity_fraction_of_engine`] = r3(cap / (cores * batchRtfx));
      metrics[`${name}_cpu_s_per_stream_audio_s_median`] = r3(cpuPerStream);
      metrics[`${name}_streams_per_core_by_cpu`] = r1(1 / cpuPerStream);
      metrics[`${name}_rss_mb_per_session_16_open`] = r1(mem[name].rss / 2 ** 20);
      metrics[`${name}_native_heap_mb_per_session_16_open`] = r1(mem[name].heap / 2 ** 20);
      for (const [key, t] of Object.entries(turns[name] ?? {})) {
        const k = key.replace(':', '_');
        metrics[`${name}_native_heap_mb_per_session_16_turns_${k}_median`] = r1(t.median / 2 ** 20);
        metrics[`${name}_native_heap_mb_per_session_16_turns_${k}_max`] = r1(t.max / 2 ** 20);
        metrics[`${name}_decoders_per_worker_live_idle_16_turns_${k}`] = t.decoders;
      }
    }
    return {
      name: 'capacity',
      metrics,
      tables: [
        {
          title: `Capacity sweep: paced streams (${seconds} s each, started ${stagger} s apart)`,
          columns: ['config', 'streams', 'lag p50 ms', 'lag p95 ms', 'lag max ms', 'worst stream p95 ms', 'drift ms', 'first partial ms (median)', 'finalize→final p50 ms', 'finalize→final p95 ms', 'close→is_last max ms', 'CPU s per audio s'],
          rows: results.map((r) => [
            r.config,
            r.n,
            r1(median(r.lags) * 1000),
            r1(percentile(r.lags, 95) * 1000),
            r1(Math.max(...r.lags) * 1000),
            r1(r.worstStreamP95 * 1000),
            r1(r.drift * 1000),
            r1(median(r.firstPartials) * 1000),
            r1(percentile(r.finalizeRtts, 50)),
            r1(percentile(r.finalizeRtts, 95)),
            r1(Math.max(...r.closeToLast)),
            r3(r.cpuPerAudioSecond),
          ]),
        },
      ],
      notes: [
        'Lag (issue 16): audio sent so far − end of the newest word, sampled when a partial adds a word later than any before. Drift: the worst stream’s median lag over its last third minus its first third.',
        'CPU per audio second is the whole process (server, engine workers and this client) over the level, divided by the audio streamed; it is far less affected by other load on the machine than the latencies.',
        'Capacity = the largest level with pooled lag p95 ≤ 1 s and drift ≤ 0.5 s; as a fraction of the engine = streams ÷ (2 cores × batch wall RTFx).',
        'Memory per session: on a fresh server (one warm decoder per worker), growth with 16 sessions open that each received 3 s of audio (read once all of it was decoded), divided by 16: process RSS, and the C allocator’s in-use bytes (glibc mallinfo2; RSS also counts freed memory glibc keeps). Taking turns (turns_S_L): 16 sessions each playing S s of the clip then L s of -60 dBFS noise (listening), paced, turns spread evenly over the cycle; on another fresh server; in-use bytes sampled every 0.5 s over the second half of the run, median and max per session.',
      ],
    };
  } finally {
    for (const s of servers.values()) await s.close();
  }
}
