/**
 * Accuracy on real English speech, through HTTP, with the pocketsphinx engine. The bounds sit just
 * above the figures measured when this test was written (see README "Accuracy"), so a regression in
 * audio handling, segmentation or decoding shows up here.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { loadSet, skipWithoutShared, type Clip } from '../helpers/speech.ts';
import { corpusWer } from '../../src/util/wer.ts';

/** Corpus WER bounds per set (measured value + a small margin). */
export const WER_BOUNDS: Record<string, number> = {
  en_librispeech: 0.23,
  en_pocketsphinx_debian: 0.23,
  en_ljspeech: 0.29,
};

const noShared = skipWithoutShared();

async function transcribeAll(s: TestServer, clips: Clip[], concurrency = 2): Promise<string[]> {
  const out: string[] = new Array(clips.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < clips.length) {
        const i = next++;
        const res = await fetch(`${s.url}/waves/v1/pulse/get_text?language=en`, {
          method: 'POST',
          headers: authHeaders(s.key, { 'content-type': 'audio/wav' }),
          body: fs.readFileSync(clips[i].audio),
        });
        const json = (await res.json()) as { transcription: string };
        assert.equal(res.status, 200, JSON.stringify(json));
        out[i] = json.transcription;
      }
    }),
  );
  return out;
}

describe('word error rate on real speech (pocketsphinx, via HTTP)', { skip: noShared }, () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.close());

  for (const set of Object.keys(WER_BOUNDS)) {
    test(`${set}: WER within bound`, async (t) => {
      const clips = loadSet(set).filter((c) => c.text);
      assert.ok(clips.length > 0);
      const hyps = await transcribeAll(s, clips);
      const wer = corpusWer(clips.map((c, i) => ({ reference: c.text!, hypothesis: hyps[i] })));
      t.diagnostic(`${set}: WER ${(wer * 100).toFixed(1)}% over ${clips.length} clips (bound ${(WER_BOUNDS[set] * 100).toFixed(0)}%)`);
      assert.ok(wer <= WER_BOUNDS[set], `${set} WER ${(wer * 100).toFixed(1)}% > ${(WER_BOUNDS[set] * 100).toFixed(0)}%`);
    });
  }
});
