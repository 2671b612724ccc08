/**
 * Batch recognition through createEngine() → WorkerEngine → WorkerPool → worker-host.ts, with real
 * worker threads: pocketsphinx where the recognizer itself matters (loading under tsx, language
 * errors, segmentation, its native decoder set-up race), the scripted engine where the pool's own
 * behaviour is tested (dispatch, queueing, abort, crashes, close): it answers exactly and fast.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createEngine, type WorkerEngine } from '../../src/engines/index.ts';
import { EngineError } from '../../src/engines/errors.ts';
import type { RecognitionResult } from '../../src/engines/types.ts';
import { clipPcm, concatWithGaps, loadManifest, skipWithoutPocketsphinx, skipWithoutShared } from './helpers.ts';
import { bursts } from '../helpers/scripted.ts';
import { decoderCreationRace } from './soak.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();
let engine: WorkerEngine;

before(async () => {
  if (skip) return;
  engine = createEngine({ kind: 'pocketsphinx', workers: 2 });
  await engine.init();
});
after(async () => {
  await engine?.close();
});

test('createEngine(pocketsphinx) loads workers under tsx and transcribes', { skip }, async () => {
  assert.equal(engine.info.name, 'pocketsphinx');
  assert.deepEqual(engine.info.languages, ['en']);
  assert.equal(engine.pool.size, 2);
  const clip = loadManifest().find((c) => c.audio.includes('goforward'))!;
  const pcm = clipPcm(clip);
  const r = await engine.recognize(pcm, { language: 'en' });
  assert.equal(r.text, 'go forward ten meters');
  assert.deepEqual(r.words.map((w) => w.word), ['go', 'forward', 'ten', 'meters']);
  assert.equal(r.segments.length, 1);
  assert.equal(r.language, 'en');
  assert.ok(pcm.length > 0, 'the caller keeps its PCM (copied, not transferred)');
});

test('8 parallel jobs spread over the workers, each gets its own result, main loop stays responsive', async () => {
  // Each job's audio has a different number of bursts, so a result can be matched to its job.
  const eng = createEngine({ kind: 'scripted', workers: 2, backendConfig: { decodeDelayMs: 150 } });
  await eng.init();
  try {
    const inputs = Array.from({ length: 8 }, (_, i) => bursts(i + 1));
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    const pending = inputs.map((b) => eng.recognize(b.pcm, { language: 'en' }));
    const load = eng.pool.load();
    assert.deepEqual(
      load.workers.map((w) => w.jobs),
      [1, 1],
      'one running job per worker',
    );
    assert.equal(load.queued, 6, 'the rest wait in the queue');
    // A timer keeps firing on time while the workers decode.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const results = await Promise.all(pending);
    clearInterval(timer);
    h.disable();
    for (let i = 0; i < inputs.length; i++) {
      assert.deepEqual(
        results[i].words.map((w) => [w.start, w.end]),
        inputs[i].times.map((t) => [t.start, t.end]),
        `job ${i} got its own words and times`,
      );
    }
    const p99 = h.percentile(99) / 1e6;
    assert.ok(p99 < 60, `main-thread event-loop delay p99 ${p99.toFixed(1)} ms while decoding`);
    assert.ok(ticks > 20, `${ticks} timer ticks during ~600 ms of decoding`);
    assert.deepEqual(
      eng.pool.load().workers.map((w) => w.jobs),
      [0, 0],
    );
  } finally {
    await eng.close();
  }
});

test('a long recording is decoded in the worker with segments and offsets', { skip }, async () => {
  const parts = loadManifest().slice(7).map((c) => clipPcm(c)); // 4 short clips
  const { pcm, offsets } = concatWithGaps(parts, 1.2);
  const r = await engine.recognize(pcm, {});
  assert.ok(r.segments.length >= 2, `${r.segments.length} segments`);
  const go = r.words.find((w) => w.word === 'go');
  assert.ok(go, r.text);
  const last = offsets[offsets.length - 1];
  assert.ok(go.start > last && go.start < last + 1, `"go" at ${go.start}s, clip placed at ${last}s`);
});

test('errors carry codes across the thread boundary', { skip }, async () => {
  await assert.rejects(engine.recognize(new Float32Array(1600), { language: 'de' }), (e: unknown) => {
    assert.ok(e instanceof EngineError);
    assert.equal(e.code, 'unsupported_language');
    return true;
  });
});

test('abort before, while queued and while running: the job rejects, the engine keeps serving', async () => {
  const eng = createEngine({ kind: 'scripted', workers: 2, backendConfig: { decodeDelayMs: 200 } });
  await eng.init();
  try {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(eng.recognize(new Float32Array(1600), { signal: ac.signal }), { code: 'aborted' });
    const b = bursts(3).pcm;
    const running = new AbortController();
    const queued = new AbortController();
    const jobs = [
      eng.recognize(b, { signal: running.signal }),
      eng.recognize(b),
      eng.recognize(b, { signal: queued.signal }),
      eng.recognize(b),
    ];
    setTimeout(() => (running.abort(), queued.abort()), 50);
    const settled = await Promise.allSettled(jobs);
    assert.deepEqual(
      settled.map((r) => (r.status === 'fulfilled' ? r.value.words.length : (r.reason as EngineError).code)),
      ['aborted', 3, 'aborted', 3],
    );
    assert.equal((await eng.recognize(b)).words.length, 3);
  } finally {
    await eng.close();
  }
});

for (const crashMode of ['exit', 'throw'] as const) {
  test(`a worker that dies mid-job (${crashMode === 'exit' ? 'process.exit in the thread' : 'uncaught error'}) fails its job, is restarted, and the engine keeps working`, async () => {
    // The scripted engine takes its thread down when a job reaches the script's 4th word.
    const eng = createEngine({
      kind: 'scripted',
      workers: 2,
      backendConfig: { words: ['one', 'two', 'three', 'boom'], crashOnWord: 'boom', crashMode, decodeDelayMs: 100 },
      pool: { restartBackoffMs: 50 },
    });
    await eng.init();
    try {
      const before = eng.pool.workersStarted;
      const ids = eng.pool.workerThreadIds();
      // Both workers busy; the first job (on worker 0) reaches the crash word, the second does not.
      const a = eng.recognize(bursts(4).pcm);
      const b = eng.recognize(bursts(3).pcm);
      const [ra, rb] = await Promise.allSettled([a, b]);
      assert.equal(ra.status, 'rejected');
      assert.equal((ra as PromiseRejectedResult).reason.code, 'worker_crashed');
      assert.equal(rb.status, 'fulfilled', 'the other worker is unaffected');
      assert.equal((rb as PromiseFulfilledResult<RecognitionResult>).value.text, 'one two three');
      await eng.pool.whenAllReady();
      assert.equal(eng.pool.workersStarted, before + 1);
      const now = eng.pool.workerThreadIds();
      assert.notEqual(now[0], ids[0]);
      assert.equal(now[1], ids[1]);
      const rs = await Promise.all([eng.recognize(bursts(2).pcm), eng.recognize(bursts(2).pcm)]);
      for (const r of rs) assert.equal(r.text, 'one two');
    } finally {
      await eng.close();
    }
  });
}

test('queue limit and close()', async () => {
  const small = createEngine({ kind: 'scripted', workers: 1, backendConfig: { decodeDelayMs: 100 }, pool: { maxQueue: 1 } });
  await small.init();
  const pcm = bursts(2).pcm;
  const running = small.recognize(pcm); // dispatched
  const queued = small.recognize(pcm).catch((e: unknown) => e); // waits
  await assert.rejects(small.recognize(pcm), { code: 'queue_full' });
  assert.equal((await running).text, 'one two');
  const queued2 = small.recognize(pcm).catch((e: unknown) => e); // queued behind `queued`
  await small.close();
  const e2 = await queued2;
  assert.ok(e2 instanceof EngineError && e2.code === 'closed', String(e2));
  await queued; // running or done when close() came
  await assert.rejects(small.recognize(pcm), { code: 'closed' });
});

test('decoders created in both workers at once (even with a -logfn in the config) neither crash nor hang (2 rounds; 12 in leaks.slow.ts)', { skip: skipWithoutPocketsphinx(), timeout: 120_000 }, async () => {
  await decoderCreationRace(2);
});
