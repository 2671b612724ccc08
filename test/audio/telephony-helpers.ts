/** Shared by telephony-wer.test.ts and telephony-wer.slow.ts: one real server, batch requests over HTTP. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, test } from 'node:test';
import { authHeaders, startTestServer, type TestServer } from '../helpers/server.ts';
import { loadSet, type Clip } from '../helpers/speech.ts';
import { corpusWer } from '../../src/util/wer.ts';
import { tempDir } from './helpers.ts';

export const TELEPHONY_SET = 'telephony_8k_en_asterisk';

/** POST a body as the recognizer's spoken words (format=false: WER compares words, not ITN digits). */
export async function post(s: TestServer, body: Buffer, contentType: string, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${s.url}/waves/v1/pulse/get_text?language=en&format=false${query}`, {
    method: 'POST',
    headers: authHeaders(s.key, { 'content-type': contentType }),
    body: body as unknown as BodyInit,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Transcribe every item, two requests at a time (batch results do not depend on request order: determinism.test.ts). */
export async function transcribeAll(s: TestServer, items: { body: Buffer; type: string; query?: string }[], concurrency = 2): Promise<string[]> {
  const out: string[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        const r = await post(s, items[i].body, items[i].type, items[i].query);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        out[i] = String(r.json.transcription ?? '');
      }
    }),
  );
  return out;
}

/** A copy of each clip to transcribe: [name, the manifest field holding its audio file]. */
export type TelephonyVariant = readonly [string, 'audio' | 'orig_audio' | 'ulaw_audio' | 'alaw_audio'];

export interface TelephonySuite {
  /** The set's clips that have text and every copy. */
  clips: Clip[];
  s: TestServer;
  /** A temporary directory, removed after the suite. */
  dir: string;
  /** Corpus WER by name, printed when the suite ends. */
  wer: Record<string, number>;
  /** Transcripts of each variant, in clip order. */
  hyps: Record<string, string[]>;
  score(hyps: string[], set?: Clip[]): number;
}

/**
 * Call inside a describe(): loads the set and starts one real server before its tests, adds the
 * first test (every variant of every clip transcribed, scored into `wer` and `hyps`), and after
 * the tests stops the server, removes the temporary directory and prints the corpus WERs.
 */
export function telephonySuite(variants: readonly TelephonyVariant[]): TelephonySuite {
  const suite: TelephonySuite = {
    clips: [],
    s: undefined as unknown as TestServer,
    dir: '',
    wer: {},
    hyps: {},
    score: (hyps, set = suite.clips) => corpusWer(set.map((c, i) => ({ reference: c.text!, hypothesis: hyps[i] }))),
  };
  before(async () => {
    suite.clips = loadSet(TELEPHONY_SET).filter((c) => c.text && c.orig_audio && c.ulaw_audio && c.alaw_audio);
    suite.dir = tempDir('tel');
    suite.s = await startTestServer();
  });
  after(async () => {
    await suite.s?.close();
    if (suite.dir) fs.rmSync(suite.dir, { recursive: true, force: true });
    console.log(`# telephony corpus WER (${suite.clips.length} clips): ${Object.entries(suite.wer).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}`);
  });
  test(variants.length === 1 ? `the ${variants[0][0]} copies transcribed` : 'all variants transcribed', async () => {
    const { clips } = suite;
    assert.ok(clips.length >= 10);
    const items = clips.flatMap((c) => variants.map(([, key]) => ({ body: fs.readFileSync(c[key]!), type: 'audio/wav' })));
    const all = await transcribeAll(suite.s, items);
    variants.forEach(([name], v) => {
      suite.hyps[name] = clips.map((_, i) => all[i * variants.length + v]);
      suite.wer[name] = suite.score(suite.hyps[name]);
    });
  });
  return suite;
}
