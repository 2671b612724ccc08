/**
 * Pre-recorded path: end-to-end HTTP time vs a direct call to the same engine in the same run.
 * The ratio (HTTP / engine) is what the server adds: upload, decode, queueing, JSON. RTFx is
 * audio seconds per wall second.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { median, sharedAvailable, type BenchContext, type BenchSection } from './lib.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { decodeAudio } from '../src/audio/index.ts';

interface ClipRef {
  id: string;
  file: string;
  duration: number;
}

function clips(ctx: BenchContext): ClipRef[] {
  const out: ClipRef[] = [];
  for (const set of ['en_librispeech', 'en_pocketsphinx_debian', 'en_ljspeech']) {
    const dir = path.join(ctx.sharedDir, 'speech', set);
    const lines = fs.readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean);
    for (const l of lines) {
      const o = JSON.parse(l);
      out.push({ id: `${set}/${o.id}`, file: path.join(dir, o.audio), duration: Number(o.duration_s) });
    }
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  if (!sharedAvailable(ctx)) return { name: 'batch', metrics: { skipped: 'no ../shared speech' } };
  const reps = ctx.quick ? 1 : 3;
  // One worker: the comparison is per request, not throughput.
  const s = await startTestServer({ COCHLEA_WORKERS: '1' });
  try {
    const list = ctx.quick ? clips(ctx).slice(0, 6) : clips(ctx);
    const rows: (string | number)[][] = [];
    let audioTotal = 0;
    const engineTimes: number[] = [];
    const httpTimes: number[] = [];
    const ratios: number[] = [];
    // Warm up both paths.
    const warm = fs.readFileSync(list[0].file);
    await s.server.engine.recognize((await decodeAudio(warm)).pcm);
    await fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: { authorization: `Bearer ${s.key}`, 'content-type': 'audio/wav' }, body: warm });

    for (const c of list) {
      const bytes = fs.readFileSync(c.file);
      const pcm = (await decodeAudio(bytes)).pcm;
      const eng: number[] = [];
      const web: number[] = [];
      for (let r = 0; r < reps; r++) {
        let t0 = performance.now();
        await s.server.engine.recognize(pcm);
        eng.push((performance.now() - t0) / 1000);
        t0 = performance.now();
        const res = await fetch(`${s.url}/waves/v1/pulse/get_text?word_timestamps=true`, {
          method: 'POST',
          headers: { authorization: `Bearer ${s.key}`, 'content-type': 'audio/wav' },
          body: bytes,
        });
        await res.json();
        web.push((performance.now() - t0) / 1000);
      }
      const e = median(eng);
      const h = median(web);
      audioTotal += c.duration;
      engineTimes.push(e);
      httpTimes.push(h);
      ratios.push(h / e);
      rows.push([c.id, c.duration, e * 1000, h * 1000, h / e, c.duration / h]);
    }
    const engineSum = engineTimes.reduce((a, b) => a + b, 0);
    const httpSum = httpTimes.reduce((a, b) => a + b, 0);
    return {
      name: 'batch',
      metrics: {
        clips: list.length,
        audio_seconds: audioTotal,
        repetitions: reps,
        engine_rtfx: audioTotal / engineSum,
        http_rtfx: audioTotal / httpSum,
        http_over_engine_ratio_total: httpSum / engineSum,
        http_over_engine_ratio_median: median(ratios),
        server_overhead_percent_total: (httpSum / engineSum - 1) * 100,
        target_overhead_percent: 10,
      },
      tables: [{ title: 'Per clip (median of repetitions)', columns: ['clip', 'audio s', 'engine ms', 'http ms', 'http/engine', 'http RTFx'], rows }],
      notes: [
        'engine = direct engine.recognize() on already-decoded 16 kHz PCM (same worker pool as the server); http = POST of the WAV file to /waves/v1/pulse/get_text on loopback, including upload, decode, queueing and JSON.',
        'One recognition worker so both paths measure single-request latency on one core.',
      ],
    };
  } finally {
    await s.close();
  }
}
