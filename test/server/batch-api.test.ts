/**
 * The pre-recorded API end to end: a real server on a real port, called over HTTP. The scripted
 * engine (every tone burst is the next script word, with its true times) stands in for speech
 * recognition: accuracy is measured in wer.test.ts, this file is about the protocol.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { makeWav, toneWav } from '../helpers/wav.ts';
import { burstsWav } from './bursts.ts';
import { buildServer } from '../../src/server/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Engine } from '../../src/engines/types.ts';

const PATH = '/waves/v1/pulse/get_text';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SCRIPTED = { COCHLEA_ENGINE: 'scripted' };
/** Three bursts: "one" 0.2–0.5, "two" 0.8–1.1, "three" 2.5–2.8 (a long pause: two utterances). */
const BURSTS: [number, number][] = [[0.2, 0.5], [0.8, 1.1], [2.5, 2.8]];
const speechWav = () => burstsWav(BURSTS, 3.5);

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
    s = await startTestServer({ ...SCRIPTED, COCHLEA_URL_ALLOW: '127.0.0.1' });
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

  test('answers in Pulse shape: words with true times, utterances, metadata, request id', async () => {
    const wav = speechWav();
    // format=false: the recognizer's words as spoken (punctuation, casing and ITN are the
    // pipeline's, tested in test/pipeline/ and below).
    const { res, json } = await post(s, '?language=en&word_timestamps=true&format=false', wav);
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.equal(json.status, 'success');
    assert.equal(json.transcription, 'one two three');
    assert.deepEqual(
      json.words.map((w: any) => [w.word, w.start, w.end]),
      [['one', 0.2, 0.5], ['two', 0.8, 1.1], ['three', 2.5, 2.8]],
    );
    for (const word of json.words) {
      assert.deepEqual(Object.keys(word).sort(), ['confidence', 'end', 'start', 'word']);
      assert.ok(word.confidence >= 0 && word.confidence <= 1);
    }
    assert.deepEqual(json.utterances, [
      { text: 'one two', start: 0.2, end: 1.1 },
      { text: 'three', start: 2.5, end: 2.8 },
    ]);
    assert.equal(json.language, 'en');
    assert.equal(json.metadata.duration, 3.5);
    assert.equal(json.metadata.fileSize, wav.length);
    assert.match(json.request_id, UUID);
    assert.equal(res.headers.get('x-request-id'), json.request_id);
  });

  test('word_timestamps=false (the default): words and utterances are empty arrays, as on Pulse', async () => {
    const { res, json } = await post(s, '?language=en', speechWav());
    assert.equal(res.status, 200);
    // Default formatting: punctuated and cased, a sentence break at the 1.4 s pause.
    assert.equal(json.transcription, 'One two. Three.');
    assert.deepEqual(json.words, []);
    assert.deepEqual(json.utterances, []);
  });

  test('every Pulse batch path answers, with and without a trailing slash; unknown params are ignored', async () => {
    const wav = toneWav(0.5);
    for (const [path, q] of [
      ['/waves/v1/pulse/get_text', '?language=en&some_future_flag=1'],
      ['/waves/v1/pulse/get_text/', '?language=en'],
      ['/api/v1/pulse/get_text', '?language=en&word_timestamps=true'],
      ['/api/v1/pulse/get_text/', '?language=en'],
      ['/waves/v1/stt', '?model=pulse&language=en'],
      // The official SDK, LiveKit Python and JS post here.
      ['/waves/v1/stt/', '?model=pulse&language=en'],
    ]) {
      const { res, json } = await post(s, q, wav, {}, path);
      assert.equal(res.status, 200, `${path}: ${JSON.stringify(json)}`);
      assert.equal(json.status, 'success');
      assert.ok(Math.abs(json.metadata.duration - 0.5) < 0.01);
    }
  });

  test('/waves/v1/stt errors use the unified shape {error, request_id, details}; legacy paths keep {status, message, errors}', async () => {
    const wav = toneWav(0.3);
    for (const path of ['/waves/v1/stt', '/waves/v1/stt/']) {
      const bad = await post(s, '?model=whisper', wav, {}, path);
      assert.equal(bad.res.status, 400);
      assert.match(bad.json.error, /model must be "pulse" or "pulse-pro"/);
      assert.match(bad.json.request_id, UUID);
      assert.equal(bad.json.request_id, bad.res.headers.get('x-request-id'));
      assert.ok(bad.json.details.some((d: any) => d.field === 'model'));
      assert.equal(bad.json.status, undefined);
      // A wrong key on the slash path is a 401 (the SDK's auth handling), not a 404.
      const wrong = await fetch(`${s.url}${path}?model=pulse`, { method: 'POST', headers: { authorization: 'Bearer sk_nope', 'content-type': 'audio/wav' }, body: new Uint8Array(wav) });
      assert.equal(wrong.status, 401, path);
      const body = await wrong.json();
      assert.match(body.error, /^Unauthorized/);
      assert.match(body.request_id, UUID);
    }
    const legacy = await post(s, '?language=xx', wav);
    assertPulseError(legacy.json, 'language');
  });

  test('model=pulse-pro is an alias served by the installed engine, with Pulse Pro response fields', async () => {
    const wav = speechWav();
    const { res, json } = await post(s, '?model=pulse-pro&language=en&word_timestamps=true&format=false', wav, {}, '/waves/v1/stt/');
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.equal(json.transcription, 'one two three');
    assert.equal(json.words.length, 3);
    assert.equal(json.utterances, undefined, 'Pulse Pro has no utterances');
    assert.equal(json.language, 'en');
    assert.match(json.request_id, UUID);
    assert.equal(json.totalBytes, wav.length);
    assert.equal(json.metadata.duration, 3.5);
    assert.equal(typeof json.metadata.processing_time_ms, 'number');
    assert.equal(typeof json.metadata.rtfx, 'number');
    assert.equal(json.metadata.num_chunks, 1);
    // Pulse Pro takes raw bytes only.
    const url = await post(s, '?model=pulse-pro', JSON.stringify({ url: `${audioBase}/clips/tone.wav` }), { 'content-type': 'application/json' }, '/waves/v1/stt');
    assert.equal(url.res.status, 400);
    assert.ok(url.json.details.some((d: any) => d.field === 'url'));
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

  test('known params are validated; bad values get 400 naming the field and saying what is wrong', async () => {
    const wav = toneWav(0.3);
    for (const [q, field] of [
      ['?language=xx', 'language'],
      ['?word_timestamps=yes', 'word_timestamps'],
      ['?diarize=1', 'diarize'],
      ['?numerals=maybe', 'numerals'],
      ['?encoding=pcm', 'encoding'],
      ['?format=no', 'format'],
      ['?itn_normalize=1', 'itn_normalize'],
      ['?webhook_method=PUT', 'webhook_method'],
    ]) {
      const { res, json } = await post(s, q, wav);
      assert.equal(res.status, 400, q);
      assertPulseError(json, field);
    }
    const cases: [string, string, RegExp][] = [
      [`?keywords=${'a'.repeat(4097)}`, 'keywords', /keywords must be at most 4096 characters/],
      [`?keywords=${Array.from({ length: 101 }, (_, i) => `w${i}`).join(',')}`, 'keywords', /101 keywords.*at most 100/],
      ['?keywords=Jensen%20Huang:-2', 'keywords', /non-negative/],
      ['?keywords=Blackwell:lots', 'keywords', /intensifier.*must be a number/],
      [`?webhook_url=https://example.com/${'x'.repeat(2048)}`, 'webhook_url', /webhook_url must be an http\(s\) URL of at most 2048/],
      ['?webhook_url=notaurl', 'webhook_url', /webhook_url must be an http\(s\) URL/],
      ['?diarize=true&diarize=false', 'diarize', /more than once/],
    ];
    for (const [q, field, re] of cases) {
      const { res, json } = await post(s, q, wav);
      assert.equal(res.status, 400, q.slice(0, 60));
      assertPulseError(json, field);
      assert.match(json.message, re);
      assert.doesNotMatch(json.message, /true" or "false/, q.slice(0, 60));
    }
    const ok = await post(s, '?keywords=Blackwell:1.5,Jensen%20Huang:2,NVIDIA', wav);
    assert.equal(ok.res.status, 200, ok.text);
  });

  test('languages: every Pulse code and multi-language mode is accepted or refused with the fix', async () => {
    const wav = toneWav(0.3);
    // The scripted engine serves English: each detection mode is routed to it and reports it.
    for (const lang of ['multi', 'auto', 'multi-eu', 'multi-indic', 'north_indic', 'multi-south-indic', 'multi-asian', 'en']) {
      const { res, json } = await post(s, `?language=${lang}`, wav);
      assert.equal(res.status, 200, `${lang}: ${JSON.stringify(json)}`);
      assert.equal(json.language, 'en', lang);
    }
    // The legacy batch path defaults to multi-eu (Pulse); served as English here.
    const none = await post(s, '', wav);
    assert.equal(none.json.language, 'en');
    // A single concrete language the engine cannot serve: 400 naming language, with the command.
    for (const lang of ['de', 'hi-dev', 'yue']) {
      const { res, json } = await post(s, `?language=${lang}`, wav);
      assert.equal(res.status, 400, lang);
      assertPulseError(json, 'language');
      assert.match(json.message, /not available on this server/);
      assert.match(json.message, /cochlea models pull/);
    }
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
    const strict = await startTestServer(SCRIPTED);
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
    const small = await startTestServer({ ...SCRIPTED, COCHLEA_MAX_BODY_MB: String(64 / 1024) }); // 64 KiB
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

  test('8 parallel requests all succeed', async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => burstsWav(Array.from({ length: i + 1 }, (_, k): [number, number] => [0.2 + k * 0.4, 0.4 + k * 0.4]), 4));
    // format=false: one word per burst (ITN would join a run of digit words into one token).
    const results = await Promise.all(bodies.map((b) => post(s, '?word_timestamps=true&format=false', b)));
    for (const [i, r] of results.entries()) {
      assert.equal(r.res.status, 200, r.text);
      assert.equal(r.json.words.length, i + 1, 'each answer belongs to its own request');
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
