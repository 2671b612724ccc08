import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitUtterances } from '../../src/pipeline/utterances.ts';
import { buildTranscript } from '../../src/pipeline/index.ts';
import { corpusWer, normalizeForWer, werCounts } from '../../src/util/wer.ts';

const w = (word: string, start: number, end: number) => ({ word, start, end, confidence: 0.9 });

test('utterances split on pauses at or above the gap, on sentence ends, and at the max length', () => {
  const words = [w('hello', 0, 0.4), w('there', 0.5, 0.9), w('how', 2.0, 2.2), w('are', 2.3, 2.4), w('you?', 2.5, 2.8), w('fine', 2.9, 3.2)];
  const u = splitUtterances(words, { gapSeconds: 0.8, maxSeconds: 30 });
  assert.deepEqual(u.map((x) => x.words.map((y) => y.word).join(' ')), ['hello there', 'how are you?', 'fine']);
  assert.deepEqual([u[1].start, u[1].end], [2.0, 2.8]);
  const long = Array.from({ length: 10 }, (_, i) => w(`w${i}`, i, i + 0.9));
  const capped = splitUtterances(long, { gapSeconds: 5, maxSeconds: 3.5 });
  assert.ok(capped.every((x) => x.end - x.start <= 3.5), JSON.stringify(capped.map((x) => [x.start, x.end])));
  assert.equal(capped.flatMap((x) => x.words).length, 10, 'no word lost');
  assert.deepEqual(splitUtterances([], { gapSeconds: 1, maxSeconds: 1 }), []);
});

test('transcript rounds times, clamps confidence, and joins words', () => {
  const t = buildTranscript(
    { text: 'a b', words: [w('a', 0.12345, 0.2), { ...w('b', 1.5, 1.7), confidence: 1.7 }], segments: [], language: 'en', duration: 2, decodeSeconds: 0.1 },
    { utterances: { gapSeconds: 1, maxSeconds: 30 } },
  );
  assert.equal(t.text, 'a b');
  assert.equal(t.words[0].start, 0.123);
  assert.equal(t.words[1].confidence, 1);
  assert.equal(t.utterances.length, 2);
});

test('WER normalisation and counting', () => {
  assert.deepEqual(normalizeForWer("Hello, World! It's  ten-four."), ['hello', 'world', "it's", 'ten', 'four']);
  assert.deepEqual(werCounts('the cat sat', 'the cat sat'), { errors: 0, words: 3 });
  assert.deepEqual(werCounts('the cat sat', 'a cat sat down'), { errors: 2, words: 3 });
  assert.equal(corpusWer([{ reference: 'a b', hypothesis: 'a' }, { reference: 'c d', hypothesis: 'c d' }]), 0.25);
});
