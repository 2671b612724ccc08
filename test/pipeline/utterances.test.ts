import assert from 'node:assert/strict';
import { test } from 'node:test';
import { splitUtterances } from '../../src/pipeline/stages/utterances.ts';
import { baseTranscript } from '../../src/pipeline/index.ts';
import { corpusWer, normalizeForWer, werCounts } from '../../src/util/wer.ts';

const w = (word: string, start: number, end: number, speaker?: number) => ({ word, start, end, confidence: 0.9, ...(speaker === undefined ? {} : { speaker }) });

test('utterances split on pauses at or above the gap, on sentence ends, at the max length and at speaker changes', () => {
  const words = [w('hello', 0, 0.4), w('there', 0.5, 0.9), w('how', 2.0, 2.2), w('are', 2.3, 2.4), w('you?', 2.5, 2.8), w('fine', 2.9, 3.2)];
  const u = splitUtterances(words, { gapSeconds: 0.8, maxSeconds: 30 });
  assert.deepEqual(u.map((x) => x.text), ['hello there', 'how are you?', 'fine']);
  assert.deepEqual([u[1].start, u[1].end], [2.0, 2.8]);
  const long = Array.from({ length: 10 }, (_, i) => w(`w${i}`, i, i + 0.9));
  const capped = splitUtterances(long, { gapSeconds: 5, maxSeconds: 3.5 });
  assert.ok(capped.every((x) => x.end - x.start <= 3.5), JSON.stringify(capped.map((x) => [x.start, x.end])));
  assert.equal(capped.map((x) => x.text).join(' ').split(' ').length, 10, 'no word lost');
  assert.deepEqual(splitUtterances([], { gapSeconds: 1, maxSeconds: 1 }), []);
  const turns = splitUtterances([w('hi', 0, 0.2, 0), w('there', 0.3, 0.5, 0), w('hello', 0.6, 0.9, 1)], { gapSeconds: 1, maxSeconds: 30 });
  assert.deepEqual(turns.map((x) => [x.text, x.speaker]), [['hi there', 0], ['hello', 1]]);
});

test('base transcript rounds times, clamps confidence, and joins words', () => {
  const t = baseTranscript({ text: 'a b', words: [w('a', 0.12345, 0.2), { ...w('b', 1.5, 1.7), confidence: 1.7 }], language: 'en', duration: 2 });
  assert.equal(t.text, 'a b');
  assert.equal(t.words[0].start, 0.123);
  assert.equal(t.words[1].confidence, 1);
  assert.deepEqual([t.start, t.end], [0, 2]);
});

test('WER normalisation and counting', () => {
  assert.deepEqual(normalizeForWer("Hello, World! It's  ten-four."), ['hello', 'world', "it's", 'ten', 'four']);
  assert.deepEqual(werCounts('the cat sat', 'the cat sat'), { errors: 0, words: 3 });
  assert.deepEqual(werCounts('the cat sat', 'a cat sat down'), { errors: 2, words: 3 });
  assert.equal(corpusWer([{ reference: 'a b', hypothesis: 'a' }, { reference: 'c d', hypothesis: 'c d' }]), 0.25);
});
