/**
 * Engine soak and leak tests (`npm run test:slow`): many aborted sessions with a memory-growth
 * bound, and many rounds of simultaneous decoder creation in two workers. The fast suite runs one
 * or two rounds of each (streaming.test.ts, pool.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine } from '../../src/engines/index.ts';
import { clipPcm, loadManifest, skipWithoutPocketsphinx, skipWithoutShared, wer } from './helpers.ts';
import { abortedSessionRounds, decoderCreationRace } from './soak.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();
const clip = (name: string) => loadManifest().find((c) => c.audio.includes(name))!;

test('50 aborted sessions leave no session, decoder, memory or worker behind', { skip }, async () => {
  const engine = createEngine({ kind: 'pocketsphinx', workers: 2, backendConfig: { cmnEstimate: false } });
  await engine.init();
  try {
    const rss = await abortedSessionRounds(engine, clipPcm(clip('cards_001')), 5);
    // Memory does not grow from round to round. RSS is process-wide and, as glibc keeps freed
    // memory, settles at the high-water mark after the first rounds (measured: +140 MB from round
    // 1 to 2, then flat within ±10 MB); a leaked decoder per session would add ~76 MB × 10 per round.
    const growthMB = (rss[4][0] - rss[1][0]) / 2 ** 20;
    assert.ok(growthMB < 80, `process RSS grew ${growthMB.toFixed(0)} MB between rounds 2 and 5`);
    // A fresh session still works after all that.
    const s = engine.stream({});
    const texts: string[] = [];
    const done = (async () => {
      for await (const e of s) if (e.type === 'final' && e.text) texts.push(e.text);
    })();
    s.pushAudio(clipPcm(clip('goforward')));
    s.end();
    await done;
    assert.ok(wer('go forward ten meters', texts.join(' ')) <= 0.25, texts.join(' '));
  } finally {
    await engine.close();
  }
});

test('decoders created in both workers at once, 12 rounds of 16: no crash, no hang', { skip: skipWithoutPocketsphinx() }, async () => {
  await decoderCreationRace(12);
});
