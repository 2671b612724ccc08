/**
 * Streaming CMN ablation over the en_pocketsphinx_debian corpus (`npm run test:slow`): the 2 s
 * refinement re-decode and the warm-up estimate each lower streamed WER, and the default stays
 * within 2 points of batch. The fast suite checks the default against batch through the real-time
 * API (test/server/wer.test.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { decodeAudio } from '../../src/audio/index.ts';
import { corpusWer } from '../../src/util/wer.ts';
import { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { skipWithoutPocketsphinx, streamFinalText } from './helpers.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();

test('streaming CMN: the 2 s re-decode and the warm-up estimate each help', { skip }, async () => {
  const clips: { pcm: Float32Array; text: string }[] = [];
  for (const c of loadSet('en_pocketsphinx_debian').filter((c) => c.text)) {
    clips.push({ pcm: (await decodeAudio(fs.readFileSync(c.audio))).pcm, text: c.text! });
  }
  const mk = async (cfg: ConstructorParameters<typeof PocketsphinxBackend>[0]) => {
    const b = new PocketsphinxBackend({ warmDecoders: 0, ...cfg });
    await b.init();
    return b;
  };
  const backends = [await mk({}), await mk({ streamCmnRefineSeconds: 0 }), await mk({ cmnEstimate: false })];
  try {
    const [ws, wo, wi] = backends.map((b) => corpusWer(clips.map((c) => ({ reference: c.text, hypothesis: streamFinalText(b, c.pcm, 4000) }))));
    const batch: string[] = [];
    for (const c of clips) batch.push((await backends[0].recognize(c.pcm, {})).text);
    const wb = corpusWer(clips.map((c, i) => ({ reference: c.text, hypothesis: batch[i] })));
    console.log(`# streamed (default) ${(ws * 100).toFixed(1)}%, without the 2 s re-decode ${(wo * 100).toFixed(1)}%, from -cmninit ${(wi * 100).toFixed(1)}%, batch ${(wb * 100).toFixed(1)}%`);
    assert.ok(ws <= wb + 0.02, `streamed ${ws} vs batch ${wb}`);
    assert.ok(ws < wo, `with the re-decode ${ws} vs without ${wo}`);
    assert.ok(wo < wi, `warm-up estimate only ${wo} vs -cmninit ${wi}`);
  } finally {
    for (const b of backends) b.dispose();
  }
});
