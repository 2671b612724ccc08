/** Token → word merging (src/engines/sherpa/words.ts): pure functions, no models. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_CONFIDENCE, normalizeLang, resultText, tokensToWords } from '../../src/engines/sherpa/words.ts';
import { normalizeRequestLang } from '../../src/engines/sherpa/backend.ts';

test('sentencepiece pieces merge into words; times from the first piece, end at the next word', () => {
  const words = tokensToWords(
    {
      tokens: [' HE', 'L', 'LO', ' WOR', 'LD', ','],
      timestamps: [0.2, 0.24, 0.28, 0.6, 0.64, 0.68],
      ys_probs: [Math.log(0.9), Math.log(0.8), Math.log(0.7), Math.log(0.5), Math.log(0.5), Math.log(1)],
    },
    { frameSeconds: 0.04, duration: 1 },
  );
  assert.deepEqual(words.map((w) => w.word), ['HELLO', 'WORLD,']);
  assert.equal(words[0].start, 0.2);
  assert.equal(words[0].end, 0.32, 'last piece start + one frame (before the next word)');
  assert.equal(words[1].start, 0.6);
  assert.equal(words[1].end, 0.72);
  assert.ok(Math.abs(words[0].confidence - Math.cbrt(0.9 * 0.8 * 0.7)) < 1e-9, 'geometric mean of piece probabilities');
  assert.ok(Math.abs(words[1].confidence - Math.cbrt(0.25)) < 1e-9);
});

test('"▁" markers, special tokens, CJK characters, offsets and clamping', () => {
  const words = tokensToWords(
    { tokens: ['<|en|>', '\u2581a', 'b', '<unk>', '你', '好', '\u2581ok'], timestamps: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.95] },
    { frameSeconds: 0.2, duration: 1, offset: 10 },
  );
  assert.deepEqual(words.map((w) => w.word), ['ab', '你', '好', 'ok']);
  assert.equal(words[0].start, 10.1);
  assert.equal(words.at(-1)!.end, 11, 'end clamped to the audio duration');
  for (const w of words) assert.equal(w.confidence, NO_CONFIDENCE, 'no log-probs → documented constant');
});

test('durations (TDT) set word ends; backwards timestamps are made monotonic', () => {
  const words = tokensToWords(
    { tokens: [' a', ' b', ' c'], timestamps: [0.5, 0.4, 0.9], durations: [0.1, 0.1, 0.05] },
    { frameSeconds: 0.08, duration: 2 },
  );
  assert.deepEqual(words.map((w) => w.start), [0.5, 0.5, 0.9]);
  assert.equal(words[2].end, 0.95);
  for (let i = 1; i < words.length; i++) assert.ok(words[i].start >= words[i - 1].start);
});

test('text without token times is spread over the audio', () => {
  const words = tokensToWords({ text: ' hello there world', tokens: [], timestamps: [] }, { frameSeconds: 0.02, duration: 3 });
  assert.deepEqual(words.map((w) => w.word), ['hello', 'there', 'world']);
  assert.equal(words[0].start, 0);
  assert.equal(words.at(-1)!.end, 3);
});

test('language codes', () => {
  assert.equal(normalizeLang('<|ja|>'), 'ja');
  assert.equal(normalizeLang('en'), 'en');
  assert.equal(normalizeLang('<|nospeech|>'), undefined);
  assert.equal(normalizeLang(''), undefined);
  assert.equal(normalizeRequestLang('en-US'), 'en');
  assert.equal(normalizeRequestLang('MULTI'), 'multi');
  assert.equal(normalizeRequestLang(''), undefined);
  assert.equal(resultText({ text: '<|en|> hello \u2581world ' }), 'hello world');
});
