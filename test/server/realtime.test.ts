/**
 * Real-time transcription over WebSocket, end to end with a real `ws` client. The protocol runs on
 * the scripted engine (tone bursts → script words with true times); real speech (pocketsphinx)
 * only where accuracy is the point: streamed finals vs batch transcripts over a corpus.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { authHeaders, startTestServer, until, type TestServer } from '../helpers/server.ts';
import { loadSet, skipWithoutShared, type Clip } from '../helpers/speech.ts';
import { openLive, wavPcmBytes, type LiveEvent } from '../helpers/ws.ts';
import { werCounts } from '../../src/util/wer.ts';
import { RealtimeTimings } from '../../src/server/realtime.ts';
import { evenBursts, s16Bytes } from './bursts.ts';

const noShared = skipWithoutShared();
/** The scripted engine with its own endpointing (Silero does not take tones for speech). */
const SCRIPTED = { COCHLEA_ENGINE: 'scripted', COCHLEA_VAD_MODEL: '' };
const wsUrl = (s: TestServer, path = '/waves/v1/pulse/get_text', q = '') => `${s.url.replace('http', 'ws')}${path}${q}`;
/** The words as spoken: finals are punctuated and cased by the pipeline (tested in test/pipeline/). */
const spoken = (s: string) => s.toLowerCase().replace(/[.,?!]/g, '');
const finalText = (events: LiveEvent[]) =>
  spoken(events.filter((e) => e.type === 'transcription' && e.is_final && e.transcript).map((e) => e.transcript).join(' '));

function clip(set: string, re: RegExp): Clip {
  return loadSet(set).find((c) => re.test(c.text ?? c.id))!;
}

async function batchTranscript(s: TestServer, file: string): Promise<string> {
  const res = await fetch(`${s.url}/waves/v1/pulse/get_text`, {
    method: 'POST',
    headers: authHeaders(s.key, { 'content-type': 'audio/wav' }),
    body: new Uint8Array(fs.readFileSync(file)),
  });
  return ((await res.json()) as { transcription: string }).transcription;
}

function wer(ref: string, hyp: string): number {
  const c = werCounts(ref, hyp);
  return c.words ? c.errors / c.words : 0;
}

test('RealtimeTimings keeps the most recent samples of each kind, oldest first', () => {
  const t = new RealtimeTimings(3);
  for (const x of [1, 2, 3, 4, 5]) t.add('ingress', x);
  t.add('egress', 9);
  assert.deepEqual(t.ingress, [3, 4, 5]);
  assert.deepEqual(t.egress, [9]);
  t.clear();
  t.add('ingress', 7);
  assert.deepEqual(t.ingress, [7]);
  assert.deepEqual(t.egress, []);
});

describe('real-time accuracy (pocketsphinx)', { skip: noShared }, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.close());

  test('streamed as fast as possible: finals match the batch transcript', async () => {
    const c0 = clip('en_librispeech', /STEW FOR DINNER/);
    const batch = await batchTranscript(s, c0.audio);
    const c = await openLive(wsUrl(s, undefined, '?language=en'), authHeaders(s.key));
    await c.sendAudio(wavPcmBytes(c0.audio));
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    await c.closed;
    const streamed = finalText(c.events);
    assert.ok(wer(batch, streamed) < 0.3, `stream "${streamed}" vs batch "${batch}"`);
  });
  // The corpus-level check (streamed finals within 2 WER points of batch) is in test/server/wer.test.ts.
});

describe('real-time WebSocket API', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ ...SCRIPTED, COCHLEA_MAX_SESSIONS: '6', COCHLEA_MAX_FRAME_BYTES: '65536' });
  });
  after(() => s?.close());

  test('bad params and missing auth are refused before the upgrade', async () => {
    await assert.rejects(openLive(wsUrl(s)), (e: any) => e.statusCode === 401 && /No tokens provided/.test(e.body));
    await assert.rejects(openLive(wsUrl(s, undefined, '?encoding=mp3'), authHeaders(s.key)), (e: any) => {
      const body = JSON.parse(e.body);
      return e.statusCode === 400 && body.status === 'error' && body.errors[0].field === 'encoding';
    });
    // /waves/v1/stt/live answers errors in the unified shape.
    await assert.rejects(openLive(wsUrl(s, '/waves/v1/stt/live', '?encoding=mp3'), authHeaders(s.key)), (e: any) => {
      const body = JSON.parse(e.body);
      return e.statusCode === 400 && /encoding must be one of/.test(body.error) && typeof body.request_id === 'string' && body.details[0].field === 'encoding';
    });
    await assert.rejects(openLive(wsUrl(s, undefined, '?sample_rate=4000'), authHeaders(s.key)), (e: any) => e.statusCode === 400);
    await assert.rejects(openLive(wsUrl(s, undefined, '?eou_timeout_ms=50'), authHeaders(s.key)), (e: any) => e.statusCode === 400);
    // Browsers authenticate with ?token=.
    const c = await openLive(wsUrl(s, '/waves/v1/stt/live', `?token=${s.key}`));
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    const last = await c.waitFor((e) => e.is_last === true);
    assert.equal(last.type, 'transcription');
    assert.deepEqual(await c.closed, { code: 1000, reason: '' });
  });

  test('streamed as fast as possible: one is_last; full_transcript; words relative to session start; both text fields', async () => {
    const { pcm } = evenBursts(5);
    const c = await openLive(wsUrl(s, undefined, '?language=en&sentence_timestamps=true'), authHeaders(s.key));
    await c.sendAudio(s16Bytes(pcm));
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    const closed = await c.closed;
    assert.equal(closed.code, 1000);
    const lasts = c.events.filter((e) => e.is_last);
    assert.equal(lasts.length, 1, 'exactly one is_last');
    assert.equal(c.events.at(-1), lasts[0], 'is_last is the last event');
    const streamed = finalText(c.events);
    assert.equal(streamed, 'one two three four five');
    // full_transcript is on by default (Pulse's own example reads it on every final).
    assert.equal(spoken(lasts[0].full_transcript), streamed, 'full_transcript accumulates the finals');
    for (const e of c.events.filter((x) => x.type === 'transcription')) {
      assert.equal(e.status, 'success');
      assert.equal(typeof e.session_id, 'string');
      // Pulse sends the text twice; the official SDK's event model reads only `transcription`.
      assert.equal(e.transcription, e.transcript);
      if (e.is_final) {
        assert.equal(e.language, 'en');
        assert.deepEqual(e.languages, ['en']);
        assert.ok(Array.isArray(e.words), 'word_timestamps default on for pulse/get_text');
      } else {
        assert.equal(e.words, undefined, 'interim events carry text only');
        assert.equal(e.language, undefined, 'language only on finals');
      }
    }
    const words = c.finals().flatMap((e) => e.words);
    assert.deepEqual(words.map((w: any) => [spoken(w.word), w.start, w.end]), [
      ['one', 0.2, 0.5], ['two', 0.8, 1.1], ['three', 1.4, 1.7], ['four', 2, 2.3], ['five', 2.6, 2.9],
    ]);
    assert.ok(c.finals().some((e) => Array.isArray(e.utterances) && e.utterances.length > 0), 'sentence_timestamps adds utterances');
    const off = await openLive(wsUrl(s, undefined, '?full_transcript=false'), authHeaders(s.key));
    off.ws.send(JSON.stringify({ type: 'close_stream' }));
    await off.closed;
    assert.equal(off.finals()[0].full_transcript, undefined, 'full_transcript=false turns it off');
  });

  test('paced at real time: partials arrive before the last word ends; automatic endpointing finals', async () => {
    const pcm = s16Bytes(evenBursts(4, 0).pcm);
    const c = await openLive(wsUrl(s, '/waves/v1/stt/live', '?word_timestamps=true&vad_events=true'), authHeaders(s.key));
    const t0 = Date.now();
    let firstPartialAt = -1;
    void c.waitFor((e) => e.type === 'transcription' && !e.is_final && e.transcript, 60_000).then(() => (firstPartialAt = (Date.now() - t0) / 1000));
    // The clip, then 1.5 s of silence: more than eou_timeout_ms (800 ms default), so the
    // endpointer must commit a final on its own before close_stream.
    await c.sendAudio(Buffer.concat([pcm, Buffer.alloc(48000)]), { realtime: true });
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    await c.closed;
    const finals = c.finals();
    const lastWordEnd = Math.max(...finals.flatMap((e) => e.words.map((w: any) => w.end)));
    assert.ok(firstPartialAt > 0 && firstPartialAt < lastWordEnd, `first partial at ${firstPartialAt}s, last word ends ${lastWordEnd}s`);
    assert.ok(finals.filter((e) => !e.is_last && e.transcript).length >= 1, 'endpointing produced a final before close');
    assert.ok(c.events.some((e) => e.type === 'speech_started'), 'vad_events');
    assert.equal(finalText(c.events), 'one two three four');
  });

  test('finalize flushes with from_finalize and keeps the session; end is an alias of close_stream', async () => {
    // A short tail: less silence than eou_timeout_ms, so only the finalize ends the segment.
    const pcm = s16Bytes(evenBursts(2, 0.3).pcm);
    const c = await openLive(wsUrl(s), authHeaders(s.key));
    await c.sendAudio(pcm);
    c.ws.send(JSON.stringify({ type: 'finalize' }));
    const f = await c.waitFor((e) => e.from_finalize === true);
    assert.equal(f.is_final, true);
    assert.equal(f.is_last, false);
    const before = c.events.length;
    await c.sendAudio(pcm);
    c.ws.send(JSON.stringify({ type: 'end' }));
    const last = await c.waitFor((e) => e.is_last === true, 30_000, before);
    assert.equal(last.is_final, true);
    assert.equal((await c.closed).code, 1000);
    assert.equal(spoken(f.transcript), 'one two');
    assert.equal(finalText(c.events), 'one two three four', 'both halves transcribed');
  });

  test('the server measures its own share of the real-time path (ingress and egress)', async () => {
    const timings = s.server.app.liveSessions.timings;
    timings.clear();
    const audio = s16Bytes(evenBursts(3).pcm);
    const c = await openLive(wsUrl(s), authHeaders(s.key));
    await c.sendAudio(audio, { chunkBytes: () => 4096 });
    c.ws.send(JSON.stringify({ type: 'finalize' }));
    await c.waitFor((e) => e.from_finalize === true);
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    await c.closed;
    const frames = Math.ceil(audio.length / 4096);
    const events = c.events.filter((e) => e.type === 'transcription').length;
    assert.equal(timings.ingress.length, frames + 1, 'every audio frame and the finalize');
    assert.equal(timings.egress.length, events, 'every transcription event sent');
    for (const x of [...timings.ingress, ...timings.egress]) assert.ok(x >= 0 && x < 5000, String(x));
  });

  test('frames split at odd byte offsets lose nothing', async () => {
    const pcm = s16Bytes(evenBursts(4).pcm);
    const run = async (chunk: () => number) => {
      const c = await openLive(wsUrl(s, undefined, '?endpointing=false'), authHeaders(s.key));
      await c.sendAudio(pcm, { chunkBytes: chunk });
      c.ws.send(JSON.stringify({ type: 'close_stream' }));
      await c.closed;
      return c;
    };
    const even = await run(() => 4096);
    let seed = 7;
    const odd = await run(() => 1 + 2 * ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % 1500));
    assert.equal(finalText(odd.events), finalText(even.events));
    assert.equal(finalText(even.events), 'one two three four');
    const dur = (c: typeof even) => Math.max(...c.finals().map((e) => e.end));
    assert.ok(Math.abs(dur(odd) - dur(even)) < 0.02, 'same audio length decoded');
  });

  test('junk text, oversized frames and bytes that do not match the encoding give error events', async () => {
    const c = await openLive(wsUrl(s), authHeaders(s.key));
    c.ws.send('hello');
    const e1 = await c.waitFor((e) => e.type === 'error');
    assert.equal(e1.status, 'error');
    assert.match(e1.message, /Text frames must be JSON control messages/i);
    c.ws.send(Buffer.alloc(65536 + 2));
    await c.waitFor((e) => e.type === 'error' && /exceeds/.test(e.message));
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    await c.waitFor((e) => e.is_last === true);
    await c.closed;

    const o = await openLive(wsUrl(s, undefined, '?encoding=ogg_opus'), authHeaders(s.key));
    o.ws.send(Buffer.alloc(8192, 7)); // PCM-ish bytes, not an Ogg stream
    const e3 = await o.waitFor((e) => e.type === 'error');
    assert.match(e3.message, /encoding=ogg_opus/);
    o.ws.close();
    await o.closed;
  });

  test('over the session limit: close 1008 with a reason', async () => {
    // Sessions of earlier tests leave the server's registry only once their close completes there.
    await until(async () => ((await (await fetch(`${s.url}/ready`)).json()) as { sessions: { live: number } }).sessions.live, (live) => live === 0);
    const open = await Promise.all(Array.from({ length: 6 }, () => openLive(wsUrl(s), authHeaders(s.key))));
    const extra = await openLive(wsUrl(s), authHeaders(s.key));
    const closed = await extra.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /concurrent sessions/);
    for (const c of open) c.ws.close();
    await Promise.all(open.map((c) => c.closed));
  });
});

describe('real-time limits', () => {
  test('idle sessions are told and closed', async () => {
    const s = await startTestServer({ ...SCRIPTED, COCHLEA_SESSION_IDLE_MS: '600' });
    try {
      const c = await openLive(wsUrl(s), authHeaders(s.key));
      const e = await c.waitFor((x) => x.type === 'error', 5000);
      assert.match(e.message, /No audio received/);
      await c.waitFor((x) => x.is_last === true, 5000);
      assert.equal((await c.closed).code, 1000);
    } finally {
      await s.close();
    }
  });
});
