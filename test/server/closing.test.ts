import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { startTestServer } from '../helpers/server.ts';
import { toneWav } from '../helpers/wav.ts';

/**
 * Two requests on one keep-alive connection: the second is written as soon as the first answer
 * arrives. Resolves with the raw bytes the server sent back.
 */
function sequential(port: number, first: Buffer, second: Buffer): { sent: Promise<void>; reply: Promise<string> } {
  const sock = net.connect(port, '127.0.0.1');
  let data = '';
  let wroteSecond = false;
  sock.on('data', (d) => {
    data += d.toString('latin1');
    if (!wroteSecond && /\r\n\r\n[\s\S]*\}$/.test(data)) {
      wroteSecond = true;
      sock.write(second);
    }
  });
  sock.on('error', () => {});
  const reply = new Promise<string>((resolve) => sock.on('close', () => resolve(data)));
  const sent = new Promise<void>((resolve) => sock.once('connect', () => sock.write(first, () => resolve())));
  return { sent, reply };
}

function post(path: string, key: string, body: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: audio/wav\r\nContent-Length: ${body.length}\r\n\r\n`),
    body,
  ]);
}

test('requests that arrive while the server closes get a 503 in the shape of their path, with Retry-After', async () => {
  // Each recognition busy-waits 800 ms: the first request is in flight when the close starts, and
  // the second, sent on the same connection when the first is answered, arrives during the close.
  const s = await startTestServer({ COCHLEA_ENGINE: 'scripted', COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ decodeDelayMs: 800 }) });
  const port = Number(new URL(s.url).port);
  const wav = toneWav(0.5, 16000, 440, 0.3);
  const c = sequential(port, post('/waves/v1/stt/?model=pulse', s.key, wav), post('/waves/v1/stt/?model=pulse', s.key, wav));
  await c.sent;
  await new Promise((r) => setTimeout(r, 300));
  const closed = s.close();
  const raw = await c.reply;
  await closed;
  const responses = raw.split(/(?=HTTP\/1\.1 )/).filter(Boolean);
  assert.equal(responses.length, 2, raw);
  assert.match(responses[0], /^HTTP\/1\.1 200/);
  assert.match(responses[1], /^HTTP\/1\.1 503/);
  assert.match(responses[1], /retry-after: 5/i);
  const body = JSON.parse(responses[1].slice(responses[1].indexOf('\r\n\r\n') + 4));
  assert.match(body.error, /shutting down/, 'the unified shape of /waves/v1/stt');
  assert.equal(typeof body.request_id, 'string');
});
