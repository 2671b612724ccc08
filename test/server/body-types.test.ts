import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startTestServer, authHeaders, type TestServer } from '../helpers/server.ts';
import { toneWav } from '../helpers/wav.ts';

describe('request bodies of every content type get a 2xx or a 4xx, never a 500 or a fetch of the wrong URL', () => {
  let s: TestServer;
  let hits = 0;
  let audio: http.Server;
  let audioUrl = '';
  before(async () => {
    audio = http.createServer((req, res) => {
      hits++;
      res.setHeader('content-type', 'audio/wav');
      res.end(toneWav(0.5));
    });
    await new Promise<void>((r) => audio.listen(0, '127.0.0.1', r));
    audioUrl = `http://127.0.0.1:${(audio.address() as { port: number }).port}`;
    s = await startTestServer({ COCHLEA_ENGINE: 'scripted', COCHLEA_URL_ALLOW: '127.0.0.1' });
  });
  after(async () => {
    await s.close();
    audio.close();
  });

  test('application/<x>+json is parsed as JSON; the request-line URL is never fetched', async () => {
    hits = 0;
    // The request line points at the audio server; the body has no url: must be a 400, no fetch.
    const r = await fetch(`${s.url}/waves/v1/pulse/get_text?x=${encodeURIComponent(audioUrl + '/a.wav')}`, {
      method: 'POST',
      headers: authHeaders(s.key, { 'content-type': 'application/vnd.api+json' }),
      body: JSON.stringify({ nourl: true }),
    });
    assert.equal(r.status, 400);
    assert.equal(hits, 0);
    const ok = await fetch(`${s.url}/waves/v1/pulse/get_text`, {
      method: 'POST',
      headers: authHeaders(s.key, { 'content-type': 'application/vnd.api+json' }),
      body: JSON.stringify({ url: audioUrl + '/b.wav' }),
    });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(hits, 1);
  });

  test('text/plain bodies are treated as audio: invalid audio is a 400, not a 500', async () => {
    const r = await fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'text/plain' }), body: 'hello there' });
    assert.equal(r.status, 400, await r.clone().text());
    const wav = await fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'text/plain' }), body: new Uint8Array(toneWav(0.5)) });
    assert.equal(wav.status, 200);
  });

  test('a malformed percent-encoding in Content-Disposition is not a 500', async () => {
    const r = await fetch(`${s.url}/waves/v1/pulse/get_text`, {
      method: 'POST',
      headers: authHeaders(s.key, { 'content-type': 'audio/wav', 'content-disposition': 'attachment; filename="%E0%A4%A.wav"' }),
      body: new Uint8Array(toneWav(0.5)),
    });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(((await r.json()) as { metadata: { filename?: string } }).metadata.filename, '%E0%A4%A.wav');
  });
});
