/**
 * SIGTERM with live sessions (issue 15, item 7), on a real child process: a session keeps being
 * transcribed while the server drains (its audio is not refused), an upgrade that arrives during
 * the drain gets a 503 and its socket is closed at once, the session gets its last final and then
 * 1001, and the process exits 0 well within COCHLEA_SHUTDOWN_DRAIN_MS.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { spawnServer } from '../helpers/spawn.ts';
import { authHeaders } from '../helpers/server.ts';
import { openLive } from '../helpers/ws.ts';
import { evenBursts, s16Bytes } from './bursts.ts';

const KEY = 'sk_drain_live';
const DRAIN_MS = 8000;

/** A raw upgrade request: resolves with what the server answered and how long until it closed the socket. */
function rawUpgrade(url: string): Promise<{ response: string; closedAfterMs: number | null }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(Number(u.port), u.hostname);
    let response = '';
    const done = (closedAfterMs: number | null) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ response, closedAfterMs });
    };
    // Give up (and report "not closed") after 3 s.
    const timer = setTimeout(() => done(null), 3000);
    sock.on('data', (d) => (response += d));
    sock.on('error', () => {});
    sock.on('close', () => done(Date.now() - t0));
    sock.write(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nAuthorization: Bearer ${KEY}\r\n\r\n`,
    );
  });
}

describe('shutdown drain with live sessions', () => {
  test('SIGTERM: audio sent during the drain is transcribed, a new upgrade is refused and closed at once, last final then 1001, exit 0 well within the drain', async () => {
    const srv = await spawnServer([], {
      COCHLEA_API_KEYS: KEY,
      COCHLEA_CONFIG_DIR: '/nonexistent-cochlea',
      COCHLEA_ENGINE: 'scripted',
      COCHLEA_VAD_MODEL: '',
      COCHLEA_SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
      LOG_LEVEL: 'info',
    });
    const url = srv.url.replace('http', 'ws') + '/waves/v1/pulse/get_text?encoding=linear16&sample_rate=16000';
    try {
      // Six bursts 0.3 s apart (no endpoint between them): six words, one sentence, 3.7 s of audio.
      const pcm = s16Bytes(evenBursts(6, 0.2).pcm);
      const c = await openLive(url, authHeaders(KEY));
      const streaming = c.sendAudio(pcm, { chunkBytes: 3200, realtime: true });
      // SIGTERM after the first two bursts (1.2 s); the client keeps streaming the other four.
      await new Promise((r) => setTimeout(r, 1200));
      const termAt = Date.now();
      srv.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 400));
      const refused = await rawUpgrade(url);
      assert.match(refused.response, /^HTTP\/1\.1 503 /, `upgrade during the drain: ${refused.response}`);
      assert.match(refused.response, /shutting down/);
      assert.ok(refused.closedAfterMs !== null && refused.closedAfterMs < 1000, `the refused socket is closed promptly (closed after ${refused.closedAfterMs} ms)`);
      await streaming;
      const closed = await c.closed;
      const exit = await srv.exit;
      const exitMs = Date.now() - termAt;
      console.log(`# SIGTERM to exit: ${exitMs} ms (code ${exit.code}); refused upgrade closed after ${refused.closedAfterMs} ms`);

      const errors = c.events.filter((e) => e.type === 'error');
      assert.deepEqual(errors, [], 'no audio refused during the drain');
      const words = c.finals().map((e) => e.transcript).join(' ').toLowerCase().replace(/[^a-z ]/g, '').split(/\s+/).filter(Boolean);
      assert.deepEqual(words, ['one', 'two', 'three', 'four', 'five', 'six'], 'audio sent after SIGTERM was transcribed');
      const lasts = c.events.filter((e) => e.is_last);
      assert.equal(lasts.length, 1, 'exactly one last final');
      assert.equal(c.events.at(-1)?.is_last, true, 'the last final is the last event');
      assert.equal(closed.code, 1001);
      assert.equal(exit.code, 0, srv.stderr());
      // Streaming ends ~2.5 s after SIGTERM, the quiet second ends the session: far below the drain bound.
      assert.ok(exitMs < DRAIN_MS - 2000, `exited ${exitMs} ms after SIGTERM (drain ${DRAIN_MS} ms)`);
      assert.match(srv.stdout(), /websocket upgrade refused: server shutting down/);
    } finally {
      if (srv.child.exitCode === null) srv.child.kill('SIGKILL');
    }
  });
});
