/**
 * Audio layer benchmark (`npm run bench -- --only audio`):
 *  - batch decode speed per format, × real time on one core (wall and CPU incl. the ffmpeg child),
 *  - real-time stream decoder speed per encoding (20 ms pushes),
 *  - the libsamplerate converter choice (BEST / MEDIUM / FASTEST speed, same run),
 *  - peak RSS decoding generated 1-hour files, each in a fresh child process, against the size of
 *    the 16 kHz float PCM itself and an idle child (baseline) measured in the same run.
 * Test audio is made from real speech (../shared en_jfk) with ffmpeg in a temp dir, deleted after.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import lsr from '@alexanderolsen/libsamplerate-js';
import { REPO_ROOT, median, type BenchContext, type BenchSection, type BenchTable } from './lib.ts';
import { createStreamDecoder, decodeAudio, type DecodeOptions, type RawEncoding } from '../src/audio/index.ts';
import { OggDemuxer } from '../src/audio/ogg.ts';

const THIS_FILE = fileURLToPath(import.meta.url);

/** CPU seconds of this process plus its reaped children (ffmpeg), from /proc. */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  let children = 0;
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16/17 (cutime, cstime) are at indices 13/14 after the command name.
    children = (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    /* not Linux */
  }
  return (u.user + u.system) / 1e6 + children;
}

function ff(args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Fmt {
  name: string;
  file: string;
  args: string[];
  opts?: DecodeOptions;
}

async function timeIt(fn: () => Promise<unknown> | unknown, reps: number): Promise<{ wall: number; cpu: number }> {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = cpuSeconds();
    const t0 = performance.now();
    await fn();
    walls.push((performance.now() - t0) / 1000);
    cpus.push(cpuSeconds() - c0);
  }
  return { wall: median(walls), cpu: median(cpus) };
}

/** Child mode: decode one file and report peak RSS. */
async function peakChild(file: string, mode: string): Promise<void> {
  const base = process.memoryUsage().rss;
  let seconds = 0;
  const t0 = performance.now();
  if (mode === 'stream') seconds = (await decodeAudio(fs.createReadStream(file, { highWaterMark: 64 * 1024 }))).duration;
  else if (mode === 'buffer') seconds = (await decodeAudio(fs.readFileSync(file))).duration;
  const wall = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024, baseRssMB: base / 1e6, seconds, wall }) + '\n');
}

function runChild(file: string, mode: string): { maxRssMB: number; baseRssMB: number; seconds: number; wall: number } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', THIS_FILE, '--peak-child', file, mode], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`peak child failed (${r.status}): ${r.stderr.slice(-500)}`);
  return JSON.parse(line);
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  const source = path.join(ctx.sharedDir, 'speech', 'en_jfk', 'orig', 'jfk.flac');
  const notes: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-bench-audio-'));
  const metrics: BenchSection['metrics'] = {};
  const tables: BenchTable[] = [];
  try {
    const clipSeconds = ctx.quick ? 22 : 66;
    const reps = ctx.quick ? 1 : 3;
    const src = path.join(dir, 'src.wav');
    if (fs.existsSync(source)) {
      ff(['-stream_loop', '20', '-i', source, '-t', String(clipSeconds), '-c:a', 'pcm_s24le', src]);
      notes.push(`Source: real speech (en_jfk, 44.1 kHz stereo) looped to ${clipSeconds} s.`);
    } else {
      ff(['-f', 'lavfi', '-i', `sine=frequency=220:sample_rate=44100:duration=${clipSeconds},aformat=channel_layouts=stereo`, src]);
      notes.push(`../shared not found: synthetic ${clipSeconds} s tone used instead of real speech.`);
    }

    // ---- Batch decode speed per format ----
    const fmts: Fmt[] = [
      { name: 'wav s16 44.1k stereo', file: 'a.wav', args: ['-c:a', 'pcm_s16le'] },
      { name: 'wav s16 16k mono (no resample)', file: 'b.wav', args: ['-ar', '16000', '-ac', '1'] },
      { name: 'wav mu-law 8k mono', file: 'c.wav', args: ['-ar', '8000', '-ac', '1', '-c:a', 'pcm_mulaw'] },
      { name: 'wav f32 48k stereo', file: 'd.wav', args: ['-ar', '48000', '-c:a', 'pcm_f32le'] },
      { name: 'raw linear16 8k', file: 'e.raw', args: ['-ar', '8000', '-ac', '1', '-f', 's16le'], opts: { encoding: 'linear16', sampleRate: 8000 } },
      { name: 'mp3 128k', file: 'f.mp3', args: ['-c:a', 'libmp3lame', '-b:a', '128k'] },
      { name: 'flac', file: 'g.flac', args: [] },
      { name: 'ogg vorbis', file: 'h.ogg', args: ['-c:a', 'libvorbis'] },
      { name: 'ogg opus 32k', file: 'i.opus', args: ['-c:a', 'libopus', '-b:a', '32k'] },
      { name: 'webm opus 32k', file: 'j.webm', args: ['-c:a', 'libopus', '-b:a', '32k'] },
      { name: 'm4a aac 96k', file: 'k.m4a', args: ['-c:a', 'aac', '-b:a', '96k'] },
    ];
    const batchRows: (string | number)[][] = [];
    for (const f of fmts) {
      const file = path.join(dir, f.file);
      ff(['-i', src, ...f.args, file]);
      const bytes = fs.readFileSync(file);
      let format = '';
      await decodeAudio(bytes, f.opts); // warm-up (JIT, pools)
      const t = await timeIt(async () => {
        format = (await decodeAudio(bytes, f.opts)).format;
      }, reps);
      batchRows.push([f.name, format, +(clipSeconds / t.wall).toFixed(1), +(clipSeconds / t.cpu).toFixed(1)]);
      metrics[`batch_xrt_${f.file.replace(/\W/g, '_')}`] = +(clipSeconds / t.wall).toFixed(1);
      ctx.log(`audio: ${f.name} ${(clipSeconds / t.wall).toFixed(0)}× RT`);
    }
    tables.push({ title: `Batch decode speed (median of ${reps}, ${clipSeconds} s clip, × real time)`, columns: ['input', 'detected', 'wall ×RT', 'CPU ×RT (incl. ffmpeg)'], rows: batchRows });
    metrics.batch_xrt_median = median(batchRows.map((r) => r[2] as number));

    // ---- Stream decoders ----
    const streamRows: (string | number)[][] = [];
    const streams: { enc: RawEncoding; rate: number; fmt: string }[] = [
      { enc: 'linear16', rate: 8000, fmt: 's16le' },
      { enc: 'linear16', rate: 16000, fmt: 's16le' },
      { enc: 'linear16', rate: 48000, fmt: 's16le' },
      { enc: 'linear32', rate: 44100, fmt: 'f32le' },
      { enc: 'mulaw', rate: 8000, fmt: 'mulaw' },
      { enc: 'alaw', rate: 8000, fmt: 'alaw' },
    ];
    const runStream = async (enc: RawEncoding, rate: number, pieces: Uint8Array[]) => {
      const d = createStreamDecoder(enc, rate, { maxPushSeconds: Infinity });
      await d.ready;
      for (const p of pieces) d.push(p);
      d.flush();
    };
    for (const s of streams) {
      const raw = path.join(dir, `s-${s.enc}-${s.rate}.raw`);
      ff(['-i', src, '-ac', '1', '-ar', String(s.rate), '-f', s.fmt, raw]);
      const bytes = fs.readFileSync(raw);
      const step = Math.round(s.rate * 0.02) * (s.fmt === 's16le' ? 2 : s.fmt === 'f32le' ? 4 : 1);
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += step) pieces.push(bytes.subarray(i, i + step));
      await runStream(s.enc, s.rate, pieces);
      const t = await timeIt(() => runStream(s.enc, s.rate, pieces), reps);
      streamRows.push([`${s.enc} ${s.rate} Hz`, +(clipSeconds / t.cpu).toFixed(0), +((100 * t.cpu) / clipSeconds).toFixed(3)]);
    }
    const opusFile = path.join(dir, 'i.opus');
    const ogg = fs.readFileSync(opusFile);
    const oggPieces: Uint8Array[] = [];
    for (let i = 0; i < ogg.length; i += 200) oggPieces.push(ogg.subarray(i, i + 200));
    await runStream('ogg_opus', 48000, oggPieces);
    let t = await timeIt(() => runStream('ogg_opus', 48000, oggPieces), reps);
    streamRows.push(['ogg_opus (200-byte pieces)', +(clipSeconds / t.cpu).toFixed(0), +((100 * t.cpu) / clipSeconds).toFixed(3)]);
    const packets = new OggDemuxer().push(ogg).filter((p) => p.index >= 2).map((p) => p.data);
    await runStream('opus', 48000, packets);
    t = await timeIt(() => runStream('opus', 48000, packets), reps);
    streamRows.push(['opus (one packet per push)', +(clipSeconds / t.cpu).toFixed(0), +((100 * t.cpu) / clipSeconds).toFixed(3)]);
    tables.push({ title: 'Real-time stream decoders (20 ms pushes)', columns: ['encoding', 'CPU ×RT', '% of one core per live stream'], rows: streamRows });
    for (const r of streamRows) metrics[`stream_xrt_${String(r[0]).split(' ')[0]}_${String(r[0]).split(' ')[1] ?? ''}`.replace(/\W+$/, '')] = r[1];

    // ---- Converter choice ----
    const convRows: (string | number)[][] = [];
    for (const rate of [8000, 44100, 48000]) {
      const x = new Float32Array(rate * (ctx.quick ? 10 : 30));
      for (let i = 0; i < x.length; i++) x[i] = 0.3 * Math.sin(i * 0.05) + 0.1 * Math.sin(i * 0.31);
      const row: (string | number)[] = [`${rate} → 16000`];
      for (const [name, q] of [
        ['BEST', lsr.ConverterType.SRC_SINC_BEST_QUALITY],
        ['MEDIUM', lsr.ConverterType.SRC_SINC_MEDIUM_QUALITY],
        ['FASTEST', lsr.ConverterType.SRC_SINC_FASTEST],
      ] as const) {
        const s = await lsr.create(1, rate, 16000, { converterType: q });
        const block = Math.round(rate / 50);
        const c0 = cpuSeconds();
        for (let i = 0; i < x.length; i += block) s.full(x.subarray(i, i + block));
        const cpu = cpuSeconds() - c0;
        s.destroy();
        row.push(+(x.length / rate / cpu).toFixed(0));
        metrics[`src_xrt_${name.toLowerCase()}_${rate}`] = +(x.length / rate / cpu).toFixed(0);
      }
      convRows.push(row);
    }
    tables.push({ title: 'libsamplerate converters, mono, 20 ms blocks (CPU × RT); Cochlea uses MEDIUM', columns: ['rate', 'SINC_BEST', 'SINC_MEDIUM', 'SINC_FASTEST'], rows: convRows });

    // ---- Peak memory on a 1-hour file ----
    const hourSeconds = ctx.quick ? 600 : 3600;
    const loops = Math.ceil(hourSeconds / 11) + 1;
    const hourWav = path.join(dir, 'hour16k.wav');
    ff(['-stream_loop', String(loops), '-i', fs.existsSync(source) ? source : src, '-t', String(hourSeconds), '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', hourWav]);
    const hourMulaw = path.join(dir, 'hour8k-mulaw.wav');
    ff(['-i', hourWav, '-ar', '8000', '-c:a', 'pcm_mulaw', hourMulaw]);
    const hourMp3 = path.join(dir, 'hour.mp3');
    ff(['-i', hourWav, '-c:a', 'libmp3lame', '-b:a', '32k', hourMp3]);
    const pcmMB = (hourSeconds * 16000 * 4) / 1e6;
    const idle = runChild(hourWav, 'idle');
    const memRows: (string | number)[][] = [];
    for (const [label, file, mode] of [
      ['WAV s16 16 kHz, streamed (Readable)', hourWav, 'stream'],
      ['WAV s16 16 kHz, in memory (Uint8Array)', hourWav, 'buffer'],
      ['WAV mu-law 8 kHz, streamed (resampled in-process)', hourMulaw, 'stream'],
      ['MP3 32 kbps, streamed (ffmpeg)', hourMp3, 'stream'],
    ] as const) {
      const r = runChild(file, mode);
      const inputMB = mode === 'buffer' ? fs.statSync(file).size / 1e6 : 0;
      // Growth over the child's own RSS right before decoding (modules loaded, pools warm).
      const over = r.maxRssMB - r.baseRssMB;
      memRows.push([label, +(fs.statSync(file).size / 1e6).toFixed(0), +r.maxRssMB.toFixed(0), +over.toFixed(0), +(over / (pcmMB + inputMB)).toFixed(2), +(r.seconds / r.wall).toFixed(0)]);
      metrics[`hour_rss_growth_ratio_${path.basename(file).replace(/\W/g, '_')}_${mode}`] = +(over / (pcmMB + inputMB)).toFixed(2);
      ctx.log(`audio: 1 h ${label}: peak RSS ${r.maxRssMB.toFixed(0)} MB`);
      metrics[`hour_peak_rss_mb_${path.basename(file).replace(/\W/g, '_')}_${mode}`] = +r.maxRssMB.toFixed(0);
    }
    metrics.hour_pcm_mb = +pcmMB.toFixed(0);
    metrics.idle_child_rss_mb = +idle.maxRssMB.toFixed(0);
    tables.push({
      title: `Peak RSS decoding ${hourSeconds / 60} min of audio (fresh process each; an idle process peaks at ${idle.maxRssMB.toFixed(0)} MB; the 16 kHz float PCM itself is ${pcmMB.toFixed(0)} MB)`,
      columns: ['input', 'file MB', 'peak RSS MB', 'growth during decode MB', 'growth / (PCM + in-memory input)', 'wall ×RT'],
      rows: memRows,
    });
    notes.push(
      'Growth ratio ≈ 1: memory used by decoding is the output PCM itself (plus the body when it is handed over in memory). ≈ 2: one transient copy, when the output length is not known up front (ffmpeg path: the PCM is collected in 4 MiB blocks and joined once at the end).',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { name: 'audio', metrics, tables, notes };
}

if (process.argv[2] === '--peak-child' && process.argv[1] === THIS_FILE) {
  await peakChild(process.argv[3], process.argv[4]);
}
