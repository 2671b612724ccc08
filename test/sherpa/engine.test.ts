/**
 * The sherpa backend through the public engine (createEngine → worker pool → worker host →
 * src/engines/sherpa/backend.ts), on the generated fixtures and ../shared audio.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type WorkerEngine } from '../../src/engines/index.ts';
import type { SpeechEvent } from '../../src/engines/types.ts';
import { ensureSherpaFixtures, fixtureSpecs } from '../../scripts/sherpa-fixtures.ts';
import { assertSaneWords, concatWithSilence, manifest, readClip, SILERO_V5, skipWithoutPythonOnnx, skipWithoutShared, skipWithoutSilero } from './helpers.ts';

const skip = skipWithoutShared() || skipWithoutSilero() || skipWithoutPythonOnnx();
let engine: WorkerEngine;
let jfk: Float32Array;

before(async () => {
  if (skip) return;
  const specs = fixtureSpecs(ensureSherpaFixtures());
  engine = createEngine({
    kind: 'sherpa',
    workers: 1,
    vadModel: SILERO_V5,
    backendConfig: { streaming: specs.online, offline: [specs.senseVoice], vad: { model: SILERO_V5 }, twoPass: false },
  });
  await engine.init();
  jfk = readClip(manifest('en_jfk')[0]);
});

after(async () => {
  await engine?.close();
});

test('engine info comes from the sherpa backend in the worker', { skip }, () => {
  assert.equal(engine.info.name, 'sherpa-onnx');
  assert.ok(engine.info.languages.includes('en') && engine.info.languages.includes('multi'));
});

test('engine.recognize: batch through a worker, words and segments sane', { skip }, async () => {
  const r = await engine.recognize(jfk, { language: 'multi' });
  assert.equal(r.language, 'en');
  assert.ok(r.words.length > 10);
  assertSaneWords(r.words, jfk.length / 16000, 'engine batch');
  await assert.rejects(engine.recognize(jfk, { language: 'fr' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'unsupported_language', 'the typed code crosses the thread boundary');
    assert.match(err.message, /cochlea models pull whisper-tiny/);
    return true;
  });
});

test('engine.stream: two sessions (one with hotwords) stream JFK + pauses; partials, finals, last final', { skip }, async () => {
  const clips = [jfk.subarray(0, 16000 * 5), jfk.subarray(16000 * 5)];
  const { pcm } = concatWithSilence(clips, 1.5);
  const run = async (keywords?: string[]) => {
    const s = engine.stream({ language: 'en', keywords, endpointSilenceMs: 600 });
    const events: SpeechEvent[] = [];
    const done = (async () => {
      for await (const e of s) events.push(e);
    })();
    for (let i = 0; i < pcm.length; i += 3200) s.pushAudio(pcm.subarray(i, i + 3200));
    s.end();
    await done;
    return events;
  };
  const [plain, hot] = await Promise.all([run(), run(['hot:3'])]);
  for (const [events, label] of [[plain, 'plain'], [hot, 'hot']] as const) {
    const errors = events.filter((e) => e.type === 'error');
    assert.deepEqual(errors, [], `${label}: no errors`);
    const finals = events.filter((e) => e.type === 'final');
    assert.ok(events.some((e) => e.type === 'partial'), `${label}: partials`);
    assert.ok(finals.length >= 2, `${label}: a final per speech stretch (${finals.length})`);
    assert.equal(finals.at(-1)!.type === 'final' && finals.at(-1)!.isLast, true);
    const words = finals.flatMap((e) => (e.type === 'final' ? e.words : []));
    assertSaneWords(words, pcm.length / 16000, label);
  }
  const hotWords = hot.flatMap((e) => (e.type === 'final' ? e.words.map((w) => w.word) : []));
  const plainWords = plain.flatMap((e) => (e.type === 'final' ? e.words.map((w) => w.word) : []));
  assert.ok(hotWords.includes('HOT') && !plainWords.includes('HOT'), 'hotwords apply to their own session only');
});
