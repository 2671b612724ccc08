/**
 * The pre-recorded API end to end: a real server on a real port, called over HTTP.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { makeWav, toneWav } from '../helpers/wav.ts';
import { werCounts } from '../../src/util/wer.ts';
import { buildServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Engine } from '../../src/engines/types.ts';

const PATH = '/waves/v1/pulse/get_text';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const noShared = skipWithoutShared();

function goForward() {
  return loadSet('en_pocketsphinx_debian').find((c) => /go forward ten meters/i.test(c.text ?? ''))!;
}

async function post(s: TestServer, query: string, body: BodyInit | Buffer, headers: Record<string, string> = {}, path = PATH) {
  const res = await fetch(`${s.url}${path}${query}`, {
    method: 'POST',
    headers: authHeaders(s.key, { 'content-type': 'audio/wav', ...headers }),
    body: body as BodyInit,
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { res, json, text };
}

function assertPulseError(json: any, field?: string) {
  assert.equal(json.status, 'error');
  assert.equal(typeof json.message, 'string');
  assert.ok(json.message.length > 0);
  assert.ok(Array.isArray(json.errors));
  if (field) assert.ok(json.errors.some((e: any) => e.field === field), `errors should name ${field}: ${JSON.stringify(json.errors)}`);
}

describe('pre-recorded API', () => {
  let s: TestServer;
  let audioServer: http.Server;
  let audioBase = '';
  const served = new Map<string, Buffer>();

  before(async () => {
    s = await startTestServer({ COCHLEA_URL_ALLOW: '127.0.0.1' });
    audioServer = http.createServer((req, res) => {
      const body = served.get(req.url ?? '');
      if (req.url === '/redirect') {
        res.writeHead(302, { location: '/clips/tone.wav' }).end();
        return;
      }
      if (!body) return void res.writeHead(404).end('nope');
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => audioServer.listen(0, '127.0.0.1', r));
    audioBase = `http://127.0.0.1:${(audioServer.address() as AddressInfo).port}`;
    served.set('/clips/tone.wav', toneWav(1));
  });
  after(async () => {
    await s.close();
    await new Promise((r) => audioServer.close(r));
  });

  test('transcribes real speech and answers in Pulse shape', { skip: noShared }, async () => {
    const clip = goForward();
    const wav = fs.readFileSync(clip.audio);
    const { res, json } = await post(s, '?language=en&word_timestamps=true', wav);
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.equal(json.status, 'success');
    assert.equal(typeof json.transcription, 'string');
    const w = werCounts(clip.text!, json.transcription);
    assert.ok(w.errors / w.words <= 0.5, `"${json.transcription}" vs "${clip.text}"`);
    assert.ok(Array.isArray(json.words) && json.words.length >= 2);
    let prevEnd = 0;
    for (const word of json.words) {
      assert.deepEqual(Object.keys(word).sort(), ['confidence', 'end', 'start', 'word']);
      assert.equal(typeof word.word, 'string');
      assert.ok(word.word.length > 0 && !/[<>\[\]()]/.test(word.word), `clean word: ${word.word}`);
      assert.ok(word.start >= prevEnd - 1e-6 && word.end > word.start, `monotonic: ${JSON.stringify(json.words)}`);
      assert.ok(word.end <= clip.duration_s + 0.05);
      assert.ok(word.confidence >= 0 && word.confidence <= 1);
      prevEnd = word.end;
    }
    assert.ok(Array.isArray(json.utterances) && json.utterances.length >= 1);
    for (const u of json.utterances) {
      assert.deepEqual(Object.keys(u).sort(), ['end', 'start', 'text']);
      assert.ok(u.end >= u.start);
    }
    assert.equal(json.utterances.map((u: any) => u.text).join(' '), json.transcription);
    assert.equal(json.words.map((x: any) => x.word).join(' '), json.transcription);
    assert.equal(json.language, 'en');
    assert.ok(Math.abs(json.metadata.duration - clip.duration_s) < 0.05, `duration ${json.metadata.duration} vs ${clip.duration_s}`);
    assert.equal(json.metadata.fileSize, wav.length);
    assert.match(json.request_id, UUID);
    assert.equal(res.headers.get('x-request-id'), json.request_id);
  });

  test('word_timestamps=false (the default) leaves out words and utterances', { skip: noShared }, async () => {
    const { res, json } = await post(s, '?language=en', fs.readFileSync(goForward().audio));
    assert.equal(res.status, 200);
    assert.ok(json.transcription.length > 0);
    assert.equal(json.words, undefined);
    assert.equal(json.utterances, undefined);
  });

  test('every Pulse batch path answers, /waves/v1/stt with model=pulse; unknown params are ignored', async () => {
    const wav = toneWav(0.5);
    for (const [path, q] of [
      ['/waves/v1/pulse/get_text', '?language=en&some_future_flag=1'],
      ['/api/v1/pulse/get_text', '?language=en&word_timestamps=true'],
      ['/waves/v1/stt', '?model=pulse&language=en'],
    ]) {
      const { res, json } = await post(s, q, wav, {}, path);
      assert.equal(res.status, 200, `${path}: ${JSON.stringify(json)}`);
      assert.equal(json.status, 'success');
      assert.ok(Math.abs(json.metadata.duration - 0.5) < 0.01);
    }
    const bad = await post(s, '?model=whisper', wav, {}, '/waves/v1/stt');
    assert.equal(bad.res.status, 400);
    assertPulseError(bad.json, 'model');
  });

  test('auth: missing, wrong, Bearer and ?token=', async () => {
    const wav = toneWav(0.3);
    const none = await fetch(`${s.url}${PATH}`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: new Uint8Array(wav) });
    assert.equal(none.status, 401);
    assert.deepEqual(await none.json(), { message: 'Unauthorized: No tokens provided' });
    const wrong = await fetch(`${s.url}${PATH}`, { method: 'POST', headers: { 'content-type': 'audio/wav', authorization: 'Bearer sk_nope' }, body: new Uint8Array(wav) });
    assert.equal(wrong.status, 401);
    assert.match((await wrong.json()).message, /^Unauthorized/);
    const viaToken = await fetch(`${s.url}${PATH}?token=${s.key}`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: new Uint8Array(wav) });
    assert.equal(viaToken.status, 200);
    const health = await fetch(`${s.url}/health`);
    assert.equal(health.status, 200, 'health is public');
  });

  test('known params are validated; bad values get 400 naming the field', async () => {
    const wav = toneWav(0.3);
    for (const [q, field] of [
      ['?language=xx', 'language'],
      ['?word_timestamps=yes', 'word_timestamps'],
      ['?diarize=1', 'diarize'],
      ['?numerals=maybe', 'numerals'],
      ['?encoding=pcm', 'encoding'],
    ]) {
      const { res, json } = await post(s, q, wav);
      assert.equal(res.status, 400, q);
      assertPulseError(json, field);
    }
    const de = await post(s, '?language=de', wav);
    assert.equal(de.res.status, 400);
    assert.match(de.json.message, /not available on this server/);
    const multi = await post(s, '?language=multi', wav);
    assert.equal(multi.res.status, 200);
  });

  test('bad bodies get 400 and the server keeps serving', async () => {
    const valid = toneWav(1);
    const truncated = valid.subarray(0, 30);
    const random = crypto.randomBytes(64 * 1024);
    for (const [name, body] of [
      ['empty', Buffer.alloc(0)],
      ['truncated header', truncated],
      ['random bytes', random],
      ['text', Buffer.from('hello, this is not audio at all')],
    ] as const) {
      const { res, json } = await post(s, '', body);
      assert.equal(res.status, 400, `${name}: ${JSON.stringify(json)}`);
      assertPulseError(json);
    }
    const notAudio = await post(s, '', random);
    assert.equal(notAudio.json.message, 'Invalid file format. Supported formats: audio/*');
    const ok = await post(s, '', valid);
    assert.equal(ok.res.status, 200, 'still serving after bad input');
  });

  test('JSON bodies: bad JSON, missing url, and URL input from an allow-listed local server', async () => {
    const badJson = await post(s, '', '{"url": ', { 'content-type': 'application/json' });
    assert.equal(badJson.res.status, 400);
    assertPulseError(badJson.json);
    const noUrl = await post(s, '', JSON.stringify({ link: 'x' }), { 'content-type': 'application/json' });
    assert.equal(noUrl.res.status, 400);
    assertPulseError(noUrl.json, 'url');
    const ftp = await post(s, '', JSON.stringify({ url: 'ftp://127.0.0.1/a.wav' }), { 'content-type': 'application/json' });
    assert.equal(ftp.res.status, 400);
    const missing = await post(s, '', JSON.stringify({ url: `${audioBase}/clips/missing.wav` }), { 'content-type': 'application/json' });
    assert.equal(missing.res.status, 400);
    assert.match(missing.json.message, /404/);

    const good = await post(s, '?word_timestamps=true', JSON.stringify({ url: `${audioBase}/clips/tone.wav` }), { 'content-type': 'application/json' });
    assert.equal(good.res.status, 200, JSON.stringify(good.json));
    assert.equal(good.json.metadata.filename, 'tone.wav');
    assert.equal(good.json.metadata.fileSize, served.get('/clips/tone.wav')!.length);
    const redirected = await post(s, '', JSON.stringify({ url: `${audioBase}/redirect` }), { 'content-type': 'application/json' });
    assert.equal(redirected.res.status, 200);
    assert.equal(redirected.json.metadata.filename, 'tone.wav');
  });

  test('URLs on private or loopback addresses are refused unless allow-listed', async () => {
    const strict = await startTestServer();
    try {
      for (const url of [`${audioBase}/clips/tone.wav`, 'http://localhost:9/x.wav', 'http://169.254.169.254/latest/meta-data', 'http://[::1]/a.wav', 'http://10.0.0.1/a.wav']) {
        const { res, json } = await post(strict, '', JSON.stringify({ url }), { 'content-type': 'application/json' });
        assert.equal(res.status, 400, url);
        assert.match(json.message, /private or local address/, url);
      }
    } finally {
      await strict.close();
    }
  });

  test('bodies over the limit get 413, declared or streamed', async () => {
    const small = await startTestServer({ COCHLEA_MAX_BODY_MB: String(64 / 1024) }); // 64 KiB
    try {
      const big = toneWav(5); // 160 KB
      const declared = await post(small, '', big);
      assert.equal(declared.res.status, 413);
      assert.equal(declared.json.status, 'error');
      // Chunked upload with no content-length: the limit is enforced while streaming.
      const chunks = [big.subarray(0, 40_000), big.subarray(40_000, 80_000), big.subarray(80_000)];
      const stream = new ReadableStream({
        pull(c) {
          const n = chunks.shift();
          if (n) c.enqueue(n);
          else c.close();
        },
      });
      const streamed = await fetch(`${small.url}${PATH}`, {
        method: 'POST',
        headers: authHeaders(small.key, { 'content-type': 'audio/wav' }),
        body: stream,
        duplex: 'half',
      } as RequestInit);
      assert.equal(streamed.status, 413);
      const under = await post(small, '', toneWav(1));
      assert.equal(under.res.status, 200);
    } finally {
      await small.close();
    }
  });

  test('8 parallel requests all succeed', { skip: noShared }, async () => {
    const clips = loadSet('en_pocketsphinx_debian').slice(0, 8);
    const results = await Promise.all(clips.map((c) => post(s, '?word_timestamps=true', fs.readFileSync(c.audio))));
    for (const [i, r] of results.entries()) {
      assert.equal(r.res.status, 200, `${clips[i].id}: ${r.text}`);
      assert.ok(r.json.transcription.length > 0, clips[i].id);
    }
    assert.equal(new Set(results.map((r) => r.json.request_id)).size, 8);
  });
});

describe('internal errors', () => {
  test('a failing engine gives 500 {error:"Internal server error"} without internals', async () => {
    const failing: Engine = {
      info: { name: 'failing', languages: ['en'], streaming: false, wordTimestamps: true, wordConfidence: false },
      async init() {},
      async recognize() {
        throw new Error('secret native detail at /opt/engine.so');
      },
      stream() {
        throw new Error('not used');
      },
      async close() {},
    };
    const config = loadConfig({ COCHLEA_API_KEYS: 'sk_x', LOG_LEVEL: 'silent', HOME: '/nonexistent' });
    const app = await buildServer({ config, engine: failing, keys: ['sk_x'] });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const port = (app.server.address() as AddressInfo).port;
      const res = await fetch(`http://127.0.0.1:${port}${PATH}`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk_x', 'content-type': 'audio/wav' },
        body: new Uint8Array(makeWav(new Float32Array(1600))),
      });
      assert.equal(res.status, 500);
      const text = await res.text();
      assert.deepEqual(JSON.parse(text), { error: 'Internal server error' });
      assert.ok(!text.includes('secret'));
    } finally {
      await app.close();
    }
  });
});
