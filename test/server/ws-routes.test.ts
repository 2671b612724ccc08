import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer({ COCHLEA_ENGINE: 'scripted' });
});
after(() => s.close());

/** 'open', or the HTTP status the upgrade was answered with. */
function tryUpgrade(path: string, headers: Record<string, string> = {}): Promise<string | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(s.url.replace('http', 'ws') + path, { headers });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => resolve('error'));
  });
}

test('WebSocket upgrades are refused (404, no handshake) on routes that are not real-time endpoints', async () => {
  for (const p of ['/', '/health', '/live', '/waves/v1/stt']) assert.equal(await tryUpgrade(p), 404, p);
  // The real-time endpoint still demands a key before the upgrade, and accepts with one.
  assert.equal(await tryUpgrade('/waves/v1/stt/live'), 401);
  assert.equal(await tryUpgrade('/waves/v1/stt/live?language=en', { authorization: `Bearer ${s.key}` }), 'open');
});
