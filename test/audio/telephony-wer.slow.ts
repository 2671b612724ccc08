/**
 * Telephony audio through HTTP (`npm run test:slow`): the 8 kHz PCM, mu-law and a-law WAV copies
 * of ../shared/speech/telephony_8k_en_asterisk must transcribe with a corpus WER within 2 points of
 * the 16 kHz copies of the same prompts (pocketsphinx engine, one real server; ~400 s of audio).
 * The fast suite (telephony-wer.test.ts) holds the 8 kHz bound, raw mu-law and format checks.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { TELEPHONY_SET, transcribeAll } from './telephony-helpers.ts';
import { loadSet, skipWithoutShared, type Clip } from '../helpers/speech.ts';
import { corpusWer } from '../../src/util/wer.ts';
import { tempDir } from './helpers.ts';

const SET = TELEPHONY_SET;
const MAX_POINTS = 0.02;
const skip = skipWithoutShared('telephony WER test');

describe('telephony audio via HTTP: WER of 8 kHz / mu-law / a-law within 2 points of 16 kHz', { skip }, () => {
  let clips: Clip[] = [];
  let dir = '';
  let s: TestServer;
  const wer: Record<string, number> = {};
  before(async () => {
    clips = loadSet(SET).filter((c) => c.text && c.orig_audio && c.ulaw_audio && c.alaw_audio);
    dir = tempDir('tel');
    s = await startTestServer();
  });
  after(async () => {
    await s?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    console.log(`# telephony corpus WER (${clips.length} clips): ${Object.entries(wer).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}`);
  });

  const score = (hyps: string[], set = clips) => corpusWer(set.map((c, i) => ({ reference: c.text!, hypothesis: hyps[i] })));

  const VARIANTS = [
    ['16k', 'audio'],
    ['8 kHz PCM WAV', 'orig_audio'],
    ['mu-law WAV', 'ulaw_audio'],
    ['a-law WAV', 'alaw_audio'],
  ] as const;
  const hyps: Record<string, string[]> = {};

  test('all variants transcribed', async () => {
    assert.ok(clips.length >= 10);
    const items = clips.flatMap((c) => VARIANTS.map(([, key]) => ({ body: fs.readFileSync(c[key]!), type: 'audio/wav' })));
    const all = await transcribeAll(s, items);
    VARIANTS.forEach(([name], v) => {
      hyps[name] = clips.map((_, i) => all[i * VARIANTS.length + v]);
      wer[name] = score(hyps[name]);
    });
  });

  for (const [name] of VARIANTS.slice(1)) {
    test(`${name}: WER within ${MAX_POINTS * 100} points of the 16 kHz copies`, () => {
      assert.ok(hyps[name]?.length === clips.length, 'transcribed');
      assert.ok(wer[name] <= wer['16k'] + MAX_POINTS, `${name}: WER ${(wer[name] * 100).toFixed(1)}% vs 16 kHz ${(wer['16k'] * 100).toFixed(1)}%`);
    });
  }
});
