/**
 * Server-wide CMN prior (streamCmnPrior): once a worker has seen a session, the next one starts
 * decoding at once from the recent sessions' mean instead of holding its first audio, and its
 * finals are exactly those without the prior (the warm-up mark decodes again from its own mean).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { decodeAudio } from '../../src/audio/index.ts';
import { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { pocketsphinxBackends, skipWithoutPocketsphinx } from './helpers.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();
const SR = 16000;
const backend = pocketsphinxBackends();

function stream(b: PocketsphinxBackend, pcm: Float32Array, pass: number) {
  const dec = b.createDecoder({});
  let firstPartialAt = -1;
  for (let i = 0; i < pcm.length; i += pass) {
    dec.accept(pcm.subarray(i, i + pass));
    b.decodeReady([dec]);
    if (firstPartialAt < 0 && dec.hypothesis().text) firstPartialAt = Math.min(pcm.length, i + pass);
  }
  const final = dec.endSegment();
  dec.free();
  return { firstPartialAt, final };
}

test('CMN prior: later sessions skip the warm-up hold; finals are unchanged, also when finalized during the warm-up', { skip }, async () => {
  const clips = await Promise.all(
    loadSet('en_pocketsphinx_debian')
      .slice(0, 3)
      .map(async (c) => (await decodeAudio(fs.readFileSync(c.audio))).pcm),
  );
  const long = clips.filter((p) => p.length > 3 * SR);
  assert.ok(long.length >= 2);
  const withPrior = await backend({ streamCmnWarmupSeconds: 1 });
  const without = await backend({ streamCmnWarmupSeconds: 1, streamCmnPrior: false });
  const pass = 1600;
  // First session of a worker: no prior yet, so it holds its first second like before.
  const first = stream(withPrior, long[0], pass);
  assert.ok(first.firstPartialAt >= SR, `first session's first partial after ${first.firstPartialAt} samples`);
  assert.ok(withPrior.cmnPrior() !== null);
  for (const pcm of long.slice(1)) {
    const a = stream(withPrior, pcm, pass);
    const b = stream(without, pcm, pass);
    // Decoding starts at once from the prior: a partial before the hold would have ended.
    assert.ok(a.firstPartialAt > 0 && a.firstPartialAt < SR, `first partial after ${a.firstPartialAt} samples with the prior`);
    assert.ok(b.firstPartialAt >= SR, `without the prior after ${b.firstPartialAt} samples`);
    assert.deepEqual(a.final, b.final);
  }
  // Ended before the warm-up mark (0.6 s of a clip): still the same final as without the prior.
  for (const pcm of clips) {
    const short = pcm.subarray(0, Math.round(0.6 * SR));
    assert.deepEqual(stream(withPrior, short, pass).final, stream(without, short, pass).final);
  }
  assert.equal(without.cmnPrior(), null);
});
