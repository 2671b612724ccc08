/**
 * The koffi binding and the pocketsphinx Backend, in-thread (no worker pool): real decoding of
 * the Debian pocketsphinx test clips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PocketsphinxDecoder,
  baseWord,
  floatToInt16,
  isFillerToken,
} from '../../src/engines/pocketsphinx/binding.ts';
import { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import type { EngineWord } from '../../src/engines/types.ts';
import {
  activeFrames,
  clipPcm,
  concatWithGaps,
  loadManifest,
  skipWithoutPocketsphinx,
  skipWithoutShared,
  soundSpan,
  wer,
} from './helpers.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();

function assertSaneWords(words: EngineWord[], duration: number): void {
  let prevEnd = 0;
  for (const w of words) {
    assert.match(w.word, /^[a-z0-9'.\-_]+$/, `real word, not a filler/alt token: ${w.word}`);
    assert.ok(!/\(\d+\)$/.test(w.word), `alternate pronunciation suffix stripped: ${w.word}`);
    assert.ok(w.start >= prevEnd - 1e-9, `monotonic: ${w.word} starts ${w.start} before previous end ${prevEnd}`);
    assert.ok(w.end > w.start, `${w.word}: end ${w.end} > start ${w.start}`);
    assert.ok(w.end <= duration + 0.011, `${w.word}: end ${w.end} within duration ${duration}`);
    assert.ok(w.confidence >= 0 && w.confidence <= 1, `${w.word}: confidence ${w.confidence} in [0,1]`);
    prevEnd = w.end;
  }
}

test('token helpers: fillers and alternate pronunciations', () => {
  for (const t of ['<s>', '</s>', '<sil>', '[NOISE]', '[SPEECH]', '++GARBAGE++', '']) assert.ok(isFillerToken(t), t);
  for (const t of ['hello', 'read(2)', "don't", 'mr.']) assert.ok(!isFillerToken(t), t);
  assert.equal(baseWord('read(2)'), 'read');
  assert.equal(baseWord('read'), 'read');
  const i16 = floatToInt16(new Float32Array([0, 0.5, -0.5, 1, -1, 2, -2]));
  assert.deepEqual([...i16], [0, 16384, -16384, 32767, -32768, 32767, -32768]);
});

test('binding: go forward ten meters, word frames and posteriors', { skip }, () => {
  const clip = loadManifest().find((c) => c.audio.includes('goforward'))!;
  const pcm = floatToInt16(clipPcm(clip));
  const dec = new PocketsphinxDecoder();
  try {
    dec.startStream();
    dec.startUtt();
    for (let i = 0; i < pcm.length; i += 4096) dec.processRaw(pcm.subarray(i, i + 4096));
    const mid = dec.segments();
    assert.ok(mid.length > 0, 'mid-utterance segment iterator yields the partial best path');
    dec.endUtt();
    assert.equal(dec.hyp(), 'go forward ten meters');
    const segs = dec.segments();
    assert.equal(segs[0].word, '<s>');
    assert.equal(segs[0].startFrame, 0, 'frames are relative to the utterance after ps_start_stream');
    const words = segs.filter((s) => !isFillerToken(s.word));
    assert.deepEqual(words.map((s) => baseWord(s.word)), ['go', 'forward', 'ten', 'meters']);
    for (const s of segs) assert.ok(s.prob >= 0 && s.prob <= 1);
    // Lattice posteriors are real: not all 1 (mid-utterance ones are).
    assert.ok(words.some((s) => s.prob < 0.99), 'final words carry posteriors');

    // A second utterance on the same decoder after ps_start_stream counts frames from 0 again.
    dec.startStream();
    dec.startUtt();
    dec.processRaw(pcm);
    dec.endUtt();
    const again = dec.segments();
    assert.equal(again[0].startFrame, 0);
    assert.deepEqual(
      again.filter((s) => !isFillerToken(s.word)).map((s) => s.startFrame),
      words.map((s) => s.startFrame),
    );
  } finally {
    dec.free();
  }
});

test('backend.recognize: results are well-formed and decoders go back to the pool (corpus accuracy: test/server/wer.test.ts)', { skip }, async () => {
  const backend = new PocketsphinxBackend({ warmDecoders: 1 });
  await backend.init();
  try {
    for (const clip of loadManifest().filter((c) => /goforward|cards_005/.test(c.audio))) {
      const pcm = clipPcm(clip);
      const r = await backend.recognize(pcm, { language: 'en' });
      assert.equal(r.language, 'en');
      assert.ok(Math.abs(r.duration - pcm.length / 16000) < 1e-9);
      assert.ok(r.decodeSeconds > 0);
      assert.equal(r.text, r.words.map((w) => w.word).join(' '));
      assert.deepEqual(r.segments.flatMap((s) => s.words), r.words);
      assertSaneWords(r.words, r.duration);
      assert.ok(wer(clip.text, r.text) <= 0.5, `${clip.audio}: "${r.text}" vs "${clip.text}"`);
    }
    assert.equal(backend.stats().live, 0, 'decoders returned to the pool');
  } finally {
    backend.dispose();
  }
});

test('word boundaries sit on the non-silent parts of the audio', { skip }, async () => {
  const backend = new PocketsphinxBackend();
  await backend.init();
  try {
    for (const name of ['goforward', 'cards_005', '0870', '0880']) {
      const clip = loadManifest().find((c) => c.audio.includes(name))!;
      const pcm = clipPcm(clip);
      const active = activeFrames(pcm);
      const { onset } = soundSpan(active);
      const r = await backend.recognize(pcm, {});
      assert.ok(r.words.length >= 3);
      assert.ok(Math.abs(r.words[0].start - onset) < 0.25, `${name}: first word ${r.words[0].start}s vs sound onset ${onset}s`);
      const inWord = new Array<boolean>(active.length).fill(false);
      for (const w of r.words) {
        for (let f = Math.round(w.start * 100); f < Math.min(active.length, Math.round(w.end * 100)); f++) inWord[f] = true;
      }
      let activeIn = 0, nIn = 0, activeOut = 0, nOut = 0;
      for (let f = 0; f < active.length; f++) {
        if (inWord[f]) { nIn++; if (active[f]) activeIn++; }
        else { nOut++; if (active[f]) activeOut++; }
      }
      // Sound is covered by words (measured ≤ 0.22 outside, mostly 0) and words are mostly
      // sound (measured ≥ 0.53 inside); a shift of a few hundred ms breaks both.
      assert.ok(activeOut / nOut <= 0.3, `${name}: ${(activeOut / nOut).toFixed(2)} of the frames outside words have sound`);
      assert.ok(activeIn / nIn >= 0.45, `${name}: only ${(activeIn / nIn).toFixed(2)} of the frames inside words have sound`);
    }
  } finally {
    backend.dispose();
  }
});

test('long audio is segmented and times stay wall-clock across pauses', { skip }, async () => {
  const clips = loadManifest();
  const parts = clips.slice(4).map((c) => clipPcm(c));
  // 1.2 s pauses between 7 clips (~25 s); the ~0.4 s frame-dropping VAD of 5prealpha
  // would shift every later word earlier if times were not wall-clock.
  const { pcm, offsets } = concatWithGaps(parts, 1.2);
  const backend = new PocketsphinxBackend({ minSegmentSeconds: 2, maxSegmentSeconds: 8 });
  await backend.init();
  try {
    const r = await backend.recognize(pcm, {});
    assert.ok(r.segments.length >= 5, `segmented into ${r.segments.length} utterances`);
    for (const s of r.segments) assert.ok(s.end - s.start <= 8.5, `segment ${s.start}-${s.end} within the cap`);
    assertSaneWords(r.words, r.duration);
    // Every word starts inside one of the clips' spans, and nearly all lie wholly inside one
    // (a misrecognized word may absorb some of the noise that follows a clip).
    const span = (i: number) => [offsets[i] - 0.15, offsets[i] + parts[i].length / 16000 + 0.15];
    let whollyInside = 0;
    for (const w of r.words) {
      const starts = offsets.some((_, i) => w.start >= span(i)[0] && w.start <= span(i)[1]);
      assert.ok(starts, `word "${w.word}" ${w.start}-${w.end} starts within a clip`);
      if (offsets.some((_, i) => w.start >= span(i)[0] && w.end <= span(i)[1])) whollyInside++;
    }
    assert.ok(whollyInside / r.words.length >= 0.9, `${whollyInside}/${r.words.length} words wholly inside a clip`);
    // And the last clip ("go forward ten meters") is found where it was placed.
    const go = r.words.filter((w) => w.word === 'go').pop()!;
    const lastOffset = offsets[offsets.length - 1];
    const single = await backend.recognize(parts[parts.length - 1], {});
    assert.ok(Math.abs(go.start - (lastOffset + single.words[0].start)) < 0.06, `go at ${go.start}, expected ≈ ${lastOffset + single.words[0].start}`);
  } finally {
    backend.dispose();
  }
});

test('forced cut at maxSegmentSeconds keeps every word', { skip }, async () => {
  // Speech without pauses long enough for the pause rule: clips back to back.
  const clips = loadManifest().slice(1, 4);
  const parts = clips.map((c) => clipPcm(c)); // ~14 s
  const { pcm } = concatWithGaps(parts, 0.05);
  const uncut = new PocketsphinxBackend({ minSegmentSeconds: 100, maxSegmentSeconds: 200 });
  const cut = new PocketsphinxBackend({ minSegmentSeconds: 3, maxSegmentSeconds: 6, pauseSeconds: 5 });
  try {
    const a = await uncut.recognize(pcm, {});
    const b = await cut.recognize(pcm, {});
    assert.ok(b.segments.length >= 3, `cut into ${b.segments.length} pieces`);
    assertSaneWords(b.words, b.duration);
    // Cutting mid-speech may change a word at each cut, but must not drop speech: the cut
    // transcript is as close to the reference as the uncut one, and about as long.
    const ref = clips.map((c) => c.text).join(' ');
    const wa = wer(ref, a.text);
    const wb = wer(ref, b.text);
    assert.ok(wb <= wa + 0.05, `cut WER ${wb.toFixed(3)} vs uncut ${wa.toFixed(3)}`);
    assert.ok(b.words.length >= 0.9 * a.words.length, `cut ${b.words.length} words vs uncut ${a.words.length}`);
  } finally {
    uncut.dispose();
    cut.dispose();
  }
});

test('unsupported language is refused; empty audio gives an empty result', { skip: skipWithoutPocketsphinx() }, async () => {
  const backend = new PocketsphinxBackend();
  try {
    await assert.rejects(async () => backend.recognize(new Float32Array(16000), { language: 'fr' }), {
      code: 'unsupported_language',
    });
    const r = await backend.recognize(new Float32Array(0), { language: 'en-US' });
    assert.equal(r.text, '');
    assert.deepEqual(r.words, []);
    const multi = await backend.recognize(new Float32Array(8000), { language: 'multi' });
    assert.equal(multi.duration, 0.5);
  } finally {
    backend.dispose();
  }
});
