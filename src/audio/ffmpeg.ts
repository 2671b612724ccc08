/**
 * Containers/codecs other than WAV/PCM/G.711 are decoded by Debian's ffmpeg as a streaming
 * subprocess: the body is streamed into stdin (or, for MP4/MOV whose index may sit at the end of
 * the file, spooled to a temp file ffmpeg can seek in), 16 kHz mono float32 comes out of stdout.
 *
 * Resampling and downmix happen inside ffmpeg with soxr (`aresample=resampler=soxr`, 20-bit
 * precision, ~0.91 pass band): native code, band-limited, and the pipe then carries only the
 * 16 kHz mono stream (3× less than 48 kHz, 6× less for 48 kHz stereo) instead of native-rate PCM
 * that we would resample again in JS. `rematrix_maxval=1` normalises the downmix matrix so stereo
 * becomes (L+R)/2 — the same averaging the in-process WAV path does — and nothing clips.
 *
 * Safety: the demuxer is forced from our own magic-byte detection (`-f`), protocols are limited to
 * pipe/file (no hls/concat/http tricks), one thread per process, stderr is kept bounded for error
 * messages, and the process is SIGKILLed on abort, overall timeout, stall timeout, or when the
 * duration limit is crossed (the overall timeout arrives as an abort of `signal`). Memory: chunks flow through; only the output PCM accumulates.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Detected } from './detect.ts';
import type { PcmSink } from './sink.ts';
import { abortError } from './input.ts';
import { AudioDecodeError, INVALID_FORMAT_MESSAGE, TARGET_SAMPLE_RATE } from './types.ts';
import { ffmpegPath } from '../config.ts';

export const FFMPEG_PATH = ffmpegPath();

export interface FfmpegParams {
  chunks: AsyncIterable<Uint8Array>;
  det: Detected;
  sink: PcmSink;
  signal?: AbortSignal;
  /** Kill when neither input is consumed nor output produced for this long (ms). */
  stallTimeoutMs: number;
  ffmpegPath?: string;
}

export interface FfmpegInfo {
  codec?: string;
  sampleRate?: number;
  channels?: number;
}

const STDERR_KEEP = 16 * 1024;

function channelsFromLayout(s: string): number {
  const t = s.trim();
  const m = /^(\d+) channels/.exec(t);
  if (m) return Number(m[1]);
  if (t.startsWith('mono')) return 1;
  if (t.startsWith('stereo') || t.startsWith('downmix')) return 2;
  if (t.startsWith('quad')) return 4;
  if (t.startsWith('hexagonal')) return 6;
  if (t.startsWith('octagonal')) return 8;
  const d = /^(\d+)\.(\d+)/.exec(t);
  if (d) return Number(d[1]) + Number(d[2]);
  return 0;
}

/** Parse the first input audio stream line of ffmpeg's banner. */
export function parseStreamInfo(stderr: string): FfmpegInfo {
  const inputPart = stderr.split(/\nOutput #0|\nStream mapping:/)[0];
  const m = /Stream #0:\d+[^\n]*?: Audio: ([\w-]+)[^\n,]*, (\d+) Hz, ([^,\n]+)/.exec(inputPart);
  if (!m) return {};
  return { codec: m[1], sampleRate: Number(m[2]), channels: channelsFromLayout(m[3]) };
}

/** The first input's "Duration: HH:MM:SS.xx" from ffmpeg's banner, in seconds (undefined: N/A or not yet printed). */
export function parseDuration(stderr: string): number | undefined {
  const inputPart = stderr.split(/\nOutput #0|\nStream mapping:/)[0];
  const m = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(inputPart);
  if (!m) return undefined;
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

/** The meaningful error lines of ffmpeg's log (no banner/metadata). */
function errorLines(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(
      (l) =>
        l &&
        !/^(Input #|Output #|Stream #|Stream mapping|Metadata:|Duration:|Press \[q\]|size=|video:|encoder|major_brand|minor_version|compatible_brands|\w+\s*:)/.test(l) &&
        !/^\[(?:out|in)/.test(l),
    )
    .map((l) => l.replace(/^\[[^\]]+\]\s*/, '').replace(/pipe:0: |\S*cochlea-audio-[^:]+: /g, ''));
  const uniq = [...new Set(lines)];
  return uniq.slice(-3).join('; ').slice(0, 400);
}

/** A temp-storage failure (disk full, read-only, no permission) as the server fault it is. */
function storageError(e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EDQUOT' || code === 'ENOENT') {
    return new AudioDecodeError('server', `Temporary storage for decoding this container is unavailable (${code} in ${os.tmpdir()}); the server operator must free space or set TMPDIR`);
  }
  return e;
}

async function spool(chunks: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<{ file: string; dir: string }> {
  let dir: string;
  let fh: fs.promises.FileHandle;
  try {
    dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cochlea-audio-'));
  } catch (e) {
    throw storageError(e);
  }
  const file = path.join(dir, 'input');
  try {
    fh = await fs.promises.open(file, 'w', 0o600);
  } catch (e) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw storageError(e);
  }
  try {
    for await (const c of chunks) {
      if (signal?.aborted) throw abortError(signal);
      await fh.write(c);
    }
  } catch (e) {
    await fh.close();
    await fs.promises.rm(dir, { recursive: true, force: true });
    throw storageError(e);
  }
  await fh.close();
  return { file, dir };
}

export async function decodeWithFfmpeg(p: FfmpegParams): Promise<FfmpegInfo> {
  const { det, signal } = p;
  if (signal?.aborted) throw abortError(signal);
  let tmp: { file: string; dir: string } | null = null;
  try {
    if (det.needsSeek) tmp = await spool(p.chunks, signal);
    const args = [
      '-hide_banner',
      '-nostdin',
      '-nostats',
      '-loglevel',
      'info',
      '-threads',
      '1',
      '-protocol_whitelist',
      tmp ? 'file' : 'pipe',
      ...(det.demuxer ? ['-f', det.demuxer] : []),
      // Opus: the reference libopus decoder (what the real-time path uses) rather than ffmpeg's
      // own, which differs from libopus by ~20 dB SNR.
      ...(det.codec === 'opus' ? ['-c:a', 'libopus'] : []),
      '-i',
      tmp ? tmp.file : 'pipe:0',
      '-map',
      '0:a:0',
      '-vn',
      '-sn',
      '-dn',
      '-af',
      `aresample=resampler=soxr:osr=${TARGET_SAMPLE_RATE}:ochl=mono:osf=flt:rematrix_maxval=1`,
      '-c:a',
      'pcm_f32le',
      '-f',
      'f32le',
      'pipe:1',
    ];
    return await run(p, args, tmp ? null : p.chunks);
  } finally {
    if (tmp) await fs.promises.rm(tmp.dir, { recursive: true, force: true }).catch(() => {});
  }
}

async function run(p: FfmpegParams, args: string[], input: AsyncIterable<Uint8Array> | null): Promise<FfmpegInfo> {
  const { sink, signal } = p;
  const child = spawn(p.ffmpegPath ?? FFMPEG_PATH, args, {
    stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    windowsHide: true,
  });
  let failure: AudioDecodeError | null = null;
  let exited = false;
  const kill = (err: AudioDecodeError) => {
    if (!failure) failure = err;
    if (!exited) child.kill('SIGKILL');
  };

  let stderr = '';
  let stderrHead = '';
  child.stderr!.setEncoding('utf8');
  let durationSeen = false;
  child.stderr!.on('data', (s: string) => {
    if (stderrHead.length < STDERR_KEEP) stderrHead += s.slice(0, STDERR_KEEP - stderrHead.length);
    if (!durationSeen) {
      // The input's declared duration is printed after probing, before any audio is decoded:
      // refuse a too-long (or, right now, too-big-for-the-budget) input before decoding it.
      const d = parseDuration(stderrHead);
      if (d !== undefined) {
        durationSeen = true;
        try {
          sink.declare(d);
        } catch (e) {
          kill(e instanceof AudioDecodeError ? e : new AudioDecodeError('corrupt', String(e)));
        }
      } else if (/\nOutput #0|\nStream mapping:/.test(stderrHead)) durationSeen = true;
    }
    stderr += s;
    if (stderr.length > 2 * STDERR_KEEP) stderr = stderr.slice(-STDERR_KEEP);
  });

  let lastProgress = Date.now();
  let carry: Uint8Array | null = null;
  child.stdout!.on('data', (buf: Buffer) => {
    if (failure) return;
    lastProgress = Date.now();
    let b: Uint8Array = buf;
    if (carry) {
      const j = new Uint8Array(carry.length + b.length);
      j.set(carry);
      j.set(b, carry.length);
      b = j;
      carry = null;
    }
    const whole = b.length & ~3;
    if (whole < b.length) carry = b.slice(whole);
    if (whole === 0) return;
    // Copy into an aligned buffer (stdout chunks are not guaranteed 4-byte aligned).
    const f = new Float32Array(whole / 4);
    new Uint8Array(f.buffer).set(b.subarray(0, whole));
    try {
      sink.write(f);
    } catch (e) {
      kill(e instanceof AudioDecodeError ? e : new AudioDecodeError('corrupt', String(e)));
    }
  });

  const onAbort = () => kill(abortError(signal!));
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  const stallCheck = setInterval(
    () => {
      if (Date.now() - lastProgress > p.stallTimeoutMs)
        kill(new AudioDecodeError('timeout', `Decoder made no progress for ${Math.round(p.stallTimeoutMs / 1000)} s and was stopped`));
    },
    Math.max(50, Math.min(1000, p.stallTimeoutMs / 4)),
  );

  const closed = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, sig) => resolve({ code, sig }));
  });
  let spawnError: Error | null = null;
  child.on('error', (e) => {
    spawnError = e;
  });
  child.on('exit', () => {
    exited = true;
  });

  // Feed stdin with backpressure; stop quietly if ffmpeg exits early (EPIPE).
  const feeding = (async () => {
    if (!input || !child.stdin) return;
    const stdin = child.stdin;
    stdin.on('error', () => {});
    try {
      for await (const c of input) {
        if (failure || exited || stdin.destroyed) break;
        lastProgress = Date.now();
        if (!stdin.write(c) && !exited) {
          await new Promise<void>((resolve) => {
            const done = () => {
              stdin.off('drain', done);
              stdin.off('close', done);
              stdin.off('error', done);
              resolve();
            };
            stdin.on('drain', done);
            stdin.on('close', done);
            stdin.on('error', done);
          });
        }
      }
    } catch (e) {
      kill(e instanceof AudioDecodeError ? e : new AudioDecodeError('aborted', `Reading the audio failed: ${(e as Error).message}`));
    } finally {
      if (!stdin.destroyed) stdin.end();
    }
  })();

  const { code } = await closed;
  exited = true;
  clearInterval(stallCheck);
  signal?.removeEventListener('abort', onAbort);
  await feeding;

  if (spawnError) {
    const e = spawnError as NodeJS.ErrnoException;
    throw new AudioDecodeError(
      e.code === 'ENOENT' ? 'server' : 'unsupported',
      e.code === 'ENOENT'
        ? `Decoding ${det(p)} needs ffmpeg, which is not installed`
        : `Could not start ffmpeg to decode ${det(p)}: ${e.message}`,
    );
  }
  if (failure) throw failure;
  const info = parseStreamInfo(stderrHead);
  if (code !== 0) {
    const why = errorLines(stderr);
    if (/matches no streams|does not contain any stream|Output file #0 does not contain any stream/i.test(stderr) && !info.codec) {
      throw new AudioDecodeError('invalid_format', INVALID_FORMAT_MESSAGE);
    }
    throw new AudioDecodeError('corrupt', `Could not decode ${det(p)} audio${why ? `: ${why}` : ''}`);
  }
  return info;
}

function det(p: FfmpegParams): string {
  return p.det.codec ? `${p.det.container}/${p.det.codec}` : p.det.container;
}
