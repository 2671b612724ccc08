/**
 * A worker reuses its decoders; what one request heard must not change the next one's result.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { createEngine } from '../../src/engines/index.ts';
import { decodeAudio } from '../../src/audio/index.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';

test('the same audio gives the same words regardless of what the worker decoded before', { skip: skipWithoutShared() }, async () => {
  const clips = loadSet('en_pocketsphinx_debian');
  const a = (await decodeAudio(fs.readFileSync(clips[0].audio))).pcm;
  const b = (await decodeAudio(fs.readFileSync(clips[3].audio))).pcm;
  const engine = createEngine({ kind: 'pocketsphinx', workers: 1 });
  await engine.init();
  try {
    // a, then b, then a again on the same (single) worker: the second a must not hear b.
    const first = JSON.stringify((await engine.recognize(a)).words);
    await engine.recognize(b);
    const again = JSON.stringify((await engine.recognize(a)).words);
    assert.equal(again, first);
  } finally {
    await engine.close();
  }
});
