/**
 * Streaming sessions estimate cepstral mean normalization from their own audio, causally
 * (PocketsphinxStreamingDecoder: warm-up hold, one refinement re-decode, running estimate per segment).
 * Driven in-process through the Backend interface the worker host uses: accept() + decodeReady()
 * per pass, endSegment() at the end.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test, before } from 'node:test';
import { decodeAudio } from '../../src/audio/index.ts';
import { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import type { Hypothesis } from '../../src/engines/backend.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { pocketsphinxBackends, skipWithoutPocketsphinx } from './helpers.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();
const SR = 16000;

let clips: { pcm: Float32Array; text: string }[] = [];
before(async () => {
  if (skip) return;
  for (const c of loadSet('en_pocketsphinx_debian').filter((c) => c.text)) {
    clips.push({ pcm: (await decodeAudio(fs.readFileSync(c.audio))).pcm, text: c.text! });
  }
});
const backend = pocketsphinxBackends();

/** One session over `pcm` in passes of the given sizes (cycled); returns partials and the final. */
function stream(b: PocketsphinxBackend, pcm: Float32Array, passSizes: number[]) {
  const dec = b.createDecoder({});
  const partials: { at: number; text: string }[] = [];
  let i = 0;
  let k = 0;
  while (i < pcm.length) {
    const n = passSizes[k++ % passSizes.length];
    dec.accept(pcm.subarray(i, i + n));
    i = Math.min(pcm.length, i + n);
    b.decodeReady([dec]);
    const h = dec.hypothesis();
    if (h.text && (partials.length === 0 || partials[partials.length - 1].text !== h.text)) partials.push({ at: i, text: h.text });
  }
  const final: Hypothesis = dec.endSegment();
  dec.free();
  return { partials, final };
}

test('streaming CMN: finals do not depend on chunking (odd pass sizes)', { skip }, async () => {
  const b = await backend();
  for (const c of clips.slice(0, 2)) {
    const a = stream(b, c.pcm, [4000]);
    const x = stream(b, c.pcm, [1, 777, 3333, 16001, 5]);
    const y = stream(b, c.pcm, [c.pcm.length]);
    assert.deepEqual(x.final, a.final);
    assert.deepEqual(y.final, a.final);
  }
});

test('streaming CMN: nothing is decoded before the warm-up; end forces it', { skip }, async () => {
  const b = await backend({ streamCmnWarmupSeconds: 1 });
  const c = clips.filter((c) => c.pcm.length > 2 * SR).sort((a, b) => a.pcm.length - b.pcm.length)[0];
  const { partials, final } = stream(b, c.pcm, [1600]);
  assert.ok(partials.length > 0 && partials[0].at >= SR, `first partial after ${partials[0]?.at} samples`);
  assert.notEqual(final.text, '');
  // A clip shorter than the warm-up: no partial at all, but the final has its words.
  const long = await backend({ streamCmnWarmupSeconds: 30 });
  const r = stream(long, c.pcm, [1600]);
  assert.equal(r.partials.length, 0);
  // Forced at end: decoded from the estimate of the whole clip, with batch's cut rules, so it is
  // the batch transcript.
  assert.equal(r.final.text, (await long.recognize(c.pcm, {})).text);
});

// Accuracy: streamed finals within 2 points of batch over en_librispeech + en_pocketsphinx_debian is
// asserted through the real-time API in test/server/wer.test.ts (where those corpora are decoded
// once); the ablation (the 2 s re-decode and the warm-up estimate each help) is streaming-cmn.slow.ts.

test('streaming CMN: config is validated', () => {
  assert.throws(() => new PocketsphinxBackend({ streamCmnWarmupSeconds: -1 }), /streamCmnWarmupSeconds/);
  assert.throws(() => new PocketsphinxBackend({ streamCmnRefineSeconds: Number.NaN }), /streamCmnRefineSeconds/);
});
