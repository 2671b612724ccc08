import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/** Resolves with ms until the server closes the socket (or -1 after `waitMs`). */
function closedWithin(sock: net.Socket, waitMs: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(-1), waitMs);
    sock.on('close', () => {
      clearTimeout(t);
      resolve(Date.now() - t0);
    });
    sock.on('error', () => {});
  });
}

describe('slow and greedy clients are cut off', () => {
  let s: TestServer;
  let port = 0;
  before(async () => {
    s = await startTestServer({
      COCHLEA_ENGINE: 'scripted',
      COCHLEA_HEADERS_TIMEOUT_MS: '600',
      COCHLEA_BODY_IDLE_MS: '800',
      COCHLEA_MAX_CONNECTIONS_PER_ADDRESS: '5',
    });
    port = Number(new URL(s.url).port);
  });
  after(() => s.close());

  test('a connection that sends nothing is closed after the headers timeout', async () => {
    const sock = net.connect(port, '127.0.0.1');
    const ms = await closedWithin(sock, 5000);
    assert.ok(ms >= 500 && ms < 3000, `closed after ${ms} ms`);
  });

  test('a request whose body stalls is closed; a healthy request on another connection is served meanwhile', async () => {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write(`POST /waves/v1/pulse/get_text HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\nContent-Type: audio/wav\r\nContent-Length: 100000\r\n\r\nRIFF`);
    const closing = closedWithin(sock, 6000);
    const health = await fetch(`${s.url}/health`);
    assert.equal(health.status, 200);
    const ms = await closing;
    assert.ok(ms > 0 && ms < 4000, `stalled upload closed after ${ms} ms`);
  });

  test('connections beyond the per-address cap are refused; the cap frees up when they close', async () => {
    const socks: net.Socket[] = [];
    for (let i = 0; i < 5; i++) {
      const c = net.connect(port, '127.0.0.1');
      c.on('error', () => {});
      socks.push(c);
      await new Promise((r) => c.once('connect', r));
    }
    const extra = net.connect(port, '127.0.0.1');
    const ms = await closedWithin(extra, 2000);
    assert.ok(ms >= 0 && ms < 500, `sixth connection refused at once (${ms} ms)`);
    for (const c of socks) c.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const ok = await fetch(`${s.url}/health`);
    assert.equal(ok.status, 200);
  });
});
