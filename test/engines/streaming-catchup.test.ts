/**
 * Streaming catch-up (streamCatchUpSeconds, opt-in): the CMN refine mark's re-decode of the segment so far
 * is spread over the following passes instead of blocking the worker for all of it at once, with
 * finals identical to decoding it in one go, and partials that never fall back to the re-decode's
 * first part.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { decodeAudio } from '../../src/audio/index.ts';
import type { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import { PocketsphinxDecoder } from '../../src/engines/pocketsphinx/binding.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { pocketsphinxBackends, skipWithoutPocketsphinx } from './helpers.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();
const SR = 16000;
const backend = pocketsphinxBackends();

/** Stream `pcm` in passes of `pass` samples; record the samples the decoder was fed per pass. */
function stream(b: PocketsphinxBackend, pcm: Float32Array, pass: number) {
  const dec = b.createDecoder({}) as ReturnType<PocketsphinxBackend['createDecoder']> & { hasBacklog(): boolean };
  const fedPerPass: number[] = [];
  const texts: string[] = [];
  let backlogPasses = 0;
  let fed = 0;
  const orig = PocketsphinxDecoder.prototype.processRaw;
  PocketsphinxDecoder.prototype.processRaw = function (this: PocketsphinxDecoder, samples: Int16Array, full?: boolean) {
    fed += samples.length;
    return orig.call(this, samples, full);
  };
  try {
    const run = () => {
      fed = 0;
      b.decodeReady([dec]);
      fedPerPass.push(fed);
      texts.push(dec.hypothesis().text);
    };
    for (let i = 0; i < pcm.length; i += pass) {
      dec.accept(pcm.subarray(i, i + pass));
      run();
      // As the worker host does: passes without new audio while a backlog is left.
      while (dec.hasBacklog()) {
        backlogPasses++;
        run();
      }
    }
    const final = dec.endSegment();
    return { final, fedPerPass, texts, backlogPasses };
  } finally {
    PocketsphinxDecoder.prototype.processRaw = orig;
    dec.free();
  }
}

test('CMN refine re-decode: spread over passes of ≤ 0.5 s of backlog, same finals as in one go', { skip }, async () => {
  const clips = (
    await Promise.all(
      loadSet('en_pocketsphinx_debian')
        .slice(0, 4)
        .map(async (c) => (await decodeAudio(fs.readFileSync(c.audio))).pcm),
    )
  ).filter((p) => p.length > 3 * SR);
  assert.ok(clips.length >= 2);
  // No prior (each session holds its warm-up, then re-decodes at the 2 s mark), so every clip
  // crosses the refine mark in the same way.
  const sliced = await backend({ streamCmnPrior: false, streamCatchUpSeconds: 0.5 });
  const whole = await backend({ streamCmnPrior: false, streamCatchUpSeconds: 0 });
  const pass = 1600; // 0.1 s, as a paced client's frames arrive
  for (const pcm of clips.slice(0, 2)) {
    const a = stream(sliced, pcm, pass);
    const b = stream(whole, pcm, pass);
    assert.deepEqual(a.final, b.final, 'the same final words, times and confidences');
    // In one go, the pass that reaches the 2 s mark decodes the ~2 s of the segment again...
    assert.ok(Math.max(...b.fedPerPass) >= 1.9 * SR, `largest pass without catch-up: ${Math.max(...b.fedPerPass)} samples`);
    assert.equal(b.backlogPasses, 0);
    // ...sliced, no pass decodes more than its new audio + 0.5 s of backlog (+ the audio after an
    // internal pause cut, decoded again as batch does: well under 0.6 s).
    assert.ok(Math.max(...a.fedPerPass) <= 1.2 * SR, `largest pass with catch-up: ${Math.max(...a.fedPerPass)} samples`);
    assert.ok(a.backlogPasses >= 2 && a.backlogPasses <= 6, `${a.backlogPasses} passes worked the backlog off`);
    // While it is worked off, partials hold the last full hypothesis, never a shorter prefix of
    // the re-decode: the text right after the mark is the text right before it.
    const mark = a.fedPerPass.findIndex((n, i) => i > 0 && n > pass && a.texts[i - 1] !== '');
    assert.ok(mark > 0, 'a pass with backlog after partials had started');
    assert.equal(a.texts[mark], a.texts[mark - 1]);
  }
});
