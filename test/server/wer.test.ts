/**
 * Accuracy on real English speech, through HTTP, with the pocketsphinx engine. The bounds sit just
 * above the figures measured when this test was written (see README "Accuracy"), so a regression in
 * audio handling, segmentation or decoding shows up here. This is the one place these corpora are
 * batch-decoded in the fast suite, so the words' shape (non-empty, monotonic, inside the audio,
 * confidence in [0, 1]) is checked here too, over every clip.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { loadSet, skipWithoutShared, type Clip } from '../helpers/speech.ts';
import { corpusWer } from '../../src/util/wer.ts';
import { openLive, wavPcmBytes, type LiveEvent } from '../helpers/ws.ts';

/** Corpus WER bounds per set (measured value + a small margin). */
export const WER_BOUNDS: Record<string, number> = {
  en_librispeech: 0.23,
  en_pocketsphinx_debian: 0.23,
  en_ljspeech: 0.29,
};

// format=false: the recognizer's words as spoken (no ITN digits, punctuation or casing), which is
// what the references and the WER normaliser compare.
const noShared = skipWithoutShared();

interface Word {
  word: string;
  start: number;
  end: number;
  confidence: number;
}

function assertSaneWords(words: Word[], duration: number, label: string): void {
  let prevEnd = 0;
  for (const w of words) {
    assert.ok(w.word.length > 0 && !/[<>\[\]()]/.test(w.word), `${label}: clean word "${w.word}"`);
    assert.ok(w.start >= prevEnd - 1e-6, `${label}: "${w.word}" at ${w.start} starts before the previous word ends (${prevEnd})`);
    assert.ok(w.end >= w.start, `${label}: "${w.word}" ends before it starts`);
    assert.ok(w.start >= 0 && w.end <= duration + 0.01, `${label}: "${w.word}" [${w.start}, ${w.end}] outside [0, ${duration}]`);
    assert.ok(w.confidence >= 0 && w.confidence <= 1, `${label}: "${w.word}" confidence ${w.confidence}`);
    prevEnd = w.end;
  }
}

async function transcribeAll(s: TestServer, clips: Clip[], concurrency = 2): Promise<string[]> {
  const out: string[] = new Array(clips.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < clips.length) {
        const i = next++;
        const res = await fetch(`${s.url}/waves/v1/pulse/get_text?language=en&word_timestamps=true&format=false`, {
          method: 'POST',
          headers: authHeaders(s.key, { 'content-type': 'audio/wav' }),
          body: fs.readFileSync(clips[i].audio),
        });
        const json = (await res.json()) as { transcription: string; words?: Word[] };
        assert.equal(res.status, 200, JSON.stringify(json));
        out[i] = json.transcription;
        assert.ok(json.transcription.trim() === '' || (json.words?.length ?? 0) > 0, `${clips[i].id}: word timestamps were asked for`);
        assertSaneWords(json.words ?? [], clips[i].duration_s, clips[i].id);
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

  const batchHyps: Record<string, string[]> = {};
  for (const set of Object.keys(WER_BOUNDS)) {
    test(`${set}: WER within bound`, async (t) => {
      const clips = loadSet(set).filter((c) => c.text);
      assert.ok(clips.length > 0);
      const hyps = await transcribeAll(s, clips);
      batchHyps[set] = hyps;
      const wer = corpusWer(clips.map((c, i) => ({ reference: c.text!, hypothesis: hyps[i] })));
      t.diagnostic(`${set}: WER ${(wer * 100).toFixed(1)}% over ${clips.length} clips (bound ${(WER_BOUNDS[set] * 100).toFixed(0)}%)`);
      assert.ok(wer <= WER_BOUNDS[set], `${set} WER ${(wer * 100).toFixed(1)}% > ${(WER_BOUNDS[set] * 100).toFixed(0)}%`);
    });
  }

  // Batch starts CMN from the whole file's mean, a stream only from what it has heard so far
  // (0.5 s warm-up, one re-decode at 2 s): this is the check that the two stay level, through the
  // real-time API, against the batch transcripts above (the same server, decoded once).
  test('over en_librispeech + en_pocketsphinx_debian, streamed finals (WebSocket) are within 2 WER points of batch', async (t) => {
    const sets = ['en_librispeech', 'en_pocketsphinx_debian'];
    const clips = sets.flatMap((set) => loadSet(set).filter((c) => c.text));
    const batch = sets.flatMap((set) => batchHyps[set] ?? []);
    assert.equal(batch.length, clips.length, 'the batch transcripts of both sets');
    const streamed: string[] = new Array(clips.length);
    let next = 0;
    await Promise.all(
      [0, 1].map(async () => {
        while (next < clips.length) {
          const i = next++;
          const c = await openLive(`${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text?language=en&format=false`, authHeaders(s.key));
          await c.sendAudio(wavPcmBytes(clips[i].audio));
          c.ws.send(JSON.stringify({ type: 'close_stream' }));
          await c.closed;
          const text = (e: LiveEvent) => String(e.transcript ?? e.transcription ?? '');
          streamed[i] = c.finals().map(text).filter(Boolean).join(' ');
        }
      }),
    );
    const pairs = (hyps: string[]) => clips.map((c, i) => ({ reference: c.text!, hypothesis: hyps[i] }));
    const ws = corpusWer(pairs(streamed));
    const b = corpusWer(pairs(batch));
    t.diagnostic(`corpus WER over ${clips.length} clips: streamed ${(ws * 100).toFixed(1)}%, batch ${(b * 100).toFixed(1)}%`);
    assert.ok(ws <= b + 0.02, `streamed ${(ws * 100).toFixed(1)}% vs batch ${(b * 100).toFixed(1)}%`);
  });
});
