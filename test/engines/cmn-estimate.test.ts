/**
 * Batch recognition starts cepstral mean normalization from the request's own mean cepstrum
 * (PocketsphinxBackend `cmnEstimate`, `CmnEstimate`), not the model's -cmninit.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { decodeAudio } from '../../src/audio/index.ts';
import { CmnEstimate } from '../../src/engines/pocketsphinx/backend.ts';
import { PocketsphinxDecoder, floatToInt16 } from '../../src/engines/pocketsphinx/binding.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { skipWithoutPocketsphinx } from './helpers.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();

test('CmnEstimate: per-second sums, window from the utterance start, sliding back at the end', () => {
  const d = 2;
  const est = new CmnEstimate(d, 2); // 2-second window
  assert.equal(est.meanAt(0), null, 'no frames, no estimate');
  // 3.5 s of frames: second k has C0 = k, C1 = -k.
  const frames = new Float32Array(350 * d);
  for (let i = 0; i < 350; i++) {
    frames[i * d] = Math.floor(i / 100);
    frames[i * d + 1] = -Math.floor(i / 100);
  }
  est.add(frames.subarray(0, 123 * d)); // frames may arrive in any block sizes
  est.add(frames.subarray(123 * d));
  // Window [0 s, 2 s): mean of 0 and 1.
  assert.deepEqual(Array.from(est.meanAt(0)!), [0.5, -0.5]);
  // Starting at 1.5 s → block 1: [1 s, 3 s).
  assert.deepEqual(Array.from(est.meanAt(1.5 * 16000)!), [1.5, -1.5]);
  // Near the end the window slides back to the last 2 blocks: 100 frames of 2, 50 of 3.
  const tail = est.meanAt(3.4 * 16000)!;
  assert.ok(Math.abs(tail[0] - (200 + 150) / 150) < 1e-6, String(tail[0]));
  assert.ok(Math.abs(tail[1] + (200 + 150) / 150) < 1e-6, String(tail[1]));
});

test('cepstra come from a private front end: repeatable, and the decode is unaffected', { skip }, async () => {
  const clips = loadSet('en_pocketsphinx_debian');
  const a = floatToInt16((await decodeAudio(fs.readFileSync(clips[0].audio))).pcm);
  const b = floatToInt16((await decodeAudio(fs.readFileSync(clips[1].audio))).pcm);
  const dec = new PocketsphinxDecoder();
  try {
    const cep = () => {
      dec.startCepstra();
      // Split unevenly: the front end carries partial frames across calls.
      const x = dec.cepstra(a.subarray(0, 12345));
      const y = dec.cepstra(a.subarray(12345));
      dec.endCepstra();
      assert.equal(x.cepSize, dec.cmnSize);
      return Float32Array.from([...x.frames, ...y.frames]);
    };
    const decode = () => {
      dec.startStream();
      dec.startUtt();
      dec.processRaw(a);
      dec.endUtt();
      return JSON.stringify(dec.segments());
    };
    const first = cep();
    // One frame per 10 ms shift (the last, partial window dropped).
    assert.ok(Math.abs(first.length / dec.cmnSize! - a.length / 160) <= 3, `${first.length / 13} frames`);
    const plain = decode();
    dec.startCepstra();
    dec.cepstra(b);
    dec.endCepstra();
    assert.deepEqual(cep(), first, 'cepstra do not depend on what the front end saw before');
    assert.equal(decode(), plain, 'computing cepstra leaves the decoder itself untouched');
    // Mid-utterance too: cepstra of other audio between two halves of a decode change nothing.
    dec.startStream();
    dec.startUtt();
    dec.processRaw(a.subarray(0, 40000));
    dec.startCepstra();
    dec.cepstra(b);
    dec.endCepstra();
    dec.processRaw(a.subarray(40000));
    dec.endUtt();
    assert.equal(JSON.stringify(dec.segments()), plain);
  } finally {
    dec.free();
  }
});

// The effect on accuracy (telephony 8 kHz batch WER ≤ 66% with the estimate; 93.8% without) is asserted
// where that corpus is decoded, once: test/audio/telephony-wer.test.ts.
