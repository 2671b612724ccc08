/**
 * The SDK (client/) against the real server: batch, streaming, finalize, close, errors with
 * Pulse's status and message, abort; and retries (through a local front that refuses or cuts).
 * The server runs the scripted engine: audio is bursts of tone, each of which comes back as the
 * next script word with its true times, so results are exact (accuracy is wer.test.ts's job).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import {
  CochleaApiError,
  CochleaClient,
  CochleaConnectionError,
  CochleaStreamClosedError,
  stream as streamFn,
  transcribe as transcribeFn,
  type RetryInfo,
  type StreamEvent,
  type TranscriptionEvent,
} from '../../client/src/index.ts';
import os from 'node:os';
import path from 'node:path';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { bursts, burstsPcm16, burstsWav, scriptedEnv } from '../helpers/scripted.ts';
import { startFakeFront } from './fake-proxy.ts';

/** The words as spoken: the pipeline punctuates and cases transcripts (tested in test/pipeline/). */
const spoken = (x: string) => x.toLowerCase().replace(/[.,?!]/g, '');
const SCRIPT = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
/** A 4-burst WAV on disk (what a user's file is to the SDK): "alpha bravo charlie delta". */
const FOUR = bursts(4);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-sdk-'));
const fourWav = path.join(tmp, 'four.wav');
fs.writeFileSync(fourWav, burstsWav(4));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const FAST_RETRY = { retries: 3, minDelayMs: 5, maxDelayMs: 20 };

/** Pulse's own error for a request, fetched raw, to compare with what the SDK throws. */
async function rawError(url: string, init: RequestInit): Promise<{ status: number; body: any }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

describe('SDK against the real server', () => {
  let s: TestServer;
  let client: CochleaClient;
  let audioServer: http.Server;
  let audioBase = '';

  before(async () => {
    s = await startTestServer({ ...scriptedEnv({ words: SCRIPT }), COCHLEA_URL_ALLOW: '127.0.0.1', COCHLEA_MAX_FRAME_BYTES: '65536' });
    client = new CochleaClient({ baseUrl: s.url, apiKey: s.key, retry: FAST_RETRY });
    audioServer = http.createServer((req, res) => {
      if (req.url !== '/clips/four.wav') return void res.writeHead(404).end();
      const b = fs.readFileSync(fourWav);
      res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': b.length }).end(b);
    });
    await new Promise<void>((r) => audioServer.listen(0, '127.0.0.1', r));
    audioBase = `http://127.0.0.1:${(audioServer.address() as AddressInfo).port}`;
  });
  after(async () => {
    await s?.close();
    await new Promise((r) => audioServer.close(r));
  });

  test('transcribe: path, Buffer, Blob, ReadableStream and {url} give the same typed Pulse response', async () => {
    const bytes = fs.readFileSync(fourWav);
    const fromPath = await client.transcribe(fourWav, { language: 'en', wordTimestamps: true });
    assert.equal(fromPath.status, 'success');
    assert.equal(spoken(fromPath.transcription), 'alpha bravo charlie delta');
    assert.equal(fromPath.metadata.filename, 'four.wav');
    assert.equal(fromPath.metadata.fileSize, bytes.length);
    assert.ok(Math.abs(fromPath.metadata.duration - FOUR.duration) < 0.01);
    assert.match(fromPath.request_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(
      fromPath.words!.map((w) => [spoken(w.word), w.start, w.end]),
      FOUR.times.map((t, i) => [SCRIPT[i], t.start, t.end]),
      'typed words with the true times',
    );
    for (const w of fromPath.words!) assert.ok(w.confidence >= 0 && w.confidence <= 1);
    assert.ok(fromPath.utterances!.length >= 1);

    const fromBuffer = await client.transcribe(bytes);
    assert.ok(!fromBuffer.words?.length, 'word timestamps are off by default, as in Pulse');
    const fromBlob = await client.transcribe(new Blob([new Uint8Array(bytes)], { type: 'audio/wav' }), { filename: 'x.wav' });
    assert.equal(fromBlob.metadata.filename, 'x.wav');
    const fromStream = await client.transcribe(Readable.toWeb(fs.createReadStream(fourWav)) as ReadableStream<Uint8Array>);
    const fromIterable = await client.transcribe(fs.createReadStream(fourWav));
    // The module-level shortcut with inline client settings.
    const fromUrl = await transcribeFn({ url: `${audioBase}/clips/four.wav` }, { baseUrl: s.url, apiKey: s.key });
    assert.equal(fromUrl.metadata.filename, 'four.wav');
    for (const r of [fromBuffer, fromBlob, fromStream, fromIterable, fromUrl]) assert.equal(r.transcription, fromPath.transcription);
  });

  test('errors carry Pulse\'s HTTP status and message', async () => {
    const url = `${s.url}/waves/v1/pulse/get_text?language=en`;
    const body = new Uint8Array(crypto.getRandomValues(new Uint8Array(2000)));

    const noKey = new CochleaClient({ baseUrl: s.url, apiKey: '', retry: FAST_RETRY });
    await assert.rejects(noKey.transcribe(body), (e: any) => e instanceof CochleaApiError && e.status === 401 && e.message === 'Unauthorized: No tokens provided');
    const badKey = new CochleaClient({ baseUrl: s.url, apiKey: 'sk_wrong', retry: FAST_RETRY });
    await assert.rejects(badKey.transcribe(body), (e: any) => e.status === 401 && /Invalid token/.test(e.message));

    const raw400 = await rawError(url, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'audio/wav' }), body });
    assert.equal(raw400.status, 400);
    await assert.rejects(client.transcribe(body), (e: any) => {
      assert.ok(e instanceof CochleaApiError);
      assert.equal(e.status, 400);
      assert.equal(e.message, raw400.body.message);
      assert.deepEqual(e.body, raw400.body);
      assert.ok(e.requestId);
      return true;
    });
    await assert.rejects(client.transcribe(body, { language: 'xx' }), (e: any) => e.status === 400 && e.errors[0].field === 'language' && /Unsupported language/.test(e.message));
    await assert.rejects(client.transcribe({ url: 'ftp://example.com/a.wav' }), (e: any) => e.status === 400);
    await assert.rejects(client.transcribe('/definitely/not/here.wav'), /cannot read/);
  });

  test('abort and timeout', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(client.transcribe(new Uint8Array(10), { signal: ac.signal }), { name: 'AbortError' });
    // A body that never ends: only the timeout can finish the call.
    const never = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
    await assert.rejects(client.transcribe(never, { timeoutMs: 200 }), { name: 'TimeoutError' });
  });

  test('stream: callbacks and async iterator see the same events; finalize; close waits for is_last', async () => {
    const a = burstsPcm16(3);
    const b = burstsPcm16(4);
    const viaCallback: StreamEvent[] = [];
    const finals: TranscriptionEvent[] = [];
    let opened = 0;
    const serverErrors: string[] = [];
    const session = client.stream({ language: 'en', onEvent: (e) => viaCallback.push(e), onOpen: () => opened++, onServerError: (e) => serverErrors.push(e.message) });
    session.on('final', (e) => finals.push(e));
    const iterated: StreamEvent[] = [];
    const consumer = (async () => {
      for await (const ev of session) iterated.push(ev);
    })();

    session.write(a); // written before the socket is open: queued, then sent in order
    const f = await session.finalize();
    assert.equal(f.from_finalize, true);
    assert.equal(f.is_last, false, 'the session continues after finalize');
    assert.equal(spoken(session.transcript), 'alpha bravo charlie', 'the finalize covered all audio written before it');
    const afterFinalize = iterated.length;
    for (let off = 0; off < b.length; off += 3001) session.write(b.subarray(off, off + 3001)); // odd sizes
    const result = await session.close();
    await consumer;

    assert.deepEqual(serverErrors, [], 'the server accepts audio after finalize');
    assert.equal(opened, 1);
    assert.equal(result.code, 1000);
    assert.equal(result.last.is_last, true);
    assert.equal(result.bytesSent, a.length + b.length);
    assert.equal(spoken(result.transcript), 'alpha bravo charlie delta echo foxtrot golf');
    assert.deepEqual(iterated, viaCallback, 'iterator and callbacks get the same events in the same order');
    assert.equal(iterated.filter((e) => e.type === 'transcription' && e.is_last).length, 1, 'exactly one is_last');
    assert.equal(iterated.at(-1), result.last, 'is_last is the last event');
    assert.ok(iterated.length > afterFinalize, 'events after finalize');
    assert.ok(iterated.some((e) => e.type === 'transcription' && !e.is_final), 'partials arrive');
    assert.equal(session.sessionId, f.session_id);
    assert.equal(finals.map((e) => e.transcript).filter(Boolean).join(' '), result.transcript);
    for (const e of finals) for (const w of e.words ?? []) assert.ok(w.start >= 0 && w.end >= w.start);
    assert.equal(session.state, 'closed');
    assert.throws(() => session.write(b), /after close/);
  });

  test('stream: refused upgrades are typed errors (401, 400) and are not retried', async () => {
    const retries: RetryInfo[] = [];
    const bad = new CochleaClient({ baseUrl: s.url, apiKey: 'sk_wrong', retry: FAST_RETRY, onRetry: (i) => retries.push(i) });
    await assert.rejects(bad.connect(), (e: any) => e instanceof CochleaApiError && e.status === 401 && /Invalid token/.test(e.message));
    await assert.rejects(client.connect({ eouTimeoutMs: 50 }), (e: any) => e.status === 400 && e.errors[0].field === 'eou_timeout_ms');
    // The browser way: a WebSocket class without headers → ?token=, and the refusal explained over HTTP.
    const browserLike = new CochleaClient({ baseUrl: s.url, apiKey: 'sk_wrong', webSocket: WebSocket as any, retry: FAST_RETRY, onRetry: (i) => retries.push(i) });
    await assert.rejects(browserLike.connect(), (e: any) => e instanceof CochleaApiError && e.status === 401);
    assert.equal(retries.length, 0);
  });

  test('stream: the browser way (?token=) transcribes too', async () => {
    const session = streamFn({ baseUrl: s.url, apiKey: s.key, webSocket: WebSocket as any });
    session.write(burstsPcm16(2));
    const r = await session.close();
    assert.equal(spoken(r.transcript), 'alpha bravo');
  });

  test('stream: server error events are delivered and the session goes on', async () => {
    const errors: string[] = [];
    const session = client.stream({ maxFrameBytes: 200_000, onServerError: (e) => errors.push(e.message) });
    session.write(new Uint8Array(100_000)); // over the server's 64 KiB frame limit
    session.write(new Uint8Array(16000)); // 0.5 s of silence, accepted
    const r = await session.close();
    assert.equal(errors.length, 1);
    assert.match(errors[0], /exceeds the maximum/);
    assert.equal(r.last.is_last, true);
  });

  test('stream: AbortSignal stops the session; pending promises reject with AbortError', async () => {
    const ac = new AbortController();
    const session = client.stream({ signal: ac.signal });
    await session.ready;
    session.write(new Uint8Array(32000));
    const iter = (async () => {
      for await (const _ of session) {
        /* drain */
      }
    })();
    const fin = session.finalize();
    ac.abort();
    await assert.rejects(session.done, { name: 'AbortError' });
    await assert.rejects(iter, { name: 'AbortError' });
    await assert.rejects(fin, { name: 'AbortError' });
    await assert.rejects(session.close(), { name: 'AbortError' });
  });

  describe('retries', () => {
    test('batch: 503 and 429 are retried with back-off, the same audio re-sent whole; then the real answer', async () => {
      const front = await startFakeFront(s.url, {
        http: (n) => (n === 0 ? { refuse: 503, retryAfter: '0' } : n === 1 ? { refuse: 429 } : 'forward'),
      });
      try {
        const retries: RetryInfo[] = [];
        const c = new CochleaClient({ baseUrl: front.url, apiKey: s.key, retry: FAST_RETRY, onRetry: (i) => retries.push(i) });
        const file = fourWav;
        const r = await c.transcribe(file);
        assert.equal(spoken(r.transcription), 'alpha bravo charlie delta');
        assert.deepEqual(
          retries.map((i) => (i.error as CochleaApiError).status),
          [503, 429],
        );
        assert.deepEqual(retries.map((i) => i.attempt), [1, 2]);
        const size = fs.statSync(file).size;
        assert.deepEqual(front.requests.map((q) => q.bodyBytes), [size, size, size]);
        assert.ok(front.requests.every((q) => q.auth === `Bearer ${s.key}`));
      } finally {
        await front.close();
      }
    });

    test('batch: gives up after `retries`; never retries 400/401/500; never re-sends a one-shot stream it already read', async () => {
      const front = await startFakeFront(s.url, { http: (n) => ({ refuse: n < 10 ? 503 : 400 }) });
      try {
        const retries: RetryInfo[] = [];
        const c = new CochleaClient({ baseUrl: front.url, apiKey: s.key, retry: { retries: 2, minDelayMs: 5 }, onRetry: (i) => retries.push(i) });
        await assert.rejects(c.transcribe(new Uint8Array(100)), (e: any) => e.status === 503 && e.message === 'refused with 503');
        assert.equal(front.requests.length, 3);
        assert.equal(retries.length, 2);

        const before = front.requests.length;
        const once = Readable.from([Buffer.alloc(5000, 1), Buffer.alloc(5000, 2)]);
        await assert.rejects(c.transcribe(once), (e: any) => e.status === 503);
        assert.equal(front.requests.length - before, 1, 'the stream was read, so it is not re-sent');
        assert.equal(front.requests.at(-1)!.bodyBytes, 10000);
      } finally {
        await front.close();
      }
      for (const status of [400, 401, 500]) {
        const f = await startFakeFront(s.url, { http: () => ({ refuse: status }) });
        try {
          const c = new CochleaClient({ baseUrl: f.url, apiKey: s.key, retry: FAST_RETRY });
          await assert.rejects(c.transcribe(new Uint8Array(100)), (e: any) => e.status === status);
          assert.equal(f.requests.length, 1, `${status} is not retried`);
        } finally {
          await f.close();
        }
      }
    });

    test('connection refused: retried, then a CochleaConnectionError saying no audio was sent', async () => {
      const probe = http.createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const port = (probe.address() as AddressInfo).port;
      await new Promise((r) => probe.close(r));
      const retries: RetryInfo[] = [];
      const c = new CochleaClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'k', retry: FAST_RETRY, onRetry: (i) => retries.push(i) });
      await assert.rejects(c.transcribe(new Uint8Array(100)), (e: any) => e instanceof CochleaConnectionError && e.audioSent === false && /ECONNREFUSED/.test(e.message));
      assert.equal(retries.length, 3);
      const sr: RetryInfo[] = [];
      const c2 = new CochleaClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: 'k', retry: FAST_RETRY, onRetry: (i) => sr.push(i) });
      await assert.rejects(c2.connect(), (e: any) => e instanceof CochleaConnectionError && e.audioSent === false);
      assert.equal(sr.length, 3);
    });

    test('stream: a 503 upgrade is retried; audio written meanwhile is sent once, after the retry', async () => {
      const front = await startFakeFront(s.url, { upgrade: (n) => (n === 0 ? { refuse: 503 } : { forward: true }) });
      try {
        const retries: RetryInfo[] = [];
        const c = new CochleaClient({ baseUrl: front.url, apiKey: s.key, retry: FAST_RETRY, onRetry: (i) => retries.push(i) });
        const session = c.stream();
        const pcm = burstsPcm16(4);
        session.write(pcm);
        const r = await session.close();
        assert.equal(spoken(r.transcript), 'alpha bravo charlie delta', 'sent once: no burst twice');
        assert.equal(retries.length, 1);
        assert.equal((retries[0].error as CochleaApiError).status, 503);
        assert.equal(front.upgrades.length, 2);
        assert.equal(front.upgrades[0].clientBytes, 0, 'nothing was sent on the refused attempt');
        assert.equal(r.bytesSent, pcm.length);
      } finally {
        await front.close();
      }
    });

    test('stream: a connection lost after audio was sent is an error, never a silent reconnect', async () => {
      const front = await startFakeFront(s.url, { upgrade: () => ({ forward: true, cutAfterClientBytes: 40_000 }) });
      try {
        const retries: RetryInfo[] = [];
        const c = new CochleaClient({ baseUrl: front.url, apiKey: s.key, retry: FAST_RETRY, onRetry: (i) => retries.push(i) });
        const session = c.stream();
        const errors: Error[] = [];
        session.on('error', (e) => errors.push(e));
        await session.ready;
        for (let i = 0; i < 20; i++) session.write(new Uint8Array(4096));
        await assert.rejects(session.done, (e: any) => e instanceof CochleaConnectionError && e.audioSent === true);
        assert.equal(front.upgrades.length, 1, 'no reconnect');
        assert.equal(retries.length, 0);
        assert.equal(errors.length, 1);
        assert.throws(() => session.write(new Uint8Array(10)), CochleaConnectionError);
      } finally {
        await front.close();
      }
    });

    test('stream: closed by the server without is_last → CochleaStreamClosedError with code and message', async () => {
      // A recognizer that takes 20 ms per 0.25 s pass: 40 s sent at once queue up for ~3 s.
      const tight = await startTestServer({ ...scriptedEnv({ words: SCRIPT, decodeDelayMs: 20 }), COCHLEA_MAX_BUFFERED_SECONDS: '1' });
      try {
        const c = new CochleaClient({ baseUrl: tight.url, apiKey: tight.key, retry: FAST_RETRY });
        const session = c.stream({ highWaterMark: 64 << 20 });
        await session.ready;
        // Far more than 1 s at once: the server reports the buffer limit and closes 1008.
        for (let i = 0; i < 40; i++) session.write(new Uint8Array(32000));
        await assert.rejects(session.done, (e: any) => e instanceof CochleaStreamClosedError && e.code === 1008 && /Too much audio queued/.test(e.message));
      } finally {
        await tight.close();
      }
    });
  });
});
