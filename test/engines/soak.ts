/**
 * Engine soak procedures shared by the fast suite (a few rounds) and `npm run test:slow`
 * (many rounds, with memory checks): see pool.test.ts, streaming.test.ts and leaks.slow.ts.
 */
import assert from 'node:assert/strict';
import { createEngine, type WorkerEngine } from '../../src/engines/index.ts';
import { nativeHeapInUse } from '../../src/util/native-heap.ts';

/**
 * ps_init with -logfn swaps sphinxbase's process-global log FILE; two workers doing it at once
 * closed the same FILE twice ("free(): unaligned chunk detected", or both workers deadlocked in
 * glibc's stdio locks). No pooling and no warm decoders: every session creates its own, 16 at once.
 */
export async function decoderCreationRace(rounds: number): Promise<void> {
  const racy = createEngine({
    kind: 'pocketsphinx',
    workers: 2,
    backendConfig: { warmDecoders: 0, maxIdleDecoders: 0, streamCmnWarmupSeconds: 0, args: { '-logfn': '/dev/null' } },
  });
  await racy.init();
  try {
    const ids = racy.pool.workerThreadIds();
    let x = 1;
    const noise = new Float32Array(4000).map(() => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff - 0.5) * 0.01);
    for (let round = 0; round < rounds; round++) {
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          const st = racy.stream({});
          const done = (async () => {
            for await (const e of st) if (e.type === 'final' && e.isLast) return e;
            return undefined;
          })();
          st.pushAudio(noise);
          st.end();
          assert.ok(await done, 'the session ended with its last final');
        }),
      );
    }
    assert.deepEqual(racy.pool.workerThreadIds(), ids, 'no worker crashed and was replaced');
  } finally {
    await racy.close();
  }
}

/**
 * `rounds` × 10 sessions that decode `pcm`, then are aborted abruptly. After each round no session
 * or decoder is left in any worker and idle decoders stay capped; returns, after each round, the
 * bytes the C allocator holds for live allocations (process-wide; RSS where there is no glibc).
 */
export async function abortedSessionRounds(engine: WorkerEngine, pcm: Float32Array, rounds: number): Promise<number[]> {
  const ids = engine.pool.workerThreadIds();
  const held: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const streams = Array.from({ length: 10 }, () => engine.stream({}));
    const firstEvent = streams.map((s) => {
      s.pushAudio(pcm);
      return s[Symbol.asyncIterator]().next();
    });
    // Let every session get its decoder and decode something, then drop them all abruptly.
    await Promise.all(firstEvent);
    for (const s of streams) s.abort();
    // Gone from the main thread at once...
    assert.ok(engine.pool.load().workers.every((w) => w.sessions === 0));
    // ...and from the workers once they have read the abort.
    let stats = await engine.pool.stats();
    for (let i = 0; i < 100 && stats.some((s) => s.sessions > 0 || s.backend!.live > 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
      stats = await engine.pool.stats();
    }
    for (const st of stats) {
      assert.equal(st.sessions, 0);
      assert.equal(st.backend!.live, 0, 'every decoder returned');
      assert.ok(st.backend!.idle <= 2, `idle decoders capped (${st.backend!.idle})`);
    }
    // Read here, once every worker has answered with its frees done (process-wide, so one
    // reading; a worker's own reading could predate the other worker's frees).
    held.push(nativeHeapInUse() ?? stats[0].rss);
  }
  assert.deepEqual(engine.pool.workerThreadIds(), ids, 'no worker restarted');
  return held;
}
