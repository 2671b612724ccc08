/**
 * Telephony audio through HTTP (`npm run test:slow`): the 8 kHz PCM, mu-law and a-law WAV copies
 * of ../shared/speech/telephony_8k_en_asterisk must transcribe with a corpus WER within 2 points of
 * the 16 kHz copies of the same prompts (pocketsphinx engine, one real server; ~400 s of audio).
 * The fast suite (telephony-wer.test.ts) holds the 8 kHz bound, raw mu-law and format checks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { telephonySuite, type TelephonyVariant } from './telephony-helpers.ts';
import { skipWithoutShared } from '../helpers/speech.ts';

const MAX_POINTS = 0.02;
const skip = skipWithoutShared('telephony WER test');

describe('telephony audio via HTTP: WER of 8 kHz / mu-law / a-law within 2 points of 16 kHz', { skip }, () => {
  const VARIANTS: TelephonyVariant[] = [
    ['16k', 'audio'],
    ['8 kHz PCM WAV', 'orig_audio'],
    ['mu-law WAV', 'ulaw_audio'],
    ['a-law WAV', 'alaw_audio'],
  ];
  const tel = telephonySuite(VARIANTS);
  const { hyps, wer } = tel;

  for (const [name] of VARIANTS.slice(1)) {
    test(`${name}: WER within ${MAX_POINTS * 100} points of the 16 kHz copies`, () => {
      assert.ok(hyps[name]?.length === tel.clips.length, 'transcribed');
      assert.ok(wer[name] <= wer['16k'] + MAX_POINTS, `${name}: WER ${(wer[name] * 100).toFixed(1)}% vs 16 kHz ${(wer['16k'] * 100).toFixed(1)}%`);
    });
  }
});
