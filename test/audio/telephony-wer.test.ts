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
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { TELEPHONY_SET, post, transcribeAll } from './telephony-helpers.ts';
import { loadSet, skipWithoutShared, type Clip } from '../helpers/speech.ts';
import { corpusWer } from '../../src/util/wer.ts';
import { INVALID_FORMAT_MESSAGE } from '../../src/audio/index.ts';
import { ffmpeg, tempDir } from './helpers.ts';

const SET = TELEPHONY_SET;
const skip = skipWithoutShared('telephony WER test');

describe('telephony audio via HTTP: 8 kHz WER bound, raw mu-law, format from the bytes', { skip }, () => {
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

  // The fast suite decodes the 8 kHz originals (the telephony case itself) over the corpus; the
  // comparison of every variant (16 kHz, 8 kHz, mu-law, a-law) is telephony-wer.slow.ts.
  const VARIANTS = [['8 kHz PCM WAV', 'orig_audio']] as const;
  const hyps: Record<string, string[]> = {};

  test('the 8 kHz originals transcribed', async () => {
    assert.ok(clips.length >= 10);
    const items = clips.flatMap((c) => VARIANTS.map(([, key]) => ({ body: fs.readFileSync(c[key]!), type: 'audio/wav' })));
    const all = await transcribeAll(s, items);
    VARIANTS.forEach(([name], v) => {
      hyps[name] = clips.map((_, i) => all[i * VARIANTS.length + v]);
      wer[name] = score(hyps[name]);
    });
  });

  test('the 8 kHz originals: batch WER with the per-request CMN estimate within its bound', () => {
    // Batch requests start cepstral mean normalisation from the request's own mean (see
    // cmn-estimate.test.ts): measured 60.1% with the estimate, 93.8% from the model's -cmninit.
    assert.ok(hyps['8 kHz PCM WAV']?.length === clips.length, 'transcribed');
    assert.ok(wer['8 kHz PCM WAV'] <= 0.66, `WER ${(wer['8 kHz PCM WAV'] * 100).toFixed(1)}% > 66%`);
  });

  test('raw mu-law bodies (encoding=mulaw&sample_rate=8000) give the same transcripts as the mu-law WAVs', async () => {
    const some = clips.slice(0, 5);
    const ulawWavs = await transcribeAll(s, some.map((c) => ({ body: fs.readFileSync(c.ulaw_audio!), type: 'audio/wav' })));
    const raws = some.map((c, i) => {
      const raw = path.join(dir, `${i}.ulaw`);
      ffmpeg(['-i', c.ulaw_audio!, '-c:a', 'copy', '-f', 'mulaw', raw]);
      return { body: fs.readFileSync(raw), type: 'application/octet-stream', query: '&encoding=mulaw&sample_rate=8000' };
    });
    const a = await transcribeAll(s, raws);
    assert.deepEqual(a, ulawWavs);
    wer['raw mu-law (5 clips)'] = score(a, some);
  });

  test('format is taken from the bytes: an MP3 labelled audio/wav works, text labelled audio/wav is refused', async () => {
    const mp3 = path.join(dir, 'c.mp3');
    ffmpeg(['-i', clips[0].orig_audio!, '-c:a', 'libmp3lame', '-b:a', '32k', mp3]);
    const ok = await post(s, fs.readFileSync(mp3), 'audio/wav');
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.ok(String(ok.json.transcription).length > 0);
    const bad = await post(s, Buffer.from('this is plainly not audio, whatever the header says'), 'audio/wav');
    assert.equal(bad.status, 400);
    assert.ok(JSON.stringify(bad.json).includes(INVALID_FORMAT_MESSAGE), JSON.stringify(bad.json));
  });
});
