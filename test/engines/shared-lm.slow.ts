/**
 * Decoders of one thread searching one n-gram LM (SharedLm): same transcripts as decoders that
 * load their own copy, less memory each, and the LM outlives the handle that loaded it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_PATHS,
  PocketsphinxDecoder,
  SharedLm,
  floatToInt16,
  lmTrimmedDictionary,
} from '../../src/engines/pocketsphinx/binding.ts';
import { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';
import { nativeHeapInUse } from '../../src/util/native-heap.ts';
import { clipPcm, loadManifest, skipWithoutPocketsphinx, skipWithoutShared } from './helpers.ts';

const skip = skipWithoutPocketsphinx() || skipWithoutShared();

function transcript(d: PocketsphinxDecoder, pcm: Float32Array): string {
  d.startStream();
  d.startUtt();
  d.processRaw(floatToInt16(pcm));
  d.endUtt();
  return d.segments().map((s) => `${s.word}@${s.startFrame}-${s.endFrame}`).join(' ');
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
