/**
 * Real-time path, paced at real time over WebSocket, compared with the same engine driven
 * directly (same process, same worker pool) so what the server adds is visible:
 *
 * - time to first partial after speech onset (onset = first word start of the batch transcript)
 * - transcript lag: audio sent so far minus the end of the last word in the latest event, p50/p95
 * - end of turn: speech end → final, with `finalize` sent at speech end, and with automatic
 *   endpointing (trailing silence streamed; eou_timeout_ms as configured)
 * - finalize round trip (finalize sent → from_finalize final), engine vs WebSocket, p50/p95
 * - what the server adds to each event, paired event by event against the engine driven directly
 * - concurrent paced streams this machine holds with p95 lag under 500 ms
 * - memory per live session
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { BPS, CHUNK, f32, median, percentile, sharedAvailable, type BenchContext, type BenchSection, type StreamClip } from './lib.ts';
import { startTestServer, type TestServer } from '../test/helpers/server.ts';
import { wavPcmBytes } from '../test/helpers/ws.ts';
import type { Engine, SpeechEvent } from '../src/engines/types.ts';

type Clip = StreamClip;

async function loadClips(ctx: BenchContext, engine: Engine, n: number): Promise<Clip[]> {
  const dir = path.join(ctx.sharedDir, 'speech', 'en_librispeech');
  const lines = fs.readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, n);
  const out: Clip[] = [];
  for (const l of lines) {
    const o = JSON.parse(l);
    const pcm = wavPcmBytes(path.join(dir, o.audio));
    const r = await engine.recognize(f32(pcm));
    if (!r.words.length) continue;
    out.push({ id: o.id, pcm, duration: pcm.length / BPS, speechStart: r.words[0].start, speechEnd: r.words[r.words.length - 1].end });
  }
  return out;
}

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));

interface StreamResult {
  firstPartialAfterOnset?: number;
  lags: number[];
  endOfTurn?: number;
  finalizeRtts: number[];
  /** Session audio (s) when each answered finalize was sent. */
  finalizeAges: number[];
  /** Every transcription event: a key unique within the run (kind, text, occurrence) and its arrival (ms after t0). */
  events: { key: string; final: boolean; at: number }[];
}

/**
 * `finalize`: one finalize when the speech ends; `auto`: none (endpointing only);
 * `finalize-random`: a finalize every 1–3 s (seeded, so the WebSocket and engine runs of a clip
 * send theirs at the same audio positions), to sample finalize latency all over a session.
 */
type Mode = 'finalize' | 'auto' | 'finalize-random';

/** Deterministic uniform [0, 1) sequence. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (x * 1103515245 + 12345) >>> 0) & 0x7fffffff) / 0x80000000;
}

/** One paced stream through a driver (WebSocket or direct engine). */
async function paced(
  clip: Clip,
  mode: Mode,
  driver: {
    send(chunk: Buffer): void;
    finalize(): void;
    end(): void;
    onEvent(cb: (e: { kind: 'partial' | 'final' | 'last'; text: string; fromFinalize: boolean; lastWordEnd?: number }) => void): void;
    done: Promise<void>;
  },
  seed = 1,
): Promise<StreamResult> {
  const res: StreamResult = { lags: [], finalizeRtts: [], finalizeAges: [], events: [] };
  const t0 = performance.now();
  let finalizeSentAt = -1;
  let finalizeAge = 0;
  let speechEndWall = -1;
  const seen = new Map<string, number>();
  driver.onEvent((e) => {
    const now = performance.now();
    const k = `${e.kind}|${e.text}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
    res.events.push({ key: `${k}|${seen.get(k)}`, final: e.kind !== 'partial', at: now - t0 });
    const sent = Math.min(clip.duration + 3, (now - t0) / 1000);
    if (e.lastWordEnd !== undefined) res.lags.push(Math.max(0, sent - e.lastWordEnd));
    if (e.kind === 'partial' && res.firstPartialAfterOnset === undefined) res.firstPartialAfterOnset = (now - t0) / 1000 - clip.speechStart;
    if (e.kind !== 'partial' && e.fromFinalize && finalizeSentAt >= 0) {
      res.finalizeRtts.push(now - finalizeSentAt);
      res.finalizeAges.push(finalizeAge);
      finalizeSentAt = -1;
    }
    if (res.endOfTurn === undefined && speechEndWall >= 0 && e.kind !== 'partial' && e.lastWordEnd !== undefined && e.lastWordEnd >= clip.speechEnd - 0.3) {
      res.endOfTurn = (now - speechEndWall) / 1000;
    }
  });
  // Audio, then 2 s of silence so automatic endpointing can fire.
  const audio = Buffer.concat([clip.pcm, Buffer.alloc(2 * BPS)]);
  const rand = rng(seed);
  let nextFinalizeAt = 1 + 2 * rand();
  for (let off = 0; off < audio.length; off += CHUNK) {
    const chunk = audio.subarray(off, off + CHUNK);
    // A live client sends a frame once it has been captured, i.e. when its last sample exists.
    await sleepUntil(t0 + ((off + chunk.length) / BPS) * 1000);
    driver.send(chunk);
    const sentS = (off + chunk.length) / BPS;
    if (speechEndWall < 0 && sentS >= clip.speechEnd) {
      speechEndWall = t0 + clip.speechEnd * 1000;
      if (mode === 'finalize') {
        finalizeSentAt = performance.now();
        finalizeAge = sentS;
        driver.finalize();
      }
    }
    if (mode === 'finalize-random' && sentS >= nextFinalizeAt && finalizeSentAt < 0) {
      nextFinalizeAt = sentS + 1 + 2 * rand();
      finalizeSentAt = performance.now();
      finalizeAge = sentS;
      driver.finalize();
    }
  }
  driver.end();
  await driver.done;
  return res;
}

function wsDriver(s: TestServer, query: string) {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text?${query}`, { headers: { authorization: `Bearer ${s.key}` } });
  const opened = new Promise<void>((r, j) => (ws.once('open', () => r()), ws.once('error', j)));
  let cb: Parameters<Parameters<typeof paced>[2]['onEvent']>[0] = () => {};
  const done = new Promise<void>((r) => ws.on('close', () => r()));
  ws.on('message', (d) => {
    const e = JSON.parse(String(d));
    if (e.type !== 'transcription') return;
    const words = e.words as { end: number }[] | undefined;
    cb({ kind: e.is_last ? 'last' : e.is_final ? 'final' : 'partial', text: String(e.transcript ?? ''), fromFinalize: !!e.from_finalize, lastWordEnd: words?.length ? words[words.length - 1].end : undefined });
  });
  return {
    opened,
    driver: {
      send: (c: Buffer) => ws.send(c),
      finalize: () => ws.send('{"type":"finalize"}'),
      end: () => ws.send('{"type":"close_stream"}'),
      onEvent: (f: typeof cb) => (cb = f),
      done,
    },
  };
}

function engineDriver(engine: Engine) {
  const st = engine.stream({ language: 'en' });
  let cb: Parameters<Parameters<typeof paced>[2]['onEvent']>[0] = () => {};
  const done = (async () => {
    for await (const e of st as AsyncIterable<SpeechEvent>) {
      if (e.type !== 'partial' && e.type !== 'final') continue;
      const last = e.words.length ? e.words[e.words.length - 1].end : undefined;
      cb({ kind: e.type === 'final' ? (e.isLast ? 'last' : 'final') : 'partial', text: e.text, fromFinalize: e.type === 'final' && e.fromFinalize, lastWordEnd: last });
      if (e.type === 'final' && e.isLast) break;
    }
  })();
  return {
    send: (c: Buffer) => st.pushAudio(f32(c)),
    finalize: () => st.finalize(),
    end: () => st.end(),
    onEvent: (f: typeof cb) => (cb = f),
    done,
  };
}

const ms = (x: number) => Math.round(x * 10) / 10;
const ms3 = (x: number) => Math.round(x * 1000) / 1000;

export async function run(ctx: BenchContext): Promise<BenchSection> {
  if (!sharedAvailable(ctx)) return { name: 'streaming', metrics: { skipped: 'no ../shared speech' } };
  const s = await startTestServer({ COCHLEA_MAX_SESSIONS: '256' });
  try {
    const engine = s.server.engine;
    const clips = await loadClips(ctx, engine, ctx.quick ? 2 : 4);
    const timings = s.server.app.liveSessions.timings;
    timings.clear();
    const single = { ws: [] as StreamResult[], eng: [] as StreamResult[], wsAuto: [] as StreamResult[], wsRtt: [] as StreamResult[], engRtt: [] as StreamResult[] };
    for (const [i, c] of clips.entries()) {
      ctx.log(`streaming: ${c.id}`);
      const a = wsDriver(s, 'language=en');
      await a.opened;
      single.ws.push(await paced(c, 'finalize', a.driver));
      single.eng.push(await paced(c, 'finalize', engineDriver(engine)));
      const b = wsDriver(s, 'language=en');
      await b.opened;
      single.wsAuto.push(await paced(c, 'auto', b.driver));
      const r = wsDriver(s, 'language=en');
      await r.opened;
      single.wsRtt.push(await paced(c, 'finalize-random', r.driver, i + 1));
      single.engRtt.push(await paced(c, 'finalize-random', engineDriver(engine), i + 1));
    }
    // The server's own share, measured inside it over the single-stream runs (see RealtimeTimings).
    const ingress = timings.ingress;
    const egress = timings.egress;
    const all = (xs: StreamResult[], k: 'lags' | 'finalizeRtts') => xs.flatMap((x) => x[k]);
    const firsts = (xs: StreamResult[]) => xs.map((x) => x.firstPartialAfterOnset).filter((x): x is number => x !== undefined);
    const eot = (xs: StreamResult[]) => xs.map((x) => x.endOfTurn).filter((x): x is number => x !== undefined);
    const wsLag = all(single.ws, 'lags');
    const engLag = all(single.eng, 'lags');
    const wsRtt = [...all(single.ws, 'finalizeRtts'), ...all(single.wsRtt, 'finalizeRtts')];
    const engRtt = [...all(single.eng, 'finalizeRtts'), ...all(single.engRtt, 'finalizeRtts')];
    // Finalizes sent once a session is past its first 3 s (pocketsphinx holds the first second
    // for its CMN estimate and decodes the segment again at 2 s: a one-off per session).
    const settled = (xs: StreamResult[]) => xs.flatMap((x) => x.finalizeRtts.filter((_, j) => x.finalizeAges[j] >= 3));
    const wsRttSettled = [...settled(single.ws), ...settled(single.wsRtt)];
    // What the server adds, paired: the same event (kind, text, occurrence) of the same clip paced
    // the same way, arrival over WebSocket minus arrival from the engine directly.
    const paired = (final: boolean) =>
      [
        [single.ws, single.eng],
        [single.wsRtt, single.engRtt],
      ].flatMap(([wsRuns, engRuns]) =>
        wsRuns.flatMap((w, k) => {
          const eng = new Map(engRuns[k].events.map((e) => [e.key, e.at]));
          return w.events.filter((e) => !final || e.final).flatMap((e) => (eng.has(e.key) ? [e.at - eng.get(e.key)!] : []));
        }),
      );
    const addAll = paired(false);
    const addFinals = paired(true);

    // Capacity: N paced streams at once; the largest N whose p95 lag stays under 500 ms.
    const capRows: (string | number)[][] = [];
    let capacity = 0;
    const levels = ctx.quick ? [1, 2, 4, 8] : [1, 2, 4, 8, 12, 16, 24, 32, 48];
    const rssBefore = process.memoryUsage().rss;
    let perSession = NaN;
    for (const n of levels) {
      const drivers = Array.from({ length: n }, () => wsDriver(s, 'language=en'));
      await Promise.all(drivers.map((d) => d.opened));
      const rssOpen = process.memoryUsage().rss;
      const results = await Promise.all(drivers.map((d, i) => paced(clips[i % clips.length], 'auto', d.driver)));
      const lags = results.flatMap((r) => r.lags);
      const p95 = percentile(lags, 95);
      if (n >= 8 && Number.isNaN(perSession)) perSession = (rssOpen - rssBefore) / n;
      capRows.push([n, ms(median(lags) * 1000), ms(p95 * 1000), ms(percentile(lags, 99) * 1000)]);
      ctx.log(`capacity: ${n} streams p95 lag ${(p95 * 1000).toFixed(0)} ms`);
      if (p95 < 0.5) capacity = n;
      else break;
    }
    // Memory per session: open 20 sessions that each received 5 s of audio, compare RSS.
    const base = process.memoryUsage().rss;
    const held = Array.from({ length: 20 }, () => wsDriver(s, 'language=en'));
    await Promise.all(held.map((d) => d.opened));
    for (const d of held) d.driver.send(clips[0].pcm.subarray(0, 5 * BPS));
    await new Promise((r) => setTimeout(r, 3000));
    const memPerSession = (process.memoryUsage().rss - base) / 20;
    for (const d of held) d.driver.end();
    await Promise.all(held.map((d) => d.driver.done));

    return {
      name: 'streaming',
      metrics: {
        clips: clips.length,
        first_partial_after_onset_ms_median: ms(median(firsts(single.ws)) * 1000),
        lag_p50_ms_ws: ms(percentile(wsLag, 50) * 1000),
        lag_p95_ms_ws: ms(percentile(wsLag, 95) * 1000),
        lag_p50_ms_engine: ms(percentile(engLag, 50) * 1000),
        lag_p95_ms_engine: ms(percentile(engLag, 95) * 1000),
        end_of_turn_with_finalize_ms_median: ms(median(eot(single.ws)) * 1000),
        end_of_turn_auto_endpointing_ms_median: ms(median(eot(single.wsAuto)) * 1000),
        eou_timeout_ms: 800,
        finalize_rtt_p50_ms_ws: ms(percentile(wsRtt, 50)),
        finalize_rtt_p95_ms_ws: ms(percentile(wsRtt, 95)),
        finalize_rtt_p50_ms_engine: ms(percentile(engRtt, 50)),
        finalize_rtt_p95_ms_engine: ms(percentile(engRtt, 95)),
        finalize_rtt_p95_ms_ws_after_first_3s: ms(percentile(wsRttSettled, 95)),
        finalize_rtt_max_ms_ws: ms(Math.max(...wsRtt)),
        finalize_samples: wsRtt.length,
        server_added_ms_p50_paired: ms(percentile(addAll, 50)),
        server_added_ms_p95_paired: ms(percentile(addAll, 95)),
        server_added_ms_p95_paired_finals: ms(percentile(addFinals, 95)),
        paired_events: addAll.length,
        server_ingress_ms_p50: ms3(percentile(ingress, 50)),
        server_ingress_ms_p95: ms3(percentile(ingress, 95)),
        server_egress_ms_p50: ms3(percentile(egress, 50)),
        server_egress_ms_p95: ms3(percentile(egress, 95)),
        server_added_ms_p95_measured: ms3(percentile(ingress, 95) + percentile(egress, 95)),
        max_realtime_streams_p95_lag_under_500ms: capacity,
        rss_per_session_mb: ms(memPerSession / 2 ** 20),
        rss_per_open_session_mb_capacity_run: ms(perSession / 2 ** 20),
        targets: 'server adds < 15 ms p95; finalize → final < 100 ms p95',
      },
      tables: [{ title: 'Concurrent real-time streams (WebSocket, paced)', columns: ['streams', 'lag p50 ms', 'lag p95 ms', 'lag p99 ms'], rows: capRows }],
      notes: [
        'Lag = audio sent so far − end of the last word in the event, sampled at every partial/final. "engine" figures drive the same engine directly (same process and workers).',
        'Server ingress/egress are measured inside the server on its main thread over the single-stream runs: client frame → engine has it, and engine event on the main thread → JSON written to the socket (event-loop wait included); their p95 sum bounds what the server adds to an event.',
        'Server added (paired) = arrival over WebSocket − arrival from the engine of the same event (same kind, text and occurrence) when the same clip is paced the same way; p50/p95 over all paired events.',
        'Finalize round trip = finalize sent → its from_finalize final; finalizes are sent at speech end and every 1–3 s (seeded). "after first 3 s" leaves out the one-off CMN warm-up and 2 s re-decode of a new session.',
        `Streams send ${CHUNK}-byte linear16 frames (128 ms), each when its last sample would have been captured, then 2 s of silence.`,
      ],
    };
  } finally {
    await s.close();
  }
}
