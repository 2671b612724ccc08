/**
 * Real-time abuse (issue 15, items 4-6, the WebSocket layer): a client that never reads its
 * replies is closed before the server buffers much for it; repeated invalid messages get one error
 * event per kind, then close 1008; an oversized frame is never decoded; empty frames do not hold a
 * session open past the idle timeout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { openLive } from '../helpers/ws.ts';
import { evenBursts, s16Bytes } from './bursts.ts';

const wsUrl = (s: TestServer, q = '') => `${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text${q}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

/**
 * A client that never reads (its socket is paused, so the server's replies back up) and sends
 * `message` as fast as it can. Resolves when the server has dropped the session or after
 * `maxMs`, with this process's peak RSS/heap growth over the run (server and client share it).
 */
async function nonReadingFlood(s: TestServer, message: string | Buffer, maxMs: number) {
  const ws = new WebSocket(wsUrl(s), { headers: authHeaders(s.key) });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
  const live = () => s.server.app.liveSessions.sessions.size;
  assert.ok(live() === 1);
  global.gc?.();
  const base = process.memoryUsage();
  let peakRss = 0;
  let peakHeap = 0;
  let sent = 0;
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs && live() > 0 && ws.readyState === WebSocket.OPEN) {
    // Send only what the server has read, so no backlog builds on the client's side.
    if (ws.bufferedAmount < 256 * 1024) {
      for (let i = 0; i < 500; i++) ws.send(message);
      sent += 500;
    }
    await new Promise((r) => setImmediate(r));
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss - base.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed + m.external + m.arrayBuffers - (base.heapUsed + base.external + base.arrayBuffers));
  }
  const droppedAfterMs = live() === 0 ? Date.now() - t0 : null;
  // The server also lets go of the socket itself (close handshake or, for a client that does not read, terminate).
  for (let i = 0; i < 60 && s.server.app.websocketServer.clients.size > 0; i++) await sleep(50);
  const socketsLeft = s.server.app.websocketServer.clients.size;
  ws.terminate();
  return { droppedAfterMs, socketsLeft, sent, peakRssMB: peakRss / MB, peakHeapMB: peakHeap / MB };
}

describe('real-time abuse', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({
      COCHLEA_ENGINE: 'scripted',
      COCHLEA_VAD_MODEL: '',
      COCHLEA_WS_MAX_BUFFERED_BYTES: String(256 * 1024),
      COCHLEA_WS_ERROR_BUDGET: '5',
      COCHLEA_MAX_FRAME_BYTES: '8192',
    });
  });
  after(async () => s.close());

  test('a client that never reads its replies (keepalive flood) is closed within bounds; the server does not buffer for it', async () => {
    const r = await nonReadingFlood(s, JSON.stringify({ type: 'keepalive' }), 15_000);
    console.log(`# keepalive flood, non-reading client: ${JSON.stringify(r)}`);
    assert.ok(r.droppedAfterMs !== null, `session still open after ${r.sent} unread replies`);
    assert.ok(r.droppedAfterMs < 10_000, `dropped after ${r.droppedAfterMs} ms`);
    assert.equal(r.socketsLeft, 0, 'the server released the socket');
    // 256 KiB of unread replies allowed, plus what the kernel's socket buffers hold: far below this.
    assert.ok(r.peakHeapMB < 48, `heap+buffers grew by ${r.peakHeapMB.toFixed(1)} MB`);
    assert.ok(r.peakRssMB < 96, `RSS grew by ${r.peakRssMB.toFixed(1)} MB`);
  });

  test('a non-reading client sending junk is closed after the error budget; RSS stays flat', async () => {
    const r = await nonReadingFlood(s, 'junk junk junk junk junk junk junk junk', 15_000);
    console.log(`# junk flood, non-reading client: ${JSON.stringify(r)}`);
    assert.ok(r.droppedAfterMs !== null && r.droppedAfterMs < 5_000, `dropped after ${r.droppedAfterMs} ms (${r.sent} messages sent)`);
    assert.equal(r.socketsLeft, 0);
    assert.ok(r.peakRssMB < 64, `RSS grew by ${r.peakRssMB.toFixed(1)} MB`);
  });

  test('repeated invalid messages: one error event per kind, then close 1008 after the budget', async () => {
    const c = await openLive(wsUrl(s), authHeaders(s.key));
    for (let i = 0; i < 3; i++) c.ws.send('not json');
    c.ws.send(Buffer.alloc(8192 + 2)); // over COCHLEA_MAX_FRAME_BYTES
    for (let i = 0; i < 40 && c.ws.readyState === WebSocket.OPEN; i++) c.ws.send(i % 2 ? 'not json' : Buffer.alloc(9000));
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /too many invalid messages/);
    const errors = c.events.filter((e) => e.type === 'error');
    assert.equal(errors.length, 2, JSON.stringify(errors));
    assert.match(errors[0].message, /Text frames must be JSON control messages/);
    assert.match(errors[1].message, /exceeds the maximum of 8192 bytes/);
  });

  test('audio the decoder refuses (push() throws) is one error event, counted against the budget', async () => {
    const o = await openLive(wsUrl(s, '?encoding=ogg_opus&sample_rate=16000'), authHeaders(s.key));
    for (let i = 0; i < 20 && o.ws.readyState === WebSocket.OPEN; i++) {
      o.ws.send(Buffer.alloc(4000, 7)); // not an Ogg stream
      await sleep(5);
    }
    const closed = await o.closed;
    assert.equal(closed.code, 1008);
    const errors = o.events.filter((e) => e.type === 'error');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].message, /encoding=ogg_opus/);
  });

  test('a frame over COCHLEA_MAX_FRAME_BYTES is not decoded (its audio is not transcribed); the session goes on', async () => {
    const c = await openLive(wsUrl(s), authHeaders(s.key));
    const speech = s16Bytes(evenBursts(2, 0.2).pcm); // 1.6 s: 51 KB, over the 8 KB frame limit
    c.ws.send(speech);
    await c.waitFor((e) => e.type === 'error' && /exceeds the maximum/.test(e.message), 5000);
    await c.sendAudio(s16Bytes(evenBursts(1, 1).pcm), { chunkBytes: 4096 });
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    await c.waitFor((e) => e.is_last === true, 5000);
    assert.equal((await c.closed).code, 1000);
    const words = c.finals().map((e) => e.transcript).join(' ').trim().split(/\s+/).filter(Boolean);
    assert.equal(words.length, 1, `only the accepted frames' one burst was transcribed: ${JSON.stringify(c.finals())}`);
  });
});

describe('idle means no audio', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ COCHLEA_ENGINE: 'scripted', COCHLEA_VAD_MODEL: '', COCHLEA_SESSION_IDLE_MS: '800' });
  });
  after(async () => s.close());

  test('empty binary frames do not reset the idle timer', async () => {
    const c = await openLive(wsUrl(s), authHeaders(s.key));
    const t0 = Date.now();
    const tick = setInterval(() => c.ws.readyState === WebSocket.OPEN && c.ws.send(Buffer.alloc(0)), 100);
    try {
      const e = await c.waitFor((x) => x.type === 'error', 4000);
      assert.match(e.message, /No audio received/);
      assert.equal((await c.closed).code, 1000);
      assert.ok(Date.now() - t0 < 2500, `closed after ${Date.now() - t0} ms`);
    } finally {
      clearInterval(tick);
    }
  });

  test('a lone byte (no complete sample) does not either; keepalive and real audio do', async () => {
    const odd = await openLive(wsUrl(s), authHeaders(s.key));
    odd.ws.send(Buffer.alloc(1));
    const tick = setInterval(() => odd.ws.readyState === WebSocket.OPEN && odd.ws.send(Buffer.alloc(0)), 100);
    try {
      assert.match((await odd.waitFor((x) => x.type === 'error', 4000)).message, /No audio received/);
    } finally {
      clearInterval(tick);
    }

    const live = await openLive(wsUrl(s), authHeaders(s.key));
    const silence = Buffer.alloc(3200); // 0.1 s of linear16 silence: audio, though quiet
    const t0 = Date.now();
    let n = 0;
    while (Date.now() - t0 < 2000) {
      live.ws.send(n++ % 2 ? silence : JSON.stringify({ type: 'keepalive' }));
      await sleep(200);
    }
    assert.deepEqual(live.events.filter((e) => e.type === 'error'), [], '2 s of audio and keepalives, idle limit 0.8 s: still open');
    assert.equal(live.ws.readyState, WebSocket.OPEN);
    live.ws.send(JSON.stringify({ type: 'close_stream' }));
    assert.equal((await live.closed).code, 1000);
  });
});
