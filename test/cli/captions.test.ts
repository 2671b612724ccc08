/** Caption building (srt/vtt) on synthetic word timings, validated by the strict parsers. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildCues, toSrt, toVtt, wrapLines, type CaptionSource } from '../../src/util/captions.ts';
import { parseSrt, parseVtt } from './subtitle-parser.ts';

/** Words at a steady pace, with a pause between sentences. */
function source(sentences: string[], wordSec = 0.35, pauseSec = 1.2): CaptionSource {
  const words: { word: string; start: number; end: number; confidence: number }[] = [];
  const utterances: { text: string; start: number; end: number }[] = [];
  let t = 0.3;
  for (const s of sentences) {
    const ws = s.split(' ');
    const start = t;
    for (const w of ws) {
      words.push({ word: w, start: t, end: t + wordSec * 0.9, confidence: 0.9 });
      t += wordSec;
    }
    utterances.push({ text: s, start, end: t - wordSec * 0.1 });
    t += pauseSec;
  }
  return { transcription: sentences.join(' '), words, utterances };
}

const LONG =
  'it was the best of times it was the worst of times it was the age of wisdom it was the age of foolishness it was the epoch of belief it was the epoch of incredulity';

describe('captions', () => {
  test('wrapLines balances two lines within the limit, refuses what cannot fit', () => {
    const words = 'the quick brown fox jumps over the lazy dog and keeps on running far away'.split(' ');
    const lines = wrapLines(words, 42, 2)!;
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => l.length <= 42));
    assert.equal(lines.join(' '), words.join(' '));
    assert.ok(Math.abs(lines[0].length - lines[1].length) <= 10, `balanced: ${JSON.stringify(lines)}`);
    assert.deepEqual(wrapLines(['short'], 42, 2), ['short']);
    assert.equal(wrapLines(LONG.split(' '), 42, 2), undefined);
  });

  test('cues follow utterances, respect 2×42 and 7 s, keep every word in order, parse as SRT and VTT', () => {
    const src = source(['hello there', LONG, 'goodbye <now> & then']);
    const cues = buildCues(src);
    // No cue mixes two utterances: the first utterance is a cue on its own.
    assert.deepEqual(cues[0].lines, ['hello there']);
    assert.ok(cues.length >= 4, `long utterance (164 chars) split into at least 2 cues (${cues.length} in all)`);
    assert.deepEqual(cues.at(-1)!.lines, ["goodbye <now> & then"], "last utterance is a cue of its own");
    for (const c of cues) {
      assert.ok(c.lines.length >= 1 && c.lines.length <= 2, JSON.stringify(c));
      for (const l of c.lines) assert.ok(l.length <= 42, `line too long: ${l}`);
      assert.ok(c.end - c.start <= 7 + 1e-9, `cue too long: ${c.end - c.start}`);
    }
    assert.equal(cues.flatMap((c) => c.lines).join(' '), src.transcription);

    const srt = parseSrt(toSrt(cues));
    assert.equal(srt.length, cues.length);
    assert.equal(srt[0].start, 0.3);
    const vtt = parseVtt(toVtt(cues));
    assert.equal(vtt.length, cues.length);
    assert.ok(toVtt(cues).includes('goodbye &lt;now&gt; &amp; then'), 'VTT text is escaped');
    assert.ok(toSrt(cues).includes('goodbye <now> & then'), 'SRT text is plain');
  });

  test('times are made monotonic and non-overlapping even when word times are not', () => {
    const src: CaptionSource = {
      transcription: 'a b c',
      words: [
        { word: 'a', start: 1, end: 2 },
        { word: 'b', start: 1.5, end: 1.5 },
        { word: 'c', start: 1.4, end: 3 },
      ],
      utterances: [
        { text: 'a', start: 1, end: 2 },
        { text: 'b', start: 1.5, end: 1.5 },
        { text: 'c', start: 1.4, end: 3 },
      ],
    };
    const cues = buildCues(src);
    assert.doesNotThrow(() => parseSrt(toSrt(cues)));
    assert.doesNotThrow(() => parseVtt(toVtt(cues)));
  });

  test('no words: utterance text is spread over its span; no speech: empty but valid files', () => {
    const cues = buildCues({ transcription: LONG, utterances: [{ text: LONG, start: 2, end: 14 }] });
    assert.ok(cues.length > 1);
    assert.equal(cues[0].start, 2);
    assert.ok(Math.abs(cues.at(-1)!.end - 14) < 1e-6);
    parseSrt(toSrt(cues));
    assert.deepEqual(parseSrt(toSrt(buildCues({ transcription: '', words: [], utterances: [] }))), []);
    assert.deepEqual(parseVtt(toVtt([])), []);
    assert.equal(toVtt([]), 'WEBVTT\n\n');
  });

  test('a token longer than a line is split, never overflowing', () => {
    const long = 'x'.repeat(100);
    const cues = buildCues({ transcription: long, words: [{ word: long, start: 0, end: 2 }] });
    for (const c of cues) for (const l of c.lines) assert.ok(l.length <= 42);
    assert.equal(cues.flatMap((c) => c.lines).join(''), long);
  });

  test('the parsers reject malformed files', () => {
    assert.throws(() => parseSrt('1\n00:00:01,000 --> 00:00:00,500\nx\n'), /not after/);
    assert.throws(() => parseSrt('1\n00:00:01.000 --> 00:00:02,000\nx\n'), /bad timestamps/);
    assert.throws(() => parseSrt('1\n00:00:01,000 --> 00:00:02,000\nx\n\n3\n00:00:03,000 --> 00:00:04,000\ny\n'), /bad index/);
    assert.throws(() => parseSrt('1\n00:00:02,000 --> 00:00:03,000\nx\n\n2\n00:00:01,000 --> 00:00:04,000\ny\n'), /before|overlaps/);
    assert.throws(() => parseVtt('00:00.000 --> 00:01.000\nx\n'), /header/);
    assert.throws(() => parseVtt('WEBVTT\n\n00:00.000 --> 00:01.000\na <b\n'), /unescaped/);
  });
});
