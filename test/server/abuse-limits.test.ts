/**
 * Issue 15 items 8 and 9 at the HTTP edge (scripted engine, real server):
 *  - a job that runs past its deadline (factor × duration + floor, from when a worker starts it)
 *    is answered with a Pulse-shaped 503 at the deadline, not when the decoder finally returns;
 *  - decoded audio in flight is capped per process: over COCHLEA_MAX_INFLIGHT_AUDIO_SECONDS a
 *    request gets a Pulse-shaped 503, and the budget is given back after each request.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestServer, authHeaders } from '../helpers/server.ts';
import { toneWav } from '../helpers/wav.ts';
import { processAudioBudget } from '../../src/audio/budget.ts';

const post = (url: string, key: string, body: Buffer) =>
  fetch(`${url}/waves/v1/pulse/get_text?language=en`, { method: 'POST', headers: authHeaders(key, { 'content-type': 'audio/wav' }), body: new Uint8Array(body) });

describe('issue 15: per-job deadline and in-flight audio budget', () => {
  test('item 9: a job past its deadline gets a Pulse-shaped 503 at the deadline', async () => {
    const s = await startTestServer({
      COCHLEA_ENGINE: 'scripted',
      COCHLEA_WORKERS: '1',
      // Every recognition busy-waits 4 s: a stand-in for a decoder stuck on a bit-flipped clip.
      COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ decodeDelayMs: 4000 }),
      COCHLEA_JOB_DEADLINE_FACTOR: '0.5',
      COCHLEA_JOB_DEADLINE_FLOOR_SECONDS: '0.5',
    });
    try {
      const t0 = Date.now();
      const r = await post(s.url, s.key, toneWav(1));
      const ms = Date.now() - t0;
      const body = (await r.json()) as { status: string; message: string };
      assert.equal(r.status, 503, JSON.stringify(body));
      assert.equal(body.status, 'error');
      assert.match(body.message, /deadline/);
      assert.ok(ms < 3500, `answered after ${ms} ms (deadline 1 s, decoder 4 s)`);
      // The worker finishes its stuck job and serves the next one.
      await new Promise((r) => setTimeout(r, 3500));
      const health = await fetch(`${s.url}/health`);
      assert.equal(health.status, 200);
    } finally {
      await s.close();
    }
  });

  test('item 8: over the in-flight budget → 503 (Pulse shape); the budget is released after every request', async () => {
    const s = await startTestServer({
      COCHLEA_ENGINE: 'scripted',
      COCHLEA_WORKERS: '1',
      COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ decodeDelayMs: 1500 }),
      COCHLEA_MAX_INFLIGHT_AUDIO_SECONDS: '45',
      COCHLEA_JOB_DEADLINE_FLOOR_SECONDS: '60',
    });
    try {
      const budget = processAudioBudget(45);
      // 30 s is held while the first request is recognized (1.5 s); a second 30 s one does not fit.
      const first = post(s.url, s.key, toneWav(30));
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(budget.used >= 30, `first request holds its audio (${budget.used} s)`);
      const r2 = await post(s.url, s.key, toneWav(30));
      const b2 = (await r2.json()) as { status: string; message: string };
      assert.equal(r2.status, 503, JSON.stringify(b2));
      assert.equal(b2.status, 'error');
      assert.match(b2.message, /in flight/);
      const r1 = await first;
      assert.equal(r1.status, 200);
      await r1.json();
      assert.equal(budget.used, 0, 'released after the response');
      const r3 = await post(s.url, s.key, toneWav(30));
      assert.equal(r3.status, 200);
      await r3.json();
      assert.equal(budget.used, 0);
    } finally {
      await s.close();
    }
  });
});
