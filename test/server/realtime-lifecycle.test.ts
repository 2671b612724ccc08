/**
 * Session lifecycle: SIGTERM drains live sessions (last final, then 1001) and exits 0. (Many
 * sessions dropped abruptly: realtime-lifecycle.slow.ts.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { spawnServer } from '../helpers/spawn.ts';
import { authHeaders } from '../helpers/server.ts';
import { openLive } from '../helpers/ws.ts';
import { evenBursts, s16Bytes } from './bursts.ts';

describe('real-time session lifecycle', () => {
  test('SIGTERM: every open session gets its last final, then close 1001; new sessions are refused; exit 0', async () => {
    const srv = await spawnServer([], { COCHLEA_API_KEYS: 'sk_drain', COCHLEA_CONFIG_DIR: '/nonexistent-cochlea', COCHLEA_ENGINE: 'scripted' });
    const url = srv.url.replace('http', 'ws') + '/waves/v1/pulse/get_text';
    // Speech up to the end: only the drain can finalize it.
    const pcm = s16Bytes(evenBursts(3, 0.05).pcm);
    const clients = await Promise.all([0, 1, 2].map(() => openLive(url, authHeaders('sk_drain'))));
    for (const c of clients) await c.sendAudio(pcm);
    srv.child.kill('SIGTERM');
    const closes = await Promise.all(clients.map((c) => c.closed));
    for (const [i, c] of clients.entries()) {
      assert.equal(closes[i].code, 1001, `session ${i} closed 1001`);
      const lasts = c.events.filter((e) => e.is_last);
      assert.equal(lasts.length, 1, `session ${i} got exactly one is_last: ${JSON.stringify(c.events.slice(-3))}`);
      // Spoken form: finals are punctuated and cased by the pipeline.
      const text = c.finals().map((e) => e.transcript).join(' ').toLowerCase().replace(/[.,?!]/g, '');
      assert.equal(text, 'one two three', `session ${i}'s audio was transcribed before closing`);
    }
    await assert.rejects(openLive(url, authHeaders('sk_drain')));
    const exit = await srv.exit;
    assert.equal(exit.code, 0, srv.stderr());
  });
});
