import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { newRedactionState, redactWords, redactionStage } from '../../src/pipeline/stages/redaction.ts';
import { createPipeline, DEFAULT_OPTIONS, InlineAnalysis, StageState, type StageContext, type Transcript, type Word } from '../../src/pipeline/index.ts';
import { goldRanges, precision, recall, scoreStage, table, type LabelledRow, type Scores } from '../../src/pipeline/redact/eval.ts';
import { luhn, runDigits } from '../../src/pipeline/redact/numbers.ts';

const SET = new URL('./data/redaction-set.jsonl', import.meta.url);
const rows = readFileSync(SET, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LabelledRow & { split: 'dev' | 'holdout' });

const words = (text: string): Word[] => text.split(/\s+/).filter(Boolean).map((word, i) => ({ word, start: i, end: i + 0.5, confidence: 0.9 }));
const both = { pii: true, pci: true };
const redact = (text: string, state = newRedactionState(), o: Partial<{ pii: boolean; pci: boolean; commit: boolean; realtime: boolean }> = {}) =>
  redactWords(words(text), { ...both, state, commit: true, ...o });
const out = (r: { words: Word[] }) => r.words.map((w) => w.word).join(' ');

test('labelled set: at least 200 sentences, with negatives, every gold entity locatable', () => {
  assert.ok(rows.length >= 200, `${rows.length} rows`);
  const negatives = rows.filter((r) => r.entities.length === 0);
  assert.ok(negatives.length >= 50, `${negatives.length} negatives`);
  for (const w of ['may', 'june', 'bill', 'jack up', 'street']) assert.ok(negatives.some((r) => r.text.toLowerCase().includes(w)), w);
  for (const r of rows) goldRanges(r); // throws if an entity is not in its sentence
});

test('labelled set, stage level: precision and recall per type; every complete card number redacted', () => {
  const dev: Scores = {};
  const hold: Scores = {};
  let completeCards = 0;
  for (const row of rows) {
    const r = redact(row.text);
    scoreStage(row, r.words, row.split === 'holdout' ? hold : dev);
    // Complete (Luhn-valid) card numbers: every one redacted, whatever the split. The worst miss.
    for (const g of goldRanges(row).filter((g) => g.type === 'CREDITCARDNUMBER')) {
      const spoken = row.text.split(/\s+/).slice(g.start, g.end).map((w) => w.toLowerCase().replace(/[^a-z0-9]/g, ''));
      const digits = runDigits(spoken);
      if (digits.length < 13 || !luhn(digits)) continue;
      completeCards++;
      const leaked = r.words.some((w) => !w.entity && w.start >= g.start && w.start < g.end);
      assert.ok(!leaked, `card leaked: ${row.text} → ${out(r)}`);
    }
  }
  assert.ok(completeCards >= 40, `${completeCards} complete cards`);
  console.log(`dev split\n${table(dev)}\nholdout split\n${table(hold)}`);
  // Dev split: the rules were tuned on it, so near-perfect is expected; 0.95 leaves room for one
  // error per type (smallest type has 12 entities) before the test says the detector regressed.
  for (const [type, c] of Object.entries(dev)) {
    assert.ok(precision(c) >= 0.95, `dev ${type} precision ${precision(c)}`);
    assert.ok(recall(c) >= 0.95, `dev ${type} recall ${recall(c)}`);
  }
  // Holdout (76 sentences written after the rules; 59 entities): overall bound only, per-type
  // counts are too small (3..12) for a per-type bound. Its first run scored P 0.946 R 0.898; general
  // fixes followed (no name across a sentence end, "eight hundred five five five" as digits, suffix
  // runs, "NW"), now P 0.983 R 0.983, so it is no longer blind: 0.9 is the bound of the first look.
  const all = Object.values(hold).reduce((a, c) => ({ tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn }), { tp: 0, fp: 0, fn: 0 });
  assert.ok(precision(all) >= 0.9 && recall(all) >= 0.9, `holdout P ${precision(all)} R ${recall(all)}`);
});

test('common words that are also names stay; real names go', () => {
  for (const s of ['may i have the bill please', 'in june we will jack up the price', 'will you mark the date', 'Grant access to the folder.', 'The Bill of Rights was signed.', 'a five minute drive down the street', 'turn left on main street']) {
    const r = redact(s);
    assert.deepEqual(r.redacted, [], `${s} → ${out(r)}`);
  }
  assert.equal(out(redact('my name is may')), 'my name is [FIRSTNAME_1]');
  assert.equal(out(redact('My name is Mark Grant.')), 'My name is [FIRSTNAME_1] [LASTNAME_1].');
});

test('placeholders: one token per span with the span times, Pulse names, same entity same number', () => {
  const state = newRedactionState();
  const a = redact('my name is john smith and my card number is four one one one one one one one one one one one one one one one', state);
  assert.equal(out(a), 'my name is [FIRSTNAME_1] [LASTNAME_1] and my card number is [CREDITCARDNUMBER_1]');
  const card = a.words.find((w) => w.entity === 'CREDITCARDNUMBER')!;
  assert.deepEqual([card.start, card.end], [10, 25.5], 'span start/end of the 16 words');
  assert.equal(card.spoken, '[CREDITCARDNUMBER_1]', 'raw words are not kept on the token');
  assert.deepEqual(a.redacted.map((e) => e.placeholder), ['[FIRSTNAME_1]', '[LASTNAME_1]', '[CREDITCARDNUMBER_1]']);
  // Same session: john again keeps _1, a new first name gets _2, the same card in written form keeps _1.
  const b = redact('thanks john this is mary and the card is 4111 1111 1111 1111', state);
  assert.equal(out(b), 'thanks [FIRSTNAME_1] this is [FIRSTNAME_2] and the card is [CREDITCARDNUMBER_1]');
  // Fresh state (another request): numbering restarts.
  assert.equal(out(redact('this is mary')), 'this is [FIRSTNAME_1]');
});

test('written (ITN) and spoken forms of each type', () => {
  const cases: [string, string][] = [
    ['Call me at (415) 555-2671.', 'Call me at [PHONENUMBER_1].'],
    ['call me at four one five five five five two six seven one', 'call me at [PHONENUMBER_1]'],
    ['Email john.smith@gmail.com today.', 'Email [EMAIL_1] today.'],
    ['it is john dot smith at gmail dot com', 'it is [EMAIL_1]'],
    ['I live at 123 Main St. in Springfield.', 'I live at [ADDRESS_1]. in Springfield.'],
    ['i live at one twenty three main street', 'i live at [ADDRESS_1]'],
    ['the security code is double five nine', 'the security code is [CREDITCARDCVV_1]'],
    ['It expires 05/27.', 'It expires [CREDITCARDEXPIRY_1].'],
    ['it expires oh five twenty seven', 'it expires [CREDITCARDEXPIRY_1]'],
    ['my zip code is six two seven oh four', 'my zip code is [ZIPCODE_1]'],
    ['my account number is 000123456789', 'my account number is [ACCOUNTNUMBER_1]'],
    ['my pin is one two three four', 'my pin is [ACCOUNTNUMBER_1]'],
    // A partial sequence of 12+ digits in a card context (not Luhn-valid) is redacted too.
    ['my card number is four one one one two two two two three three three three', 'my card number is [CREDITCARDNUMBER_1]'],
  ];
  for (const [input, expected] of cases) assert.equal(out(redact(input)), expected, input);
});

test('redact_pii and redact_pci select their types', () => {
  const s = 'my name is john smith and the card is 4111 1111 1111 1111';
  assert.equal(out(redact(s, newRedactionState(), { pci: false })), 'my name is [FIRSTNAME_1] [LASTNAME_1] and the card is 4111 1111 1111 1111');
  assert.equal(out(redact(s, newRedactionState(), { pii: false })), 'my name is john smith and the card is [CREDITCARDNUMBER_1]');
});

test('partials: same detector, trailing digits held back, numbering not committed', () => {
  const state = newRedactionState();
  const spoken = 'my card number is four one one one one one one one one one one one one one one one and my name is john'.split(' ');
  // Every growing hypothesis, as a streaming recognizer emits them.
  for (let n = 1; n <= spoken.length; n++) {
    const r = redactWords(words(spoken.slice(0, n).join(' ')), { ...both, state, commit: false, realtime: true });
    const text = out(r);
    assert.ok(!/\b(one|four)\b/.test(text), `digit words leaked in partial: ${text}`);
    assert.ok(!/\bjohn\b/.test(text), `name leaked in partial: ${text}`);
  }
  assert.equal(state.counters.size, 0, 'partials do not take numbers');
  const partialEmail = redactWords(words('write to john dot smith at gmail'), { ...both, state, commit: false, realtime: true });
  assert.equal(out(partialEmail), 'write to', 'an email in progress is held back');
  const fin = redactWords(words('my name is john'), { ...both, state, commit: true, realtime: true });
  assert.equal(out(fin), 'my name is [FIRSTNAME_1]');
});

test('real time: a cue in one final applies to digits in the next; a card split across finals is redacted', () => {
  const state = newRedactionState();
  const o = { ...both, state, commit: true, realtime: true };
  assert.equal(out(redactWords(words('okay my card number is'), o)), 'okay my card number is');
  assert.equal(out(redactWords(words('four one one one one one one one'), o)), '[CREDITCARDNUMBER_1]');
  assert.equal(out(redactWords(words('one one one one one one one one'), o)), '[CREDITCARDNUMBER_2]');
  assert.equal(out(redactWords(words('and the security code'), o)), 'and the security code');
  assert.equal(out(redactWords(words('is one two three'), o)), 'is [CREDITCARDCVV_1]');
});

const ctx = (over: Partial<StageContext> = {}): StageContext => ({
  mode: 'batch',
  partial: false,
  // Spoken form (no punctuation or casing stage): the assertions are about redaction.
  options: { ...DEFAULT_OPTIONS, punctuate: false, capitalize: false, redactPii: true, redactPci: true },
  state: new StageState(),
  analysis: new InlineAnalysis(),
  engine: { name: 'scripted', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: false },
  ...over,
});

test('in the pipeline: text, words, utterances and redacted list; fail-closed; warning outside English', async () => {
  const pipeline = createPipeline({ utterances: { gapSeconds: 0.8, maxSeconds: 30 } });
  const input = words('my name is john smith call me at four one five five five five two six seven one');
  const t = await pipeline.run({ words: input, text: '', language: 'en', duration: 20, start: 0, end: 20 }, ctx());
  assert.equal(t.text, 'my name is [FIRSTNAME_1] [LASTNAME_1] call me at [PHONENUMBER_1]');
  assert.ok(t.utterances.length > 0 && t.utterances.every((u) => !/john|smith|five/.test(u.text)), JSON.stringify(t.utterances));
  assert.deepEqual(t.redacted?.map((e) => e.placeholder), ['[FIRSTNAME_1]', '[LASTNAME_1]', '[PHONENUMBER_1]']);
  assert.ok(t.timings.redaction !== undefined);
  // Text-only engine output is redacted too.
  const textOnly = await pipeline.run({ words: [], text: 'this is john smith', language: 'en', duration: 1 }, ctx());
  assert.equal(textOnly.text, 'this is [FIRSTNAME_1] [LASTNAME_1]');
  // Fail closed: a transcript the stage cannot process is withheld, not passed on.
  const broken = { text: 'my name is john', words: [{ word: null as unknown as string, start: 0, end: 1, confidence: 1 }], utterances: [], language: 'en', duration: 1, start: 0, end: 1, warnings: [], timings: {} } as Transcript;
  const failed = await pipeline.run(broken, ctx());
  assert.equal(failed.text, '');
  assert.equal(failed.words.length, 0);
  assert.ok(failed.warnings.some((w) => /withheld/.test(w.message)));
  const fr = await pipeline.run({ words: words('appelle moi au 0612345678'), text: '', language: 'fr', duration: 5 }, ctx({ options: { ...DEFAULT_OPTIONS, language: 'fr', redactPii: true, redactPci: true } }));
  assert.ok(fr.warnings.some((w) => /English only/.test(w.message)));
  assert.equal(redactionStage().enabled({ ...DEFAULT_OPTIONS }, 'batch'), false);
});

test('overhead per real-time final: median CPU time well under 5 ms', () => {
  const finals = rows.map((r) => words(r.text));
  const state = newRedactionState();
  for (const f of finals.slice(0, 20)) redactWords(f, { ...both, state, commit: true, realtime: true }); // warm caches
  const cpu: number[] = [];
  for (const f of finals) {
    const c0 = process.cpuUsage();
    redactWords(f, { ...both, state, commit: true, realtime: true });
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  cpu.sort((a, b) => a - b);
  const p50 = cpu[cpu.length >> 1];
  // CPU time, not wall time: the test machine is shared. bench/redaction-eval.ts reports p95.
  assert.ok(p50 < 5, `median ${p50.toFixed(2)} ms`);
});

test('an ITN token holding several groups is one placeholder; uncued card-length runs are cards', () => {
  const w: Word[] = [
    { word: 'card:', start: 0, end: 0.4, confidence: 0.9 },
    { word: '4111 1111 1111 1111', start: 0.5, end: 4, confidence: 0.8, spoken: 'four one one one one one one one one one one one one one one one' },
    { word: 'thanks', start: 4.2, end: 4.5, confidence: 0.9 },
  ];
  const r = redactWords(w, { ...both, state: newRedactionState(), commit: true });
  assert.deepEqual(r.words.map((x) => [x.word, x.start, x.end]), [['card:', 0, 0.4], ['[CREDITCARDNUMBER_1]', 0.5, 4], ['thanks', 4.2, 4.5]]);
  assert.equal(r.words[1].spoken, '[CREDITCARDNUMBER_1]', 'the raw digits are not carried in spoken');
  // A recognizer that garbled the cue: 16 digits still come out as a card, 10 valid digits as a phone.
  assert.equal(out(redact('my current used for one one one one one one one one one one one one one one one one')), 'my current used for [CREDITCARDNUMBER_1]');
});

test('real-time session: every partial and final of a streamed call is scanned for leaks', async () => {
  const { TranscriptionService } = await import('../../src/pipeline/service.ts');
  const engine = { info: { name: 'scripted', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: false } } as unknown as ConstructorParameters<typeof TranscriptionService>[0];
  const service = new TranscriptionService(engine, createPipeline({ utterances: { gapSeconds: 0.8, maxSeconds: 30 } }), new InlineAnalysis());
  const session = service.session({ ...DEFAULT_OPTIONS, punctuate: false, capitalize: false, redactPii: true, redactPci: true, utterances: true });
  // Finals as an endpointer would cut them; the cue of the card is in the final before its digits.
  const finals = [
    'hi my name is sarah connor',
    'my card number is',
    'five four two five two three three four three zero one zero nine nine zero three',
    'the security code is seven three one and my phone is six one seven five five five zero one four two',
    'thanks sarah',
  ];
  const secret = /sarah|connor|\b(five|four|two|three|zero|one|nine|seven|six)\b/;
  const events: string[] = [];
  let t = 0;
  for (const f of finals) {
    const all = f.split(' ');
    const ws = all.map((word, i) => ({ word, start: t + i * 0.3, end: t + i * 0.3 + 0.25, confidence: 0.9 }));
    for (let n = 1; n <= ws.length; n++) {
      const p = await session.partial({ text: '', words: ws.slice(0, n), start: t, end: ws[n - 1].end }, 'en');
      events.push(p.text, ...p.words.map((w) => w.word), ...p.utterances.map((u) => u.text));
    }
    const fin = await session.final({ text: '', words: ws, start: t, end: ws[ws.length - 1].end }, 'en');
    events.push(fin.text, ...fin.words.map((w) => w.word), ...fin.utterances.map((u) => u.text));
    t = ws[ws.length - 1].end + 1;
  }
  const leaks = events.filter((e) => secret.test(e));
  assert.deepEqual(leaks, [], 'no event carries a name or a digit of the card, CVV or phone');
  const last = await session.final({ text: '', words: words('bye sarah connor'), start: t, end: t + 3 }, 'en');
  assert.equal(last.text, 'bye [FIRSTNAME_1] [LASTNAME_1]', 'the same person keeps number 1 across the session');
});

test('two entities inside one word: the word is replaced once and nothing after it is left out', () => {
  const w: Word[] = [
    { word: 'john.smith@gmail.com 4111111111111111', start: 0, end: 3, confidence: 0.9 },
    { word: 'and', start: 3.1, end: 3.3, confidence: 0.9 },
    { word: 'five', start: 3.4, end: 3.6, confidence: 0.9 },
  ];
  const r = redactWords(w, { ...both, state: newRedactionState(), commit: true });
  assert.equal(out(r), '[EMAIL_1] and five');
  assert.ok(!r.words.some((x) => /4111|john/.test(x.word)));
});
