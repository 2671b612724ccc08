/**
 * Decoders of one thread searching one n-gram LM (SharedLm, the backend's default): the same words,
 * times and posteriors as decoders that load their own copy, however their work interleaves, less
 * memory each, and the LM outlives the handle that loaded it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_PATHS,
  PocketsphinxDecoder,
  SharedLm,
  floatToInt16,
  lmTrimmedDictionary,
  loadPocketsphinx,
} from '../../src/engines/pocketsphinx/binding.ts';
import { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import { nativeHeapInUse } from '../../src/util/native-heap.ts';
import { clipPcm, loadManifest, readWav16kMono, skipWithoutPocketsphinx, skipWithoutShared } from './helpers.ts';
import { loadSet } from '../helpers/speech.ts';
import koffi from 'koffi';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();

/** The decoder's current segments as text: word@first-last frame, and with `probs` the posterior. */
function segmentText(d: PocketsphinxDecoder, probs = false): string {
  return d.segments().map((s) => `${s.word}@${s.startFrame}-${s.endFrame}${probs ? `:${s.prob.toFixed(6)}` : ''}`).join(' ');
}

function transcript(d: PocketsphinxDecoder, pcm: Float32Array): string {
  d.startStream();
  d.startUtt();
  d.processRaw(floatToInt16(pcm));
  d.endUtt();
  return segmentText(d);
}

test('decoders sharing one LM decode exactly like decoders with their own, and take less memory', { skip }, () => {
  const dict = lmTrimmedDictionary(DEFAULT_PATHS.dict, DEFAULT_PATHS.lm);
  const clips = loadManifest().slice(0, 2).map((c) => clipPcm(c));
  // In-use native bytes, not RSS (which glibc's arenas make move by tens of MB between runs).
  const inUse = () => nativeHeapInUse() ?? process.memoryUsage().rss;
  const r0 = inUse();
  const own = [new PocketsphinxDecoder({ dict }), new PocketsphinxDecoder({ dict })];
  const r1 = inUse();
  const lm = new SharedLm({ dict });
  const shared = [new PocketsphinxDecoder({ dict, sharedLm: lm }), new PocketsphinxDecoder({ dict, sharedLm: lm })];
  const r2 = inUse();
  try {
    for (const pcm of clips) {
      // Interleaved on one thread, as a worker's sessions are.
      const a = transcript(own[0], pcm);
      assert.ok(a.length > 0);
      assert.equal(transcript(shared[0], pcm), a);
      assert.equal(transcript(shared[1], pcm), a);
    }
    // Two decoders with their own LM vs the LM once plus two decoders over it: the LM is ~33 MB.
    const ownPer = (r1 - r0) / 2;
    const sharedTotal = r2 - r1;
    console.log(`# own LM ${(ownPer / 2 ** 20).toFixed(1)} MB per decoder; shared LM + 2 decoders ${(sharedTotal / 2 ** 20).toFixed(1)} MB`);
    assert.ok(sharedTotal < 2 * ownPer - 20 * 2 ** 20, `own ${(ownPer / 2 ** 20).toFixed(1)} MB each; shared LM + 2 decoders ${(sharedTotal / 2 ** 20).toFixed(1)} MB`);
    // Decoders hold their own reference: releasing the loader's handle leaves them working.
    lm.release();
    assert.equal(transcript(shared[1], clips[0]), transcript(own[1], clips[0]));
    // An LM loaded with other weights is refused rather than silently mis-weighted.
    const lw = new SharedLm({ dict, args: { '-lw': '9' } });
    assert.throws(() => new PocketsphinxDecoder({ dict, sharedLm: lw }), /other LM weights/);
    lw.release();
  } finally {
    for (const d of [...own, ...shared]) d.free();
  }
});

test('backend: streaming and batch decoders share the worker LM unless their weights differ', { skip }, async () => {
  const b = new PocketsphinxBackend({ warmDecoders: 0, shareLm: true, streamArgs: { '-maxhmmpf': '3000' } });
  await b.init();
  try {
    const d1 = b.acquire();
    const d2 = b.acquire(undefined, true);
    assert.equal((b as unknown as { sharedLms: Map<string, unknown> }).sharedLms.size, 1);
    // A keyword-boosted session changes its LM: it must never get a decoder on the shared LM.
    const boosted = b.acquire(b.keywordPlan(['Wielgosz:2']));
    const priv = (b as unknown as { privateLm: WeakSet<object> }).privateLm;
    assert.ok(priv.has(boosted), 'boosted session decodes with a private LM');
    assert.ok(!priv.has(d1) && !priv.has(d2), 'plain sessions use the shared LM');
    b.release(boosted);
    b.release(d1);
    b.release(d2);
    const b2 = new PocketsphinxBackend({ warmDecoders: 0, shareLm: true, streamArgs: { '-lw': '8' } });
    await b2.init();
    const d3 = b2.acquire();
    const d4 = b2.acquire(undefined, true);
    assert.equal((b2 as unknown as { sharedLms: Map<string, unknown> }).sharedLms.size, 2);
    b2.release(d3);
    b2.release(d4);
    b2.dispose();
  } finally {
    b.dispose();
  }
});

/** Six clips of two conditions: Debian's wideband test set and the 16 kHz copies of the telephony set. */
function mixedClips(): Float32Array[] {
  const telClips = loadSet('telephony_8k_en_asterisk').slice(0, 3).map((c) => readWav16kMono(c.audio));
  return [...loadManifest().slice(0, 3).map((c) => clipPcm(c)), ...telClips];
}

test('decoders sharing one LM, interleaved chunk by chunk with utterance ends in between, give the same words, times and posteriors', { skip }, () => {
  // The trie LM has one piece of mutable state, its backoff cache keyed by the full history, which
  // two decoders now write in turn; this checks that nothing a search or a lattice posterior reads
  // depends on which decoder queried the LM last.
  const dict = lmTrimmedDictionary(DEFAULT_PATHS.dict, DEFAULT_PATHS.lm);
  const clips = mixedClips();
  const lm = new SharedLm({ dict });
  const sets = { own: [new PocketsphinxDecoder({ dict }), new PocketsphinxDecoder({ dict })], shared: [new PocketsphinxDecoder({ dict, sharedLm: lm }), new PocketsphinxDecoder({ dict, sharedLm: lm })] };
  const chunk = 1600;
  const run = (ds: PocketsphinxDecoder[], a: Float32Array, b: Float32Array): string[] => {
    const out: string[][] = [[], []];
    const pcms = [a, b];
    const pos = [0, 0];
    for (const d of ds) {
      d.startStream();
      d.startUtt();
    }
    while (pos[0] < a.length || pos[1] < b.length) {
      for (let k = 0; k < 2; k++) {
        if (pos[k] >= pcms[k].length) continue;
        const e = Math.min(pcms[k].length, pos[k] + chunk);
        ds[k].processRaw(floatToInt16(pcms[k].subarray(pos[k], e)));
        pos[k] = e;
        ds[k].segments(); // a partial, as every pass takes one
        // The first decoder ends an utterance (bestpath + posteriors) every 1.2 s while the other searches on.
        if (k === 0 && (pos[k] / chunk) % 12 === 0) {
          ds[k].endUtt();
          out[k].push(segmentText(ds[k], true));
          ds[k].startStream();
          ds[k].startUtt();
        }
      }
    }
    return ds.map((d, k) => {
      d.endUtt();
      return [...out[k], segmentText(d, true)].join(' | ');
    });
  };
  try {
    for (let i = 0; i + 1 < clips.length; i += 2) {
      const own = run(sets.own, clips[i], clips[i + 1]);
      assert.ok(own.every((t) => /@/.test(t)), 'words decoded');
      assert.deepEqual(run(sets.shared, clips[i], clips[i + 1]), own, `clips ${i}, ${i + 1}`);
    }
  } finally {
    for (const d of [...sets.own, ...sets.shared]) d.free();
    lm.release();
  }
});

test('backend: concurrent batch requests on one worker give the same words, times and confidences with the shared LM as with an LM per decoder', { skip }, async () => {
  const clips = mixedClips();
  const words = async (shareLm: boolean, concurrent: boolean) => {
    // yieldEveryMs 0: the two requests take turns after every chunk, the finest interleaving.
    const b = new PocketsphinxBackend({ shareLm, warmDecoders: 2, yieldEveryMs: 0 });
    await b.init();
    try {
      const out: string[] = [];
      for (let i = 0; i + 1 < clips.length; i += 2) {
        const r = concurrent
          ? await Promise.all([b.recognize(clips[i], {}), b.recognize(clips[i + 1], {})])
          : [await b.recognize(clips[i], {}), await b.recognize(clips[i + 1], {})];
        for (const x of r) out.push(x.words.map((w) => `${w.word}@${w.start}-${w.end}:${w.confidence}`).join(' '));
      }
      return out;
    } finally {
      b.dispose();
    }
  };
  const ref = await words(false, false);
  assert.ok(ref.every((t) => t.length > 0));
  assert.deepEqual(await words(true, true), ref);
});

test("the trie LM's backoff cache (its only state written while scoring) never changes a score", { skip }, () => {
  // lm_trie_score caches the backoff weights of the last full history; decoders sharing the LM
  // overwrite each other's entry. Scores of random bigram/trigram queries with the cache as the
  // previous query left it must equal scores with the cache flushed before each query.
  // The LM the backend shares (loaded as SharedLm loads it); sphinxbase's scoring calls are bound
  // here only, as the product never scores through them.
  const lm = new SharedLm();
  const sb = koffi.load('libsphinxbase.so.3');
  const P = 'void *';
  const tg = sb.func('ngram_tg_score', 'int32_t', [P, 'int32_t', 'int32_t', 'int32_t', koffi.out('int32_t *')]);
  const bg = sb.func('ngram_bg_score', 'int32_t', [P, 'int32_t', 'int32_t', koffi.out('int32_t *')]);
  const flush = () => loadPocketsphinx().ngram_model_flush(lm.handle);
  try {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    // Frequent word ids (low ids in Debian's LM) so that histories repeat and n-grams exist.
    const ids = Array.from({ length: 300 }, () => Math.floor(rnd() * 3000));
    const pick = (n: number) => ids[Math.floor(rnd() * n)];
    const queries = Array.from({ length: 50_000 }, () => [rnd() < 0.3 ? 0 : 1, pick(300), pick(300), pick(40)]);
    const used = new Int32Array(1);
    const score = (flushFirst: boolean) =>
      queries.map(([kind, a, b, c]) => {
        if (flushFirst) flush();
        return kind === 0 ? bg(lm.handle, a, b, used) : tg(lm.handle, a, b, c, used);
      });
    const cached = score(false);
    assert.ok(new Set(cached).size > 1000, 'varied scores');
    assert.deepEqual(score(true), cached);
  } finally {
    lm.release();
  }
});
