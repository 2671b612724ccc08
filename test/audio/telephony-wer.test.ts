/**
 * Telephony audio through HTTP (pocketsphinx engine, one real server): the 8 kHz originals of
 * ../shared/speech/telephony_8k_en_asterisk within their corpus WER bound, raw headerless mu-law
 * bodies (encoding=mulaw&sample_rate=8000) transcribed exactly like the mu-law WAVs, and the
 * format taken from the bytes. The comparison of every copy (16 kHz, 8 kHz, mu-law, a-law: WER
 * within 2 points of 16 kHz, 400 s of audio) runs in `npm run test:slow` (telephony-wer.slow.ts).
 * Also: the format comes from the bytes, not Content-Type.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { post, telephonySuite, transcribeAll } from './telephony-helpers.ts';
import { skipWithoutShared } from '../helpers/speech.ts';
import { INVALID_FORMAT_MESSAGE } from '../../src/audio/index.ts';
import { ffmpeg } from './helpers.ts';

const skip = skipWithoutShared('telephony WER test');

describe('telephony audio via HTTP: 8 kHz WER bound, raw mu-law, format from the bytes', { skip }, () => {
  // The fast suite decodes the 8 kHz originals (the telephony case itself) over the corpus; the
  // comparison of every variant (16 kHz, 8 kHz, mu-law, a-law) is telephony-wer.slow.ts.
  const tel = telephonySuite([['8 kHz PCM WAV', 'orig_audio']]);
  const { hyps, wer } = tel;

  test('the 8 kHz originals: batch WER with the per-request CMN estimate within its bound', () => {
    // Batch requests start cepstral mean normalisation from the request's own mean (see
    // cmn-estimate.test.ts): measured 60.1% with the estimate, 93.8% from the model's -cmninit.
    assert.ok(hyps['8 kHz PCM WAV']?.length === tel.clips.length, 'transcribed');
    assert.ok(wer['8 kHz PCM WAV'] <= 0.66, `WER ${(wer['8 kHz PCM WAV'] * 100).toFixed(1)}% > 66%`);
  });

  test('raw mu-law bodies (encoding=mulaw&sample_rate=8000) give the same transcripts as the mu-law WAVs', async () => {
    const some = tel.clips.slice(0, 5);
    const ulawWavs = await transcribeAll(tel.s, some.map((c) => ({ body: fs.readFileSync(c.ulaw_audio!), type: 'audio/wav' })));
    const raws = some.map((c, i) => {
      const raw = path.join(tel.dir, `${i}.ulaw`);
      ffmpeg(['-i', c.ulaw_audio!, '-c:a', 'copy', '-f', 'mulaw', raw]);
      return { body: fs.readFileSync(raw), type: 'application/octet-stream', query: '&encoding=mulaw&sample_rate=8000' };
    });
    const a = await transcribeAll(tel.s, raws);
    assert.deepEqual(a, ulawWavs);
    wer['raw mu-law (5 clips)'] = tel.score(a, some);
  });

  test('format is taken from the bytes: an MP3 labelled audio/wav works, text labelled audio/wav is refused', async () => {
    const mp3 = path.join(tel.dir, 'c.mp3');
    ffmpeg(['-i', tel.clips[0].orig_audio!, '-c:a', 'libmp3lame', '-b:a', '32k', mp3]);
    const ok = await post(tel.s, fs.readFileSync(mp3), 'audio/wav');
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.ok(String(ok.json.transcription).length > 0);
    const bad = await post(tel.s, Buffer.from('this is plainly not audio, whatever the header says'), 'audio/wav');
    assert.equal(bad.status, 400);
    assert.ok(JSON.stringify(bad.json).includes(INVALID_FORMAT_MESSAGE), JSON.stringify(bad.json));
  });
});
