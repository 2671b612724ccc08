/**
 * sherpa-onnx streaming: batched `decodeStreams` (one call for every ready stream, what the
 * backend's decodeReady does) vs per-stream `decode` calls, for 1..64 concurrent streams, on the
 * weight-free online transducer fixture (scripts/make-sherpa-fixtures.py) fed real speech.
 *
 * Only decode time is measured (feature extraction happens in acceptWaveform, identical in both
 * modes). Throughput = audio seconds decoded per wall second, summed over streams. The fixture's
 * networks are a few arithmetic nodes, so this measures the per-call overhead batching removes
 * (ONNX Runtime session runs, state stacking, beam search bookkeeping); with a real Zipformer the
 * encoder dominates and batching also amortises its matrix work.
 */
import path from 'node:path';
import { createRequire } from 'node:module';
import { type BenchContext, type BenchSection, median, sharedAvailable } from './lib.ts';
import { resolveConfig } from '../src/engines/sherpa/config.ts';
import { OnlineModel, type OnlineSession } from '../src/engines/sherpa/online.ts';
import { ensureSherpaFixtures, fixtureSpecs } from '../scripts/sherpa-fixtures.ts';

const require = createRequire(import.meta.url);
const SR = 16000;
const COUNTS = [1, 2, 4, 8, 16, 32, 64];

function loadAudio(ctx: BenchContext): Float32Array {
  const wav = require('sherpa-onnx-node').readWave(path.join(ctx.sharedDir, 'speech', 'en_jfk', 'wav16k', 'jfk.wav')) as { samples: Float32Array };
  return wav.samples;
}

/** Feed `audio` to n fresh sessions in 100 ms chunks; time only the decode calls. */
function runOnce(model: OnlineModel, audio: Float32Array, n: number, batched: boolean): number {
  const sessions: OnlineSession[] = [];
  for (let i = 0; i < n; i++) sessions.push(model.createSession());
  const chunk = SR / 10;
  let decodeMs = 0;
  for (let off = 0; off < audio.length; off += chunk) {
    const c = audio.subarray(off, off + chunk);
    for (const s of sessions) s.accept(c);
    const t0 = performance.now();
    if (batched) model.decodeAll(sessions);
    else model.decodeEach(sessions);
    decodeMs += performance.now() - t0;
  }
  for (const s of sessions) {
    s.finishInput();
  }
  const t0 = performance.now();
  if (batched) model.decodeAll(sessions);
  else model.decodeEach(sessions);
  decodeMs += performance.now() - t0;
  for (const s of sessions) s.free();
  return decodeMs / 1000;
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  if (!sharedAvailable(ctx)) {
    return { name: 'sherpa', metrics: { skipped: true }, notes: [`../shared/speech not found at ${ctx.sharedDir}`] };
  }
  let fixtures;
  try {
    fixtures = ensureSherpaFixtures();
  } catch (err) {
    return { name: 'sherpa', metrics: { skipped: true }, notes: [`fixtures unavailable: ${(err as Error).message}`] };
  }
  const spec = fixtureSpecs(fixtures).online;
  const cfg = resolveConfig({ streaming: spec, onlineBinding: 'addon', hotwords: { enabled: false } });
  const model = new OnlineModel(cfg.streaming!, cfg);
  const audio = loadAudio(ctx);
  const audioSeconds = audio.length / SR;
  const reps = ctx.quick ? 1 : 3;
  const rows: (string | number)[][] = [];
  const metrics: Record<string, number | string | boolean> = {};
  // Warm-up (ORT session init, allocator growth).
  runOnce(model, audio.subarray(0, SR * 2), 4, true);
  runOnce(model, audio.subarray(0, SR * 2), 4, false);
  for (const n of COUNTS) {
    const batched: number[] = [];
    const each: number[] = [];
    for (let r = 0; r < reps; r++) {
      // Alternate the order so neither mode always runs on a warmer cache.
      if (r % 2 === 0) {
        batched.push(runOnce(model, audio, n, true));
        each.push(runOnce(model, audio, n, false));
      } else {
        each.push(runOnce(model, audio, n, false));
        batched.push(runOnce(model, audio, n, true));
      }
    }
    const tb = median(batched);
    const te = median(each);
    const xb = (n * audioSeconds) / tb;
    const xe = (n * audioSeconds) / te;
    rows.push([n, te.toFixed(3), tb.toFixed(3), xe.toFixed(0), xb.toFixed(0), (te / tb).toFixed(2)]);
    metrics[`speedup_batched_vs_each_${n}`] = Number((te / tb).toFixed(3));
    metrics[`rtfx_batched_${n}`] = Number(xb.toFixed(1));
    ctx.log(`sherpa: ${n} streams: per-stream ${te.toFixed(3)} s, batched ${tb.toFixed(3)} s (x${(te / tb).toFixed(2)})`);
  }
  model.dispose();
  metrics.audio_seconds_per_stream = Number(audioSeconds.toFixed(2));
  metrics.repetitions = reps;
  return {
    name: 'sherpa',
    metrics,
    tables: [
      {
        title: 'Streaming decode: per-stream decode() vs one batched decodeStreams() per pass (median decode wall time over all streams)',
        columns: ['streams', 'per-stream s', 'batched s', 'per-stream x realtime', 'batched x realtime', 'speed-up'],
        rows,
      },
    ],
    notes: [
      `Weight-free LSTM-transducer fixture (modified_beam_search, 4 paths) from scripts/make-sherpa-fixtures.py, ${audioSeconds.toFixed(1)} s of en_jfk per stream, 100 ms chunks, ${reps} repetition(s), median.`,
      'Only decode calls are timed; feature extraction (acceptWaveform) is the same in both modes.',
      'The fixture has trivial networks, so the speed-up is the per-call overhead batching removes; real Zipformer encoders also batch their matrix work.',
    ],
  };
}
