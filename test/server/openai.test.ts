/**
 * The OpenAI-compatible API driven by the official `openai` npm client against the real server
 * (scripted engine: every tone burst is the next script word, with the burst's true times).
 * Captions are parsed with the `subtitle` package.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { parseSync, type NodeCue } from 'subtitle';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { burstAudio, scriptedEnv, SCRIPT } from '../helpers/bursts.ts';
import { makeWav } from '../helpers/wav.ts';
import { promptKeywords } from '../../src/server/openai.ts';

// Three "sentences" (3, 2 and 3 words) separated by 1.5 s pauses.
const audio = burstAudio([3, 2, 3]);
const TEXT = SCRIPT.slice(0, 8).join(' ');
const SENTENCES = [SCRIPT.slice(0, 3).join(' '), SCRIPT.slice(3, 5).join(' '), SCRIPT.slice(5, 8).join(' ')];
/**
 * The words as spoken: the pipeline punctuates and cases the transcript (tested in
 * test/pipeline/punctuation.test.ts); these tests check the API's shapes and times.
 */
const norm = (x: string) => x.toLowerCase().replace(/[.,?!]/g, '');
/** Burst edges fall on 10 ms analysis frames. */
const TIME_TOL = 0.011;

let s: TestServer;
let client: OpenAI;

const file = () => toFile(audio.wav, 'bursts.wav', { type: 'audio/wav' });

async function raw(path: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(s.url + path, init);
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: r.status, body, headers: r.headers };
}

function form(fields: Record<string, string | string[]>, fileBytes?: Uint8Array, fileField = 'file'): FormData {
  const fd = new FormData();
  if (fileBytes) fd.append(fileField, new Blob([new Uint8Array(fileBytes)], { type: 'audio/wav' }), 'a.wav');
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) fd.append(k, x);
  return fd;
}

function assertOpenAiError(body: any, param: string | null) {
  assert.deepEqual(Object.keys(body), ['error'], JSON.stringify(body));
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(body.error.param, param, JSON.stringify(body));
}

describe('OpenAI-compatible API', () => {
  before(async () => {
    s = await startTestServer({ ...scriptedEnv(), COCHLEA_MAX_BODY_MB: '1' });
    client = new OpenAI({ apiKey: s.key, baseURL: s.url + '/v1', maxRetries: 0 });
  });
  after(async () => s?.close());

  test('models.list names the engine and the OpenAI aliases; models.retrieve', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ['scripted', 'whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe']);
    const m = await client.models.retrieve('whisper-1');
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'cochlea');
    await assert.rejects(client.models.retrieve('nope'), (e: any) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  });

  test('json (default): text and duration usage', async () => {
    const r = await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1' });
    assert.equal(norm(r.text), TEXT);
    assert.match(r.text, /\.$/, 'punctuated');
    assert.deepEqual(r.usage, { type: 'duration', seconds: Math.ceil(audio.duration) });
    assert.equal((r as any).warnings, undefined, 'no warnings when every option is honoured');
  });

  test('text', async () => {
    const r = await client.audio.transcriptions.create({ file: await file(), model: 'scripted', response_format: 'text' });
    assert.equal(norm(r), TEXT + '\n');
  });

  test('verbose_json with word and segment granularities: true burst times, one segment per sentence', async () => {
    const r = await client.audio.transcriptions.create({
      file: await file(),
      model: 'whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    });
    assert.equal(norm(r.text), TEXT);
    assert.match(r.text, /\.$/, 'punctuated');
    assert.equal(r.language, 'english');
    assert.ok(Math.abs(r.duration - audio.duration) < 0.01, `duration ${r.duration} vs ${audio.duration}`);
    assert.equal(r.words!.length, 8);
    r.words!.forEach((w, i) => {
      assert.equal(norm(w.word), SCRIPT[i]);
      assert.ok(Math.abs(w.start - audio.words[i].start) <= TIME_TOL, `word ${i} start ${w.start} vs ${audio.words[i].start}`);
      assert.ok(Math.abs(w.end - audio.words[i].end) <= TIME_TOL, `word ${i} end ${w.end} vs ${audio.words[i].end}`);
    });
    assert.equal(r.segments!.length, 3);
    r.segments!.forEach((seg, i) => {
      assert.equal(seg.id, i);
      assert.equal(norm(seg.text), ' ' + SENTENCES[i], 'whisper-1 style leading space');
      const first = audio.words[audio.sentenceStarts[i]];
      const last = audio.words[(audio.sentenceStarts[i + 1] ?? audio.words.length) - 1];
      assert.ok(Math.abs(seg.start - first.start) <= TIME_TOL && Math.abs(seg.end - last.end) <= TIME_TOL, JSON.stringify(seg));
      assert.deepEqual(seg.tokens, []);
      assert.equal(seg.temperature, 0);
      assert.ok(seg.avg_logprob < 0 && seg.avg_logprob > -1, `avg_logprob from word confidences (0.9): ${seg.avg_logprob}`);
      assert.ok(Math.abs(seg.avg_logprob - Math.log(0.9)) < 1e-3);
      assert.ok(seg.compression_ratio > 0);
      assert.equal(typeof seg.no_speech_prob, 'number');
    });
    assert.deepEqual(r.usage, { type: 'duration', seconds: Math.ceil(audio.duration) });
  });

  test('verbose_json granularity defaults: segments only; words only when asked', async () => {
    const d = await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', response_format: 'verbose_json' });
    assert.equal(d.segments!.length, 3);
    assert.equal(d.words, undefined);
    const w = await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', response_format: 'verbose_json', timestamp_granularities: ['word'] });
    assert.equal(w.words!.length, 8);
    assert.equal(w.segments, undefined);
  });

  for (const format of ['srt', 'vtt'] as const) {
    test(`${format}: parses with the subtitle package, cues carry the sentences at their times`, async () => {
      const r = await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', response_format: format });
      assert.equal(typeof r, 'string');
      if (format === 'vtt') assert.ok(r.startsWith('WEBVTT\n'), r);
      const nodes = parseSync(r);
      const cues = nodes.filter((n): n is NodeCue => n.type === 'cue').map((n) => n.data);
      assert.deepEqual(
        cues.map((c) => norm(String(c.text))),
        SENTENCES,
      );
      cues.forEach((c, i) => {
        const first = audio.words[audio.sentenceStarts[i]];
        assert.ok(Math.abs(c.start - first.start * 1000) <= TIME_TOL * 1000, `cue ${i} starts at ${c.start} ms, speech at ${first.start} s`);
        assert.ok(c.end > c.start);
        if (i > 0) assert.ok(c.start >= cues[i - 1].end, 'cues do not overlap');
      });
    });
  }

  test('stream=true: one transcript.text.delta per final, as the engine emits them, then transcript.text.done', async () => {
    const stream = await client.audio.transcriptions.create({ file: await file(), model: 'gpt-4o-transcribe', stream: true });
    const events: any[] = [];
    for await (const ev of stream) events.push(ev);
    const deltas = events.filter((e) => e.type === 'transcript.text.delta');
    const done = events.filter((e) => e.type === 'transcript.text.done');
    assert.equal(deltas.length, 3, JSON.stringify(events));
    assert.deepEqual(
      deltas.map((d) => norm(d.delta.trim())),
      SENTENCES,
    );
    assert.equal(done.length, 1);
    assert.equal(events.at(-1).type, 'transcript.text.done');
    assert.equal(deltas.map((d) => d.delta).join(''), done[0].text);
    assert.equal(norm(done[0].text), TEXT);
  });

  test('stream=true is incremental: the first delta arrives well before the end (decoder slowed down)', async () => {
    // A separate server whose engine takes 40 ms per decode pass (0.25 s of audio), i.e. about
    // 6x real time: 12 sentences over ~20 s of audio take ~3 s to decode.
    const slow = await startTestServer(scriptedEnv({ decodeDelayMs: 40 }));
    try {
      const c = new OpenAI({ apiKey: slow.key, baseURL: slow.url + '/v1', maxRetries: 0 });
      const long = burstAudio(Array.from({ length: 12 }, () => 1));
      const t0 = performance.now();
      const stream = await c.audio.transcriptions.create({ file: await toFile(long.wav, 'long.wav'), model: 'whisper-1', stream: true });
      const times: number[] = [];
      let text = '';
      for await (const ev of stream) {
        times.push(performance.now() - t0);
        if (ev.type === 'transcript.text.done') text = ev.text;
      }
      assert.equal(text.split(' ').length, 12);
      assert.equal(times.length, 13, '12 deltas and done');
      const first = times[0];
      const last = times.at(-1)!;
      assert.ok(first < last * 0.5, `first delta at ${first.toFixed(0)} ms, done at ${last.toFixed(0)} ms`);
      // Deltas are spread out, not a burst at the end.
      assert.ok(times[6] - times[0] > (last - first) * 0.25, `times ${times.map((t) => t.toFixed(0)).join(', ')}`);
      if (process.env.COCHLEA_TEST_VERBOSE) console.error(`# SSE event times (ms): ${times.map((t) => t.toFixed(0)).join(', ')}`);

      // A client that goes away mid-stream frees its engine session long before the file would end.
      const ac = new AbortController();
      const again = await c.audio.transcriptions.create({ file: await toFile(long.wav, 'long.wav'), model: 'whisper-1', stream: true }, { signal: ac.signal });
      const pool = (slow.server.engine as import('../../src/engines/worker-engine.ts').WorkerEngine).pool;
      const t1 = performance.now();
      let received = 0;
      try {
        for await (const ev of again) {
          received++;
          assert.equal(ev.type, 'transcript.text.delta');
          assert.equal(pool.snapshot().workers.reduce((a, w) => a + w.sessions, 0), 1, 'the stream runs on an engine session');
          ac.abort();
        }
      } catch (e) {
        assert.ok(e instanceof OpenAI.APIUserAbortError, String(e));
      }
      assert.ok(received < 12, `stopped after ${received} events`);
      while (pool.snapshot().workers.reduce((a, w) => a + w.sessions, 0) > 0) {
        assert.ok(performance.now() - t1 < (last - first) * 0.8, 'session freed after the client left');
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await slow.close();
    }
  });

  test('prompt: content words become keywords; engines without keyword boosting say the prompt was not used', async () => {
    assert.deepEqual(
      promptKeywords('The following is a call about Kubernetes, PostgreSQL and the ACME rollout with Dr. Okonkwo.').map((k) => k.phrase),
      ['following', 'call', 'Kubernetes', 'PostgreSQL', 'ACME', 'rollout', 'Dr', 'Okonkwo'],
    );
    assert.deepEqual(promptKeywords('  '), []);
    const r = (await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', prompt: 'Kubernetes and PostgreSQL' })) as any;
    assert.equal(norm(r.text), TEXT);
    assert.match(r.text, /\.$/, 'punctuated');
    assert.ok(r.warnings.some((w: any) => w.option === 'prompt' && /not used/.test(w.message)), JSON.stringify(r.warnings));
  });

  test('temperature > 0 is reported as not honoured (json body and header on text)', async () => {
    const r = (await client.audio.transcriptions.create({ file: await file(), model: 'whisper-1', temperature: 0.4 })) as any;
    assert.ok(r.warnings.some((w: any) => w.option === 'temperature'));
    const t = await raw('/v1/audio/transcriptions', {
      method: 'POST',
      headers: { authorization: `Bearer ${s.key}` },
      body: form({ model: 'whisper-1', response_format: 'text', temperature: '0.4' }, audio.wav),
    });
    assert.equal(t.status, 200);
    assert.equal(norm(t.body), TEXT + '\n');
    assert.match(t.headers.get('x-cochlea-warnings') ?? '', /temperature/);
  });

  test('auth: same keys; OpenAI error bodies (client raises AuthenticationError)', async () => {
    const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: s.url + '/v1', maxRetries: 0 });
    await assert.rejects(bad.audio.transcriptions.create({ file: await file(), model: 'whisper-1' }), (e: any) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.status, 401);
      assert.equal(e.code, 'invalid_api_key');
      return true;
    });
    const missing = await raw('/v1/models');
    assert.equal(missing.status, 401);
    assertOpenAiError(missing.body, null);
    const token = await raw(`/v1/models?token=${s.key}`);
    assert.equal(token.status, 200);
    // The Pulse routes keep their own shape.
    const pulse = await raw('/waves/v1/pulse/get_text', { method: 'POST' });
    assert.equal(pulse.status, 401);
    assert.deepEqual(pulse.body, { message: 'Unauthorized: No tokens provided' });
  });

  test('bad requests get OpenAI error bodies naming the parameter', async () => {
    const h = { authorization: `Bearer ${s.key}` };
    const post = (fd: FormData) => raw('/v1/audio/transcriptions', { method: 'POST', headers: h, body: fd });

    let r = await post(form({ model: 'whisper-1', response_format: 'yaml' }, audio.wav));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'response_format');

    r = await post(form({ model: 'whisper-1' }));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'file');

    r = await post(form({}, audio.wav));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'model');

    r = await post(form({ model: 'dall-e-3' }, audio.wav));
    assert.equal(r.status, 404);
    assertOpenAiError(r.body, 'model');
    assert.equal(r.body.error.code, 'model_not_found');

    r = await post(form({ model: 'whisper-1', language: 'fr' }, audio.wav));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'language');

    r = await post(form({ model: 'whisper-1', temperature: '3' }, audio.wav));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'temperature');

    r = await post(form({ model: 'whisper-1', 'timestamp_granularities[]': ['word', 'letter'] }, audio.wav));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'timestamp_granularities');

    r = await post(form({ model: 'whisper-1', stream: 'true', response_format: 'srt' }, audio.wav));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'response_format');

    r = await post(form({ model: 'whisper-1' }, new TextEncoder().encode('this is not audio at all, just some text in a file')));
    assert.equal(r.status, 400);
    assertOpenAiError(r.body, 'file');

    // Over COCHLEA_MAX_BODY_MB=1: streamed through the limit, refused with 413.
    const big = makeWav(new Float32Array(16000 * 40));
    r = await post(form({ model: 'whisper-1' }, big));
    assert.equal(r.status, 413);
    assertOpenAiError(r.body, 'file');

    r = await raw('/v1/audio/transcriptions', { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: '{}' });
    assert.ok(r.status === 400 || r.status === 415, String(r.status));
    assertOpenAiError(r.body, r.body.error.param);

    r = await raw('/v1/nothing-here', { headers: h });
    assert.equal(r.status, 404);
    assertOpenAiError(r.body, null);

    // The same upload through the client: a typed BadRequestError.
    await assert.rejects(
      client.audio.transcriptions.create({ file: await toFile(Buffer.from('not audio'), 'x.wav'), model: 'whisper-1' }),
      (e: any) => e instanceof OpenAI.BadRequestError && e.param === 'file',
    );
  });

  test('fields may come before or after the file', async () => {
    const fd = new FormData();
    fd.append('model', 'whisper-1');
    fd.append('response_format', 'text');
    fd.append('file', new Blob([new Uint8Array(audio.wav)], { type: 'audio/wav' }), 'a.wav');
    fd.append('language', 'en');
    const r = await raw('/v1/audio/transcriptions', { method: 'POST', headers: { authorization: `Bearer ${s.key}` }, body: fd });
    assert.equal(r.status, 200);
    assert.equal(norm(r.body), TEXT + '\n');
  });
});
