/**
 * Keyword boosting on pocketsphinx: the espeak-ng G2P and its CMU mapping, keyword parsing and
 * output casing, per-session apply/restore on a pooled decoder, and one real decode of a name
 * the dictionary lacks (synthesized with espeak-ng, as bench/keywords-eval.ts does at scale).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { EspeakG2P, ipaLineToCmu, ipaUnitToCmu, CMU_PHONES } from '../../src/engines/g2p/espeak.ts';
import { KeywordPlan, parseKeyword, parseKeywords, MAX_KEYWORDS, DISABLED_LOG10 } from '../../src/engines/pocketsphinx/keywords.ts';
import { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import type { EngineWord } from '../../src/engines/types.ts';
import { readWav16kMono, skipWithoutPocketsphinx, streamFinalText } from './helpers.ts';

const hasEspeak = spawnSync('sh', ['-c', 'command -v espeak-ng && command -v sox']).status === 0;
const skipEspeak = hasEspeak ? false : 'espeak-ng and sox needed (apt-get install espeak-ng sox)';
const skipDecode = skipWithoutPocketsphinx() || skipEspeak;

test('IPA → CMU mapping: units, r-coloured and syllabic units, stress and length marks', () => {
  assert.deepEqual(ipaUnitToCmu('ˈæ'), ['AE']);
  assert.deepEqual(ipaUnitToCmu('dʒ'), ['JH']);
  assert.deepEqual(ipaUnitToCmu('ˌiː'), ['IY']);
  assert.deepEqual(ipaUnitToCmu('oːɹ'), ['AO', 'R']);
  assert.deepEqual(ipaUnitToCmu('n̩'), ['AH', 'N']);
  assert.deepEqual(ipaUnitToCmu('ɾ'), ['T']);
  // A unit not in the table is split by longest match.
  assert.deepEqual(ipaUnitToCmu('ɑːk'), ['AA', 'K']);
  assert.deepEqual(ipaLineToCmu('d_ɹ_ˈʌ_m_ɹ_aɪ_t'), ['D', 'R', 'AH', 'M', 'R', 'AY', 'T']);
  // espeak writes the r of "ʊɹ_ɹ" twice; CMU never doubles a consonant.
  assert.deepEqual(ipaLineToCmu('m_j_ˈʊɹ_ɹ_ə'), ['M', 'Y', 'UH', 'R', 'AH']);
  for (const p of CMU_PHONES) assert.match(p, /^(AA|AE|AH|AO|AW|AY|B|CH|D|DH|EH|ER|EY|F|G|HH|IH|IY|JH|K|L|M|N|NG|OW|OY|P|R|S|SH|T|TH|UH|UW|V|W|Y|Z|ZH)$/);
});

test('espeak-ng G2P agrees with cmudict on common words; one process per batch, cached', { skip: skipEspeak }, () => {
  // cmudict-en-us.dict pronunciations (stress-free, as pocketsphinx's dictionary has them).
  const cmudict: Record<string, string> = {
    hello: 'HH AH L OW',
    water: 'W AO T ER',
    church: 'CH ER CH',
    tomorrow: 'T AH M AA R OW',
    player: 'P L EY ER',
    bottle: 'B AA T AH L',
    button: 'B AH T AH N',
    blackwell: 'B L AE K W EH L',
    jensen: 'JH EH N S AH N',
    bartholomew: 'B AA R TH AA L AH M Y UW',
    near: 'N IH R',
    four: 'F AO R',
  };
  const g = new EspeakG2P();
  const out = g.phonemize(Object.keys(cmudict));
  assert.equal(g.spawns, 1);
  for (const [w, p] of Object.entries(cmudict)) assert.equal(out.get(w), p, w);
  // Invented names get a plausible pronunciation made only of the model's phones.
  const names = g.phonemize(['Drumwright', 'Anneliese', 'GPT-4', '???']);
  assert.equal(names.get('Drumwright'), 'D R AH M R AY T');
  assert.equal(names.get('Anneliese'), 'AE N IH L IH S');
  assert.match(names.get('GPT-4')!, /^JH IY P IY T IY F AO R$/);
  assert.equal(names.get('???'), null);
  assert.equal(g.spawns, 2);
  g.phonemize(['hello', 'Drumwright']);
  assert.equal(g.spawns, 2, 'cached words do not spawn espeak-ng again');
});

test('keyword parsing: phrase, intensity, limits', () => {
  assert.deepEqual(parseKeyword('Jensen Huang:2'), { phrase: 'Jensen Huang', intensity: 2, display: ['Jensen', 'Huang'], words: ['jensen', 'huang'] });
  assert.equal(parseKeyword('Blackwell')!.intensity, 1);
  assert.equal(parseKeyword('Blackwell:0.5')!.intensity, 0.5);
  assert.equal(parseKeyword('Blackwell:0')!.intensity, 0);
  assert.equal(parseKeyword('Blackwell:99')!.intensity, 10, 'capped');
  assert.equal(parseKeyword('Blackwell:-1'), null, 'negative intensities are rejected');
  assert.equal(parseKeyword('  :3'), null);
  assert.deepEqual(parseKeyword('"O\'Brien,":1')!.words, ["o'brien"]);
  assert.deepEqual(parseKeyword('ratio 3:2'), { phrase: 'ratio 3', intensity: 2, display: ['ratio', '3'], words: ['ratio', '3'] }, 'the last numeric tail is the intensity');
  assert.deepEqual(parseKeyword('10:30 meeting')!.words, ['10:30', 'meeting'], 'a colon inside the phrase stays');
  const many = Array.from({ length: 150 }, (_, i) => `word${i}:1`);
  assert.equal(parseKeywords(many).length, MAX_KEYWORDS);
  assert.deepEqual(parseKeywords(undefined), []);
});

test('output casing: single words anywhere, phrases only in sequence', () => {
  const plan = new KeywordPlan(parseKeywords(['Blackwell:2', 'Jensen Huang:1', 'Call Center']));
  const w = (...ws: string[]): EngineWord[] => ws.map((word, i) => ({ word, start: i, end: i + 1, confidence: 1 }));
  const out = plan.applyCasing(w('jensen', 'huang', 'said', 'blackwell', 'call', 'me', 'jensen'));
  assert.deepEqual(out.map((x) => x.word), ['Jensen', 'Huang', 'said', 'Blackwell', 'call', 'me', 'jensen']);
  assert.deepEqual(plan.applyCasing(w('the', 'call', 'center')).map((x) => x.word), ['the', 'Call', 'Center']);
  // Words added to the dictionary for a keyword exist only because of it: cased anywhere.
  plan.markAdded('huang');
  assert.equal(plan.applyCasing(w('huang'))[0].word, 'Huang');
  assert.deepEqual(new KeywordPlan([]).applyCasing(w('x')).map((x) => x.word), ['x']);
});

test('per-session state: boosts restored exactly, added words disabled, decoder reused', { skip: skipWithoutPocketsphinx() || skipEspeak }, async () => {
  // One decoder with its own LM (shareLm off): the test follows keyword state across its reuses
  // (streaming decoders searching like batch ones: no streaming pool with a warm decoder of its own).
  const backend = new PocketsphinxBackend({ warmDecoders: 1, maxIdleDecoders: 1, shareLm: false, streamVocabulary: 0, streamArgs: { '-maxwpf': '-1' } });
  await backend.init();
  try {
    const dec = backend.acquire();
    const table = dec.unigramTable();
    assert.ok(table, 'the LM layout is verified');
    const callWid = table.wid('call');
    const before = table.get(callWid);
    const bounds0 = table.vocabularyBounds()!;
    assert.ok(bounds0.maxVocab.length >= 2, 'bigram and trigram arrays found');
    assert.deepEqual(bounds0.maxVocab, bounds0.maxVocab.map(() => bounds0.unigrams), 'max_vocab is the unigram count at load');
    assert.equal(dec.lookupWord('drumwright'), null);
    backend.release(dec);

    const plan = backend.keywordPlan(['Anneliese Drumwright:3', 'call:2']);
    const d2 = backend.acquire(plan);
    assert.equal(d2, dec, 'the pooled decoder is reused');
    assert.equal(d2.lookupWord('drumwright'), 'D R AH M R AY T', 'added with the G2P pronunciation');
    const t2 = d2.unigramTable()!;
    assert.ok(t2.get(t2.wid('call')) > before + 1, 'in-LM keyword boosted');
    assert.ok(t2.get(t2.wid('drumwright')) > -4, 'added keyword boosted');
    // The trie's n-gram searches must accept the new (larger) word ids as history keys.
    const bounds = t2.vocabularyBounds()!;
    assert.equal(bounds.unigrams, bounds0.unigrams + 2);
    assert.deepEqual(bounds.maxVocab, bounds.maxVocab.map(() => bounds.unigrams), 'max_vocab raised with the vocabulary');
    backend.release(d2);

    const d3 = backend.acquire();
    const t3 = d3.unigramTable()!;
    assert.equal(t3.get(t3.wid('call')), before, 'boost undone exactly');
    assert.ok(Math.abs(t3.get(t3.wid('drumwright')) - DISABLED_LOG10) < 1e-3, 'added word disabled between sessions');
    backend.release(d3);
    assert.deepEqual(backend.stats(), { created: 1, live: 0, idle: 1 });
    // A later session naming the same word does not rebuild the lexicon again.
    const rebuilds = backend.keywords!.stats.rebuilds;
    backend.release(backend.acquire(backend.keywordPlan(['Drumwright:1'])));
    assert.equal(backend.keywords!.stats.rebuilds, rebuilds);
  } finally {
    backend.dispose();
  }
});

/** espeak-ng (en-us, 140 wpm) → 16 kHz mono WAV in a temp dir. */
function synth(text: string): Float32Array {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-kw-'));
  try {
    const raw = path.join(dir, 'raw.wav');
    const out = path.join(dir, 'out.wav');
    execFileSync('espeak-ng', ['-v', 'en-us', '-s', '140', '-w', raw, text]);
    execFileSync('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', out]);
    return readWav16kMono(out);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a name the dictionary lacks: missed without keywords, recognized and cased with them (batch and streaming)', { skip: skipDecode }, async () => {
  // Without keywords the decoder cannot output a word outside its dictionary (0/48 names on
  // bench/keywords-eval.ts's synthesized set); with them 31–38% of those names come out in full
  // and more in part. Decoding is deterministic on one machine (determinism.test.ts), but which
  // way one clip goes is not stable across machines: espeak-ng's and sox's float output differs
  // with the CPU, and one clip here moved from "Wielgosz" to "squeal cause" in CI (and does with a
  // 37-sample shift or 0.8× gain here). So the test counts over four clips of the name in
  // different sentences. Measured here over five perturbations of each clip (none, gain 0.8,
  // shifts of 37 and 111 samples, ±0.03% dither): 4/4 in batch and 4/4 streamed every time;
  // the bound is 2 of 4 for each.
  const sentences = [
    'please call Bartosz Wielgosz tomorrow morning',
    'my name is Bartosz Wielgosz',
    'send the report to Bartosz Wielgosz today',
    'Bartosz Wielgosz will join the meeting',
  ];
  const name = /\b(Bartosz|Wielgosz)\b/; // cased as given: the keyword's own spelling
  const clips = sentences.map(synth);
  // One decoder with its own LM (shareLm off): the test follows keyword state across its reuses.
  const backend = new PocketsphinxBackend({ warmDecoders: 1, maxIdleDecoders: 1, shareLm: false });
  await backend.init();
  try {
    const keywords = ['Bartosz Wielgosz:2'];
    const batch: string[] = [];
    const streamed: string[] = [];
    let timed = false;
    const plain = await backend.recognize(clips[0], {});
    assert.doesNotMatch(plain.text, /bartosz|wielgosz/i, `plain: ${plain.text}`);
    for (const pcm of clips) {

      const boosted = await backend.recognize(pcm, { keywords });
      batch.push(boosted.text);
      const w = boosted.words.find((x) => x.word === 'Wielgosz');
      if (w) {
        assert.ok(w.end > w.start && w.start > 0.3, `the keyword has real times: ${JSON.stringify(w)}`);
        timed = true;
      }

      // Streaming session on the same pooled decoder.
      streamed.push(streamFinalText(backend, pcm, 1600, { keywords }));
    }
    const hits = (texts: string[]) => texts.filter((t) => name.test(t)).length;
    assert.ok(hits(batch) >= 2, `batch with keywords: ${JSON.stringify(batch)}`);
    assert.ok(hits(streamed) >= 2, `streamed with keywords: ${JSON.stringify(streamed)}`);
    assert.ok(timed, `"Wielgosz" in some batch transcript: ${JSON.stringify(batch)}`);
    assert.ok(batch.some((t) => /\bmorning\b|\bmeeting\b/.test(t)), 'the rest of the sentences survives');

    const after = await backend.recognize(clips[0], {});
    assert.doesNotMatch(after.text, /bartosz|wielgosz/i, 'the next session without keywords cannot produce it');
  } finally {
    backend.dispose();
  }
});
