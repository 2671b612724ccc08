/**
 * Soak (npm run test:slow): many real-time sessions dropped abruptly leave no sessions, decoders,
 * workers or memory behind (pocketsphinx with real speech).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authHeaders, startTestServer } from '../helpers/server.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { openLive, wavPcmBytes } from '../helpers/ws.ts';
import type { WorkerEngine } from '../../src/engines/worker-engine.ts';
import { nativeHeapInUse } from '../../src/util/native-heap.ts';

const noShared = skipWithoutShared();

describe('real-time sessions dropped abruptly (soak)', () => {
  test('50 sessions opened and dropped abruptly leave no session, decoder, worker or memory growth', { skip: noShared }, async () => {
    const s = await startTestServer({ COCHLEA_MAX_SESSIONS: '64' });
    try {
      const engine = s.server.engine as WorkerEngine;
      const url = s.url.replace('http', 'ws') + '/waves/v1/pulse/get_text';
      const pcm = wavPcmBytes(loadSet('en_pocketsphinx_debian')[0].audio).subarray(0, 32000 * 2);
      const threadsBefore = engine.pool.workerThreadIds();
      const cycle = async (n: number) => {
        const cs = await Promise.all(Array.from({ length: n }, () => openLive(url, authHeaders(s.key))));
        await Promise.all(cs.map((c) => c.sendAudio(pcm)));
        // Drop them only once every session holds a decoder, so each round peaks at the same
        // native footprint and rounds are comparable.
        for (let i = 0; i < 300; i++) {
          const live = (await engine.pool.stats()).reduce((a, w) => a + (w.backend?.live ?? 0), 0);
          if (live >= n) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        for (const c of cs) c.ws.terminate();
      };
      const settle = async () => {
        for (let i = 0; i < 100; i++) {
          const stats = await engine.pool.stats();
          if (stats.every((w) => w.sessions === 0) && s.server.app.websocketServer.clients.size === 0) return stats;
          await new Promise((r) => setTimeout(r, 100));
        }
        return engine.pool.stats();
      };
      // Memory is the C allocator's in-use bytes (process-wide: the workers' decoders and VADs,
      // the server's buffers), read once everything has settled. RSS is no measure here: glibc
      // keeps freed memory in per-thread arenas, and RSS after identical rounds moved by 117-170 MB.
      // The first round fills the idle decoder pools and warms everything up; later rounds must
      // not grow.
      const held = async () => {
        const stats = await settle();
        assert.ok(stats.every((w) => w.sessions === 0), `worker sessions left: ${JSON.stringify(stats.map((w) => w.sessions))}`);
        for (const w of stats) {
          assert.equal(w.backend?.live, 0, `decoders still held: ${JSON.stringify(w.backend)}`);
          assert.ok((w.backend?.idle ?? 0) <= 2, `idle decoders beyond the pool size: ${JSON.stringify(w.backend)}`);
        }
        assert.equal(s.server.app.websocketServer.clients.size, 0);
        // Workers collect the Silero VADs dropped beyond their idle pool (sherpa-onnx frees them
        // on GC) about a second after their last session closes.
        await new Promise((r) => setTimeout(r, 2500));
        return nativeHeapInUse() ?? process.memoryUsage().rss;
      };
      const after: number[] = [];
      for (let r = 0; r < 3; r++) {
        await cycle(50);
        after.push(await held());
      }
      assert.deepEqual(engine.pool.workerThreadIds(), threadsBefore, 'no worker was replaced or added');
      const growthMb = (after[2] - after[0]) / 2 ** 20;
      // A leak per session would be far above this: a pocketsphinx decoder is ~41 MB and a Silero
      // VAD several MB in use, so 50 leaked sessions hold ≥ 2 GB, and even one leaked decoder
      // per round exceeds the bound.
      console.log(`# native heap in use after rounds of 50 dropped sessions (MB): ${after.map((h) => (h / 2 ** 20).toFixed(1)).join(', ')}`);
      assert.ok(growthMb < 40, `native heap in use grew ${growthMb.toFixed(1)} MB over two rounds of 50 dropped sessions`);
      // And the server still serves a new session.
      const c = await openLive(url, authHeaders(s.key));
      c.ws.send(JSON.stringify({ type: 'close_stream' }));
      await c.waitFor((e) => e.is_last === true);
      assert.equal((await c.closed).code, 1000);
    } finally {
      await s.close();
    }
  });
});
