/**
 * /metrics after real traffic: batch (Pulse and OpenAI), real-time (WebSocket), errors, a
 * webhook that fails once, and a worker crash. Each counter must move by exactly what was sent.
 * Also: the metrics auth modes and the separate metrics port, and request logs without keys.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startTestServer, authHeaders, type TestServer } from '../helpers/server.ts';
import { burstAudio, scriptedEnv } from '../helpers/bursts.ts';
import { openLive } from '../helpers/ws.ts';
import { loadConfig } from '../../src/config.ts';
import { buildServer } from '../../src/server/app.ts';
import { createEngine } from '../../src/engines/index.ts';
import type { WorkerEngine } from '../../src/engines/worker-engine.ts';

type Samples = Map<string, number>;

/** Prometheus text → "name{a="x",b="y"}" (labels sorted) → value. */
function parseProm(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels = m[2] ? [...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => `${x[1]}="${x[2]}"`).sort() : [];
    out.set(labels.length ? `${m[1]}{${labels.join(',')}}` : m[1], Number(m[3]));
  }
  return out;
}

function key(name: string, labels: Record<string, string> = {}): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  return l.length ? `${name}{${l.join(',')}}` : name;
}

let s: TestServer;
const audio = burstAudio([2, 2]);
const pcm16 = (() => {
  const b = Buffer.alloc(audio.pcm.length * 2);
  audio.pcm.forEach((x, i) => b.writeInt16LE(Math.round(x * 32767), i * 2));
  return b;
})();

async function scrape(): Promise<{ text: string; m: Samples }> {
  const r = await fetch(`${s.url}/metrics`, { headers: authHeaders(s.key) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  return { text, m: parseProm(text) };
}

function delta(a: Samples, b: Samples, k: string): number {
  return (b.get(k) ?? 0) - (a.get(k) ?? 0);
}


describe('metrics', () => {
  let webhook: http.Server;
  let webhookUrl = '';
  let webhookCalls = 0;

  before(async () => {
    webhook = http.createServer((req, res) => {
      webhookCalls++;
      req.resume();
      // Fails the first delivery, accepts the retry.
      res.writeHead(webhookCalls === 1 ? 500 : 200).end();
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/hook`;
    // A recognition that reaches the script's 12th word ("lima") takes its worker down (the crash test below).
    s = await startTestServer({ ...scriptedEnv({ crashOnWord: 'lima' }), COCHLEA_URL_ALLOW: '127.0.0.1' });
  });
  after(async () => {
    await s?.close();
    await new Promise<void>((r) => webhook.close(() => r()));
  });

  test('batch, real-time and error traffic move the counters by what was sent', async () => {
    const before = (await scrape()).m;
    const route = '/waves/v1/pulse/get_text';

    // Batch: 3 Pulse requests (one with a webhook that fails once), 2 OpenAI requests.
    for (let i = 0; i < 3; i++) {
      const q = i === 0 ? `?webhook_url=${encodeURIComponent(webhookUrl)}` : '';
      const r = await fetch(`${s.url}${route}${q}`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'audio/wav' }), body: new Uint8Array(audio.wav) });
      assert.equal(r.status, 200, await r.text());
    }
    for (let i = 0; i < 2; i++) {
      const fd = new FormData();
      fd.append('file', new Blob([new Uint8Array(audio.wav)]), 'a.wav');
      fd.append('model', 'whisper-1');
      const r = await fetch(`${s.url}/v1/audio/transcriptions`, { method: 'POST', headers: authHeaders(s.key), body: fd });
      assert.equal(r.status, 200);
    }

    // Errors: 2 without a key, 1 body that is no audio, 1 WAV that is cut off inside its header, 1 unknown URL.
    for (let i = 0; i < 2; i++) assert.equal((await fetch(`${s.url}${route}`, { method: 'POST', body: 'x' })).status, 401);
    const notAudio = await fetch(`${s.url}${route}`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'application/octet-stream' }), body: 'hello, this is plainly not audio data' });
    assert.equal(notAudio.status, 400);
    const cutWav = await fetch(`${s.url}${route}`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'audio/wav' }), body: new Uint8Array(audio.wav.subarray(0, 30)) });
    assert.equal(cutWav.status, 400);
    assert.equal((await fetch(`${s.url}/no/such/path/12345`, { headers: authHeaders(s.key) })).status, 404);

    // Real time: one session, audio, a finalize, close.
    const c = await openLive(`${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text?encoding=linear16&sample_rate=16000`, authHeaders(s.key));
    const during = (await scrape()).m;
    assert.equal(during.get('cochlea_live_sessions'), 1);
    await c.sendAudio(pcm16);
    c.ws.send(JSON.stringify({ type: 'finalize' }));
    await c.waitFor((e) => e.from_finalize === true);
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    await c.closed;
    // An Ogg Opus session that sends garbage: a stream decode error.
    const g = await openLive(`${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text?encoding=ogg_opus&sample_rate=16000`, authHeaders(s.key));
    g.ws.send(Buffer.from('definitely not an ogg page, definitely not an ogg page'));
    await g.waitFor((e) => e.type === 'error');
    g.ws.close();
    await g.closed;

    // The webhook's retry lands ~0.5 s after its failure.
    for (let i = 0; i < 100 && webhookCalls < 2; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 50));

    const { text, m: afterM } = await scrape();
    const d = (name: string, labels?: Record<string, string>) => delta(before, afterM, key(name, labels));

    // Requests by route pattern and status.
    assert.equal(d('cochlea_http_requests_total', { method: 'POST', route, status: '200' }), 3);
    assert.equal(d('cochlea_http_requests_total', { method: 'POST', route, status: '401' }), 2);
    assert.equal(d('cochlea_http_requests_total', { method: 'POST', route, status: '400' }), 2);
    assert.equal(d('cochlea_http_requests_total', { method: 'POST', route: '/v1/audio/transcriptions', status: '200' }), 2);
    assert.equal(d('cochlea_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }), 1);
    assert.ok(!text.includes('12345'), 'no URL in any label');
    assert.ok(!text.includes(s.key), 'no key in any label');
    assert.equal(d('cochlea_http_request_duration_seconds_count', { method: 'POST', route }), 7);

    // Audio and engine: 5 batch recognitions of the same file, one streamed session.
    const dur = audio.duration;
    assert.ok(Math.abs(d('cochlea_audio_seconds_total', { engine: 'scripted', mode: 'batch' }) - 5 * dur) < 1e-6, `batch audio ${d('cochlea_audio_seconds_total', { engine: 'scripted', mode: 'batch' })} vs ${5 * dur}`);
    assert.ok(Math.abs(d('cochlea_audio_seconds_total', { engine: 'scripted', mode: 'stream' }) - dur) < 1e-3);
    assert.equal(d('cochlea_engine_real_time_factor_count', { engine: 'scripted', mode: 'batch' }), 5);
    assert.ok(d('cochlea_engine_decode_seconds_total', { engine: 'scripted', mode: 'batch' }) > 0);
    assert.equal(d('cochlea_queue_wait_seconds_count'), 5);
    assert.equal(afterM.get('cochlea_queue_depth'), 0);

    // Real-time events: exactly what the clients received.
    // Both sessions: a client close frame is answered only after the session's last final (is_last),
    // so the garbage session gets one too.
    const all = [...c.events, ...g.events];
    const finals = all.filter((e) => e.type === 'transcription' && e.is_final).length;
    const partials = all.filter((e) => e.type === 'transcription' && !e.is_final).length;
    assert.ok(c.events.filter((e) => e.type === 'transcription' && e.is_final).length >= 2);
    assert.equal(d('cochlea_events_sent_total', { transport: 'websocket', type: 'final' }), finals);
    assert.equal(d('cochlea_events_sent_total', { transport: 'websocket', type: 'partial' }), partials);
    assert.equal(d('cochlea_events_sent_total', { transport: 'websocket', type: 'error' }), g.events.filter((e) => e.type === 'error').length);
    assert.equal(d('cochlea_websocket_connections_total'), 2);
    assert.equal(d('cochlea_finalize_latency_seconds_count', { engine: 'scripted' }), 1);
    assert.equal(afterM.get('cochlea_live_sessions'), 0);

    // Decode errors by format.
    assert.equal(d('cochlea_audio_decode_errors_total', { format: 'unknown', reason: 'invalid_format' }), 1);
    const wavErrors = [...afterM.keys()].filter((k) => k.startsWith('cochlea_audio_decode_errors_total{format="wav"'));
    assert.equal(wavErrors.reduce((a, k) => a + delta(before, afterM, k), 0), 1, `wav errors: ${wavErrors}`);
    assert.equal(d('cochlea_audio_decode_errors_total', { format: 'raw_ogg_opus', reason: 'corrupt' }) + d('cochlea_audio_decode_errors_total', { format: 'raw_ogg_opus', reason: 'invalid_format' }), 1);

    // Webhook: failed once, retried, delivered.
    assert.equal(webhookCalls, 2);
    assert.equal(d('cochlea_webhook_retries_total'), 1);
    assert.equal(d('cochlea_webhook_deliveries_total', { outcome: 'delivered' }), 1);

    // Node process metrics are there too.
    assert.ok(afterM.has('process_cpu_user_seconds_total'));
    assert.ok(afterM.has('nodejs_eventloop_lag_seconds'));
  });

  test('worker restarts and utilisation come from the pool', async () => {
    const engine = s.server.engine as WorkerEngine;
    const before = (await scrape()).m;
    await assert.rejects(engine.recognize(burstAudio([12]).pcm));
    for (let i = 0; i < 100 && engine.pool.snapshot().restarts === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await engine.pool.whenAllReady();
    const afterM = (await scrape()).m;
    assert.equal(delta(before, afterM, 'cochlea_engine_worker_restarts_total'), 1);
    assert.equal(afterM.get(key('cochlea_engine_workers', { state: 'ready' })), 2);
    for (const w of ['0', '1']) {
      const u = afterM.get(key('cochlea_engine_worker_utilization', { worker: w }))!;
      assert.ok(u >= 0 && u <= 1, `utilisation ${u}`);
      assert.ok(afterM.get(key('cochlea_engine_worker_busy_seconds_total', { worker: w }))! >= before.get(key('cochlea_engine_worker_busy_seconds_total', { worker: w }))!);
    }
  });

  test('COCHLEA_METRICS: auth needs a key, public does not, off removes it', async () => {
    assert.equal((await fetch(`${s.url}/metrics`)).status, 401);
    const modes = ['public', 'off'] as const;
    for (const mode of modes) {
      const engine = createEngine({ kind: 'scripted', workers: 1 });
      const app = await buildServer({ config: loadConfig({ COCHLEA_METRICS: mode, LOG_LEVEL: 'silent', COCHLEA_API_KEYS: 'k' }), engine, keys: ['k'] });
      try {
        const r = await app.inject({ method: 'GET', url: '/metrics' });
        assert.equal(r.statusCode, mode === 'public' ? 200 : 404, mode);
      } finally {
        await app.close();
        await engine.close();
      }
    }
  });

  test('COCHLEA_METRICS_PORT serves /metrics (and probes) on its own port, not on the API port', async () => {
    const t = await startTestServer({ ...scriptedEnv(), COCHLEA_METRICS_PORT: '0', COCHLEA_METRICS: 'public' });
    try {
      assert.equal((await fetch(`${t.url}/metrics`, { headers: authHeaders(t.key) })).status, 404);
      const side = t.server.app.metricsServer!;
      const port = (side.server.address() as { port: number }).port;
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(r.status, 200);
      assert.match(await r.text(), /cochlea_http_requests_total/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/ready`)).status, 200);
    } finally {
      await t.close();
    }
  });

  test('request log lines: request id, route, audio seconds, engine, RTF, outcome; no key, no transcript', async () => {
    const lines: Record<string, any>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l));
        cb();
      },
    });
    const engine = createEngine({ kind: 'scripted', workers: 1, backendConfig: { words: ['secretword'] } });
    await engine.init();
    const config = loadConfig({ LOG_LEVEL: 'info', COCHLEA_API_KEYS: 'sk_logtest_123' });
    const app = await buildServer({ config, engine, keys: ['sk_logtest_123'], logStream: sink });
    try {
      const r = await app.inject({ method: 'POST', url: '/waves/v1/pulse/get_text?token=sk_logtest_123', headers: { 'content-type': 'audio/wav' }, payload: audio.wav });
      assert.equal(r.statusCode, 200);
      assert.match(r.body, /secretword/);
      const bad = await app.inject({ method: 'POST', url: '/waves/v1/pulse/get_text', headers: { authorization: 'Bearer sk_wrong_456' }, payload: 'x' });
      assert.equal(bad.statusCode, 401);
    } finally {
      await app.close();
      await engine.close();
    }
    const all = lines.map((l) => JSON.stringify(l)).join('\n');
    assert.ok(!all.includes('sk_logtest_123') && !all.includes('sk_wrong_456'), 'no key in the logs');
    assert.ok(!all.includes('secretword'), 'no transcript in the logs');
    const done = lines.filter((l) => l.msg === 'request completed');
    assert.equal(done.length, 2, all);
    const ok = done[0];
    assert.equal(ok.route, '/waves/v1/pulse/get_text');
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.outcome, 'success');
    assert.equal(ok.engine, 'scripted');
    assert.ok(Math.abs(ok.audioSeconds - audio.duration) < 1e-3);
    assert.ok(ok.rtf > 0 && ok.rtf < 1);
    assert.equal(typeof ok.reqId, 'string');
    assert.equal(done[1].outcome, 'unauthorized');
  });
});
