/**
 * Readiness: GET /ready is 503 while workers start, while a crashed worker restarts, while the
 * batch queue or the session slots are full, and from SIGTERM on (a real child process keeps
 * serving through COCHLEA_SHUTDOWN_DELAY_MS while /ready says draining, then exits 0).
 * GET /health stays 200 throughout.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { buildServer } from '../../src/server/app.ts';
import { createEngine } from '../../src/engines/index.ts';
import { spawnServer } from '../helpers/spawn.ts';
import { authHeaders, startTestServer, until } from '../helpers/server.ts';
import { burstAudio, scriptedEnv, SCRIPT } from '../helpers/bursts.ts';
import { openLive } from '../helpers/ws.ts';

const audio = burstAudio([2]);

describe('readiness', () => {
  test('starting → ready → restarting (worker crash) → ready; /health always 200', async () => {
    // The scripted engine takes its worker down when a recognition reaches the word "boom".
    const engine = createEngine({ kind: 'scripted', workers: 1, backendConfig: { words: ['one', 'boom'], crashOnWord: 'boom' } });
    const app = await buildServer({ config: loadConfig({ LOG_LEVEL: 'silent', COCHLEA_API_KEYS: 'k' }), engine, keys: ['k'] });
    try {
      const ready = async () => {
        const r = await app.inject({ method: 'GET', url: '/ready' });
        return { status: r.statusCode, body: r.json() };
      };
      let r = await ready();
      assert.equal(r.status, 503);
      assert.deepEqual(r.body.reasons, ['starting']);
      assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
      await engine.init();
      r = await ready();
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.status, 'ready');
      assert.deepEqual(r.body.workers, { ready: 1, total: 1 });

      // Two bursts: the second word is the crash word.
      const pcm = new Float32Array(16000);
      for (const [a, b] of [[1600, 4800], [8000, 11200]]) for (let i = a; i < b; i++) pcm[i] = 0.3 * Math.sin(i / 4);
      await assert.rejects(engine.recognize(pcm));
      r = await until(ready, (x) => x.status === 503);
      assert.deepEqual(r.body.reasons, ['restarting']);
      assert.equal((await app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
      r = await until(ready, (x) => x.status === 200);
      assert.equal(engine.pool.snapshot().restarts, 1);
    } finally {
      await app.close();
      await engine.close();
    }
  });

  test('saturated while the batch queue is full and while every session slot is taken', async () => {
    const s = await startTestServer({ ...scriptedEnv({ decodeDelayMs: 600 }), COCHLEA_WORKERS: '1', COCHLEA_MAX_QUEUED_JOBS: '1', COCHLEA_MAX_SESSIONS: '1' });
    try {
      const ready = async () => {
        const r = await fetch(`${s.url}/ready`);
        return { status: r.status, body: (await r.json()) as { reasons: string[]; queue: { queued: number } } };
      };
      assert.equal((await ready()).status, 200);
      const post = () =>
        fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'audio/wav' }), body: new Uint8Array(audio.wav) });
      // One runs (600 ms), one waits: the queue (capacity 1) is full.
      const running = [post(), post()];
      const r = await until(ready, (x) => x.status === 503, 5000);
      assert.deepEqual(r.body.reasons, ['saturated']);
      assert.equal(r.body.queue.queued, 1);
      const statuses = await Promise.all(running.map(async (p) => (await p).status));
      assert.deepEqual(statuses, [200, 200]);
      assert.equal((await ready()).status, 200);

      const c = await openLive(`${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text`, authHeaders(s.key));
      const sr = await until(ready, (x) => x.status === 503, 5000);
      assert.deepEqual(sr.body.reasons, ['saturated']);
      c.ws.close();
      await c.closed;
      await until(ready, (x) => x.status === 200, 5000);
    } finally {
      await s.close();
    }
  });

  test('SIGTERM while the workers are still starting: held, then a clean exit 0', async () => {
    const srv = await spawnServer([], { ...scriptedEnv(), COCHLEA_API_KEYS: 'sk_early', COCHLEA_CONFIG_DIR: '/nonexistent-cochlea' });
    // "listening" is printed before the engine workers are up (/ready says starting meanwhile).
    srv.child.kill('SIGTERM');
    const exit = await srv.exit;
    assert.deepEqual(exit, { code: 0, signal: null }, srv.stderr());
  });

  test('SIGTERM: /ready flips to 503 draining at once, the server keeps serving through the delay, then exits 0', async () => {
    const key = 'sk_ready_drain';
    const srv = await spawnServer([], {
      ...scriptedEnv(),
      COCHLEA_API_KEYS: key,
      COCHLEA_CONFIG_DIR: '/nonexistent-cochlea',
      COCHLEA_SHUTDOWN_DELAY_MS: '1500',
    });
    const get = async (path: string) => {
      const r = await fetch(srv.url + path);
      return { status: r.status, body: (await r.json()) as { status?: string; reasons?: string[] } };
    };
    try {
      // Listening comes before the workers are up: wait for ready.
      await until(() => get('/ready'), (x) => x.status === 200);
      const t0 = Date.now();
      srv.child.kill('SIGTERM');
      const r = await until(() => get('/ready'), (x) => x.status === 503, 1000);
      assert.deepEqual(r.body, { ...r.body, status: 'not_ready', reasons: ['draining'] });
      // Still serving: liveness and real work.
      assert.equal((await get('/health')).status, 200);
      const t = await fetch(`${srv.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: authHeaders(key, { 'content-type': 'audio/wav' }), body: new Uint8Array(audio.wav) });
      assert.equal(t.status, 200);
      // Punctuated and cased by the pipeline; the words are the script's.
      assert.equal(((await t.json()) as { transcription: string }).transcription.toLowerCase().replace(/[.,?!]/g, ''), SCRIPT.slice(0, 2).join(' '));
      assert.ok(Date.now() - t0 < 1500, 'checked within the drain delay');
      const exit = await srv.exit;
      assert.equal(exit.code, 0, srv.stderr());
      assert.ok(Date.now() - t0 >= 1500, `exited after the delay (${Date.now() - t0} ms)`);
    } finally {
      if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
    }
  });
});
