/**
 * The real-time wire as real Pulse clients use it (issue 10 §2), each test the client behaviour
 * that exposed the problem. Scripted engine: each tone burst is the next word of "one two three ...".
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { openLive, type LiveEvent } from '../helpers/ws.ts';
import { makeWav } from '../helpers/wav.ts';
import { OggDemuxer } from '../../src/audio/ogg.ts';
import { burstsPcm, evenBursts, s16Bytes } from './bursts.ts';

const SCRIPTED = { COCHLEA_ENGINE: 'scripted', COCHLEA_VAD_MODEL: '' };
const wsUrl = (s: TestServer, p = '/waves/v1/stt/live', q = '') => `${s.url.replace('http', 'ws')}${p}${q}`;
/** The words as spoken: finals are punctuated and cased by the pipeline (tested in test/pipeline/). */
const spoken = (s: string) => s.toLowerCase().replace(/[.,?!]/g, '');
const finalText = (events: LiveEvent[]) =>
  spoken(events.filter((e) => e.type === 'transcription' && e.is_final && e.transcript).map((e) => e.transcript).join(' '));
const hasFfmpeg = (() => {
  try {
    execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('real-time wire (scripted engine)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer(SCRIPTED);
  });
  after(() => s?.close());

  test('every WebSocket path answers with and without a trailing slash; a wrong key is 401 on both', async () => {
    for (const p of ['/waves/v1/stt/live', '/waves/v1/stt/live/', '/waves/v1/pulse/get_text', '/waves/v1/pulse/get_text/', '/api/v1/pulse/get_text/']) {
      const c = await openLive(wsUrl(s, p, '?language=en'), authHeaders(s.key));
      c.ws.send(JSON.stringify({ type: 'close_stream' }));
      const last = await c.waitFor((e) => e.is_last === true, 5000);
      assert.equal(last.type, 'transcription', p);
      await c.closed;
      await assert.rejects(openLive(wsUrl(s, p), { authorization: 'Bearer sk_wrong' }), (e: any) => e.statusCode === 401, p);
    }
  });

  test('finalize then close (what Pulse tells clients to do): the client reading until the socket closes gets the last final', async () => {
    // Speech right up to the end: nothing is finalized by silence before the client's messages.
    const { pcm } = evenBursts(3, 0.05);
    const c = await openLive(wsUrl(s, '/waves/v1/stt/live', '?word_timestamps=true'), authHeaders(s.key));
    await c.sendAudio(s16Bytes(pcm));
    c.ws.send(JSON.stringify({ type: 'finalize' }));
    c.ws.close(1000);
    const closed = await c.closed;
    assert.equal(closed.code, 1000);
    assert.equal(finalText(c.events), 'one two three', JSON.stringify(c.events.filter((e) => e.is_final)));
    const lasts = c.events.filter((e) => e.is_last);
    assert.equal(lasts.length, 1, 'the last final, with is_last, before the close');
    assert.equal(c.events.at(-1), lasts[0]);
  });

  test('close without finalize: pending audio is flushed into an is_last final before the close is answered', async () => {
    const { pcm } = evenBursts(2, 0.05);
    const c = await openLive(wsUrl(s), authHeaders(s.key));
    await c.sendAudio(s16Bytes(pcm));
    c.ws.close();
    await c.closed;
    assert.equal(finalText(c.events), 'one two');
    assert.equal(c.events.at(-1)?.is_last, true);
  });

  test('keepalive is answered with pong and keeps an idle session open; unknown control messages are ignored, not errors', async () => {
    const idle = await startTestServer({ ...SCRIPTED, COCHLEA_SESSION_IDLE_MS: '500' });
    try {
      const c = await openLive(wsUrl(idle), authHeaders(idle.key));
      for (let i = 0; i < 8; i++) {
        c.ws.send(JSON.stringify({ type: 'keepalive' }));
        await new Promise((r) => setTimeout(r, 200));
      }
      // 1.6 s with no audio, idle limit 0.5 s: the keepalives kept it open.
      assert.equal(c.events.filter((e) => e.type === 'pong').length, 8);
      assert.ok(c.events.every((e) => e.type === 'pong'), JSON.stringify(c.events));
      const pong = c.events[0];
      assert.equal(typeof pong.session_id, 'string');
      c.ws.send(JSON.stringify({ type: 'configure', options: { foo: 1 } }));
      c.ws.send(JSON.stringify({ hello: 'world' }));
      c.ws.send(JSON.stringify({ type: 'close_stream' }));
      await c.closed;
      assert.equal(c.events.filter((e) => e.type === 'error').length, 0, 'no error event for unknown control messages');
      assert.equal(c.events.at(-1)?.is_last, true);
      // Without keepalives the same session is closed as idle.
      const quiet = await openLive(wsUrl(idle), authHeaders(idle.key));
      const e = await quiet.waitFor((x) => x.type === 'error', 5000);
      assert.match(e.message, /No audio received/);
      await quiet.closed;
    } finally {
      await idle.close();
    }
  });

  test('language codes: every multi-language mode opens and reports the served language; an unservable single language is refused with the fix', async () => {
    for (const lang of ['multi', 'auto', 'multi-eu', 'multi-indic', 'north_indic', 'multi-south-indic', 'multi-asian', 'en']) {
      const c = await openLive(wsUrl(s, '/waves/v1/stt/live', `?language=${lang}`), authHeaders(s.key));
      await c.sendAudio(s16Bytes(evenBursts(1, 0.05).pcm));
      c.ws.send(JSON.stringify({ type: 'close_stream' }));
      await c.closed;
      const f = c.finals().find((e) => e.transcript);
      assert.ok(f, lang);
      assert.equal(f.language, 'en', lang);
      assert.deepEqual(f.languages, ['en'], lang);
    }
    for (const lang of ['de', 'hi-dev', 'ta']) {
      await assert.rejects(openLive(wsUrl(s, '/waves/v1/stt/live', `?language=${lang}`), authHeaders(s.key)), (e: any) => {
        const body = JSON.parse(e.body);
        return e.statusCode === 400 && /not available on this server/.test(body.error) && /cochlea models pull/.test(body.error) && body.details[0].field === 'language';
      }, lang);
    }
    await assert.rejects(openLive(wsUrl(s, '/waves/v1/stt/live', '?language=klingon'), authHeaders(s.key)), (e: any) => e.statusCode === 400);
  });

  test('a finalize right after a burst of frames covers all audio received before it, for every encoding', { skip: !hasFfmpeg && 'needs ffmpeg' }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-wire-'));
    try {
      const bursts: [number, number][] = [[0.2, 0.5], [0.8, 1.1], [1.4, 1.7]];
      const pcm16 = burstsPcm(bursts, 1.75);
      const wav = path.join(dir, 'b.wav');
      fs.writeFileSync(wav, makeWav(pcm16));
      const ogg = path.join(dir, 'b.opus');
      execFileSync('ffmpeg', ['-v', 'error', '-i', wav, '-ar', '48000', '-c:a', 'libopus', '-b:a', '64k', '-frame_duration', '20', '-page_duration', '20000', ogg]);
      const oggBytes = fs.readFileSync(ogg);
      const packets = new OggDemuxer().push(oggBytes).filter((p) => p.index >= 2).map((p) => Buffer.from(p.data));
      const raw = (args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-i', wav, ...args, '-']);
      const cases: [string, string, Buffer[]][] = [
        ['ogg_opus', '', chunk(oggBytes, 400)],
        ['opus', '&sample_rate=48000', packets],
        ['linear16', '&sample_rate=44100', chunk(raw(['-ar', '44100', '-f', 's16le']), 4096)],
        ['linear32', '&sample_rate=16000', chunk(raw(['-f', 'f32le']), 4096)],
        ['mulaw', '&sample_rate=8000', chunk(raw(['-ar', '8000', '-f', 'mulaw']), 800)],
        ['alaw', '&sample_rate=8000', chunk(raw(['-ar', '8000', '-f', 'alaw']), 800)],
      ];
      for (const [encoding, q, frames] of cases) {
        // Several sessions at once (as a busy server sees them): some start before their audio
        // decoder's converter is initialised, so their first frames wait inside the decoder.
        const clients = await Promise.all(
          Array.from({ length: 3 }, () => openLive(wsUrl(s, "/waves/v1/stt/live", `?encoding=${encoding}${q}&endpointing=false`), authHeaders(s.key))),
        );
        for (const c of clients) {
          // One synchronous burst: every frame and the finalize leave in the same tick.
          for (const f of frames) c.ws.send(f);
          c.ws.send(JSON.stringify({ type: 'finalize' }));
        }
        for (const c of clients) {
          const f = await c.waitFor((e) => e.from_finalize === true, 10_000);
          assert.equal(spoken(f.transcript), 'one two three', `${encoding}: the finalize covers every frame sent before it`);
          c.ws.send(JSON.stringify({ type: 'close_stream' }));
          await c.closed;
          assert.equal(c.events.filter((e) => e.type === 'error').length, 0, `${encoding}: ${JSON.stringify(c.events)}`);
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function chunk(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

describe('decoder drain (the finalize contract at the audio layer)', () => {
  test('audio held while the converter initialises comes out of drain() after ready, not only with the next frame', async () => {
    const { createStreamDecoder } = await import('../../src/audio/index.ts');
    const { StreamResampler } = await import('../../src/audio/resampler.ts');
    // Take every pooled converter in this tick, so the next decoders start uninitialised.
    const hogs = Array.from({ length: 4 }, () => new StreamResampler(48000));
    const pcm = s16Bytes(burstsPcm([[0.1, 0.4]], 0.5));
    const decoders = Array.from({ length: 3 }, () => createStreamDecoder('linear16', 44100));
    const bytes = pcm.subarray(0, pcm.length - 1); // and a split sample
    const expected = Math.round(((bytes.length >> 1) * 16000) / 44100);
    const held = decoders.map((d) => d.push(bytes).length);
    assert.ok(held.some((n) => n === 0), `some decoder started uninitialised: ${held}`);
    for (const [i, d] of decoders.entries()) {
      await d.ready;
      const drained = d.drain().length;
      // Everything except the resampler's own filter delay and partial block (< 30 ms).
      assert.ok(held[i] + drained >= expected - 16000 * 0.03, `decoder ${i}: ${held[i]} + ${drained} of ${expected} samples`);
      assert.equal(d.push(new Uint8Array(0)).length, 0, 'an empty push does not release anything more');
      d.flush();
    }
    for (const h of hogs) {
      await h.ready;
      h.flush();
    }
  });
});
