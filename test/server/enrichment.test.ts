/**
 * Every enrichment option either changes the response or produces a warning naming it, on batch
 * and on real time: an option is never silently ignored (issue 10). The stages are being added one
 * by one, so each option is accepted BOTH ways (changed output, or a warning naming it); the test
 * fails only when a requested option leaves no trace at all.
 *
 * Scripted engine: each tone burst becomes the next word of a script with a name and a phone
 * number in it, so redaction, ITN and keyword stages have something to act on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { openLive, type LiveEvent } from '../helpers/ws.ts';
import { burstsPcm, s16Bytes } from './bursts.ts';
import { makeWav } from '../helpers/wav.ts';

// A name (PII) and an account number (PCI), so each redaction flag has something to act on.
const SCRIPT = ['my', 'name', 'is', 'john', 'smith', 'and', 'my', 'account', 'is', 'five', 'five', 'five', 'one', 'two', 'three', 'four'];
// Two halves separated by a 1 s pause (a turn boundary for the utterance and diarization stages).
const BURSTS: [number, number][] = SCRIPT.map((_, i) => [0.2 + i * 0.45 + (i >= 8 ? 1 : 0), 0.45 + i * 0.45 + (i >= 8 ? 1 : 0)]);
const SECONDS = 0.2 + SCRIPT.length * 0.45 + 1.6;

/** Option → query that asks for it, and the parameter names a warning about it may carry. */
const OPTIONS: { name: string; query: string; names: string[]; baseline?: string; batch?: boolean; realtime?: boolean }[] = [
  { name: 'diarize', query: 'diarize=true', names: ['diarize'] },
  { name: 'emotion_detection', query: 'emotion_detection=true', names: ['emotion_detection'] },
  { name: 'gender_detection', query: 'gender_detection=true', names: ['gender_detection'] },
  { name: 'age_detection', query: 'age_detection=true', names: ['age_detection'] },
  { name: 'redact_pii', query: 'redact_pii=true', names: ['redact_pii'] },
  { name: 'redact_pci', query: 'redact_pci=true', names: ['redact_pci'] },
  { name: 'numerals=true', query: 'numerals=true', names: ['numerals', 'itn_normalize'], baseline: 'numerals=false' },
  { name: 'itn_normalize=true', query: 'itn_normalize=true', names: ['numerals', 'itn_normalize'], baseline: 'itn_normalize=false&numerals=false' },
  { name: 'keywords', query: 'keywords=John:2,Smith', names: ['keywords'] },
];

/** What an option may change: the content, not bookkeeping (ids, timings, warnings, empty arrays). */
function content(r: any): unknown {
  return {
    text: r.transcription ?? r.text,
    words: (r.words ?? []).map((w: any) => [w.word, w.start, w.end, w.speaker]),
    utterances: (r.utterances ?? []).map((u: any) => [u.text, u.speaker]),
    gender: r.gender,
    emotions: r.emotions,
    age: r.age,
    redacted: r.redacted_entities?.length ? r.redacted_entities : undefined,
  };
}

function verdict(option: (typeof OPTIONS)[number], base: any, got: any): string | undefined {
  const changed = JSON.stringify(content(base)) !== JSON.stringify(content(got));
  const warned = (got.warnings ?? []).some((w: any) => option.names.includes(w.option) && typeof w.message === 'string' && w.message.length > 0);
  if (changed || warned) return undefined;
  return `${option.name} was silently ignored: same content as without it and no warning naming it (warnings: ${JSON.stringify(got.warnings ?? [])})`;
}

describe('every enrichment option changes the response or is warned about', () => {
  let s: TestServer;
  const wav = makeWav(burstsPcm(BURSTS, SECONDS));
  const pcm = s16Bytes(burstsPcm(BURSTS, SECONDS));
  before(async () => {
    s = await startTestServer({ COCHLEA_ENGINE: 'scripted', COCHLEA_VAD_MODEL: '', COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ words: SCRIPT }) });
  });
  after(() => s?.close());

  async function batch(query: string): Promise<any> {
    const res = await fetch(`${s.url}/waves/v1/pulse/get_text?language=en&word_timestamps=true&${query}`, {
      method: 'POST',
      headers: authHeaders(s.key, { 'content-type': 'audio/wav' }),
      body: new Uint8Array(wav),
    });
    const json = await res.json();
    assert.equal(res.status, 200, `${query}: ${JSON.stringify(json)}`);
    return json;
  }

  /** A whole session folded into one response-like object (finals only; warnings from any final). */
  async function live(query: string): Promise<any> {
    const c = await openLive(
      `${s.url.replace('http', 'ws')}/waves/v1/stt/live?language=en&word_timestamps=true&sentence_timestamps=true&${query}`,
      authHeaders(s.key),
    );
    await c.sendAudio(pcm);
    c.ws.send(JSON.stringify({ type: 'close_stream' }));
    await c.closed;
    const finals = c.events.filter((e: LiveEvent) => e.type === 'transcription' && e.is_final);
    assert.ok(c.events.every((e) => e.type !== 'error'), JSON.stringify(c.events.filter((e) => e.type === 'error')));
    return {
      text: finals.map((e) => e.transcript).filter(Boolean).join(' '),
      words: finals.flatMap((e) => e.words ?? []),
      utterances: finals.flatMap((e) => e.utterances ?? []),
      gender: finals.find((e) => e.gender)?.gender,
      emotions: finals.find((e) => e.emotions)?.emotions,
      redacted_entities: finals.flatMap((e) => e.redacted_entities ?? []),
      warnings: finals.flatMap((e) => e.warnings ?? []),
    };
  }

  test('batch', async () => {
    const base = await batch('');
    // Spoken form (no ITN merging digit words, no punctuation): one word per burst.
    const raw = await batch('format=false');
    assert.equal(raw.transcription.split(' ').length, SCRIPT.length, 'every burst recognized');
    const problems: string[] = [];
    for (const o of OPTIONS) {
      const b = o.baseline ? await batch(o.baseline) : base;
      // Not requested → not warned about.
      if (!o.baseline) assert.ok(!(base.warnings ?? []).some((w: any) => w.option === o.names[0]), `${o.name} warned without being asked`);
      const p = verdict(o, b, await batch(o.query));
      if (p) problems.push(p);
    }
    assert.deepEqual(problems, []);
  });

  test('real time', async () => {
    const base = await live('');
    assert.equal(base.text.split(' ').length, SCRIPT.length, 'every burst recognized');
    const problems: string[] = [];
    for (const o of OPTIONS) {
      const b = o.baseline ? await live(o.baseline) : base;
      if (!o.baseline) assert.ok(!base.warnings.some((w: any) => w.option === o.names[0]), `${o.name} warned without being asked`);
      const p = verdict(o, b, await live(o.query));
      if (p) problems.push(p);
    }
    assert.deepEqual(problems, []);
  });

  test('warnings name the option and say what to do; age_detection says it was retired', async () => {
    const r = await batch('age_detection=true&diarize=true');
    const age = r.warnings.find((w: any) => w.option === 'age_detection');
    assert.match(age.message, /retired/);
    for (const w of r.warnings) {
      assert.deepEqual(Object.keys(w).filter((k) => !['option', 'message', 'fix'].includes(k)), []);
      if (w.fix) assert.match(w.fix, /^cochlea /);
    }
  });
});
