/**
 * Shared pieces for the audio tests: the real source clip, fixture generation with ffmpeg/sox
 * into a temp dir (never committed), an independent reference decode (ffmpeg → f32le 16 kHz),
 * and comparison metrics.
 *
 * ffmpeg's outputs (encoded fixtures and reference decodes) are cached in
 * `<tmp>/cochlea-ffmpeg-cache/`, keyed by the ffmpeg version, the arguments and the SHA-256 of
 * every input file: ffmpeg is deterministic for a given build and input, so a cached output is the
 * output it would produce again. Set COCHLEA_TEST_CACHE=0 to bypass the cache.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SPEECH_DIR, sharedAvailable } from '../helpers/speech.ts';
import { concatFloat32 } from '../../src/util/pcm.ts';

export { sharedAvailable };

/** The real source clip: JFK, 11 s, stereo 44.1 kHz 24-bit FLAC. */
export const SOURCE_CLIP = path.join(SPEECH_DIR, 'en_jfk', 'orig', 'jfk.flac');

export function skipWithoutSpeech(what: string): string | false {
  return fs.existsSync(SOURCE_CLIP) ? false : `${what} skipped: real speech ${SOURCE_CLIP} not found (needs ../shared beside the repo)`;
}

export function have(bin: string): boolean {
  return spawnSync(bin, ['-version'], { stdio: 'ignore' }).status === 0 || spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0;
}

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `cochlea-audio-test-${tag}-`));
}

const CACHE_DIR = path.join(os.tmpdir(), 'cochlea-ffmpeg-cache');
const useCache = process.env.COCHLEA_TEST_CACHE !== '0';
let ffmpegVersion: string | undefined;

/** Cache key: ffmpeg build, arguments, and the content of every argument that names a file. */
function cacheKey(args: string[]): string {
  ffmpegVersion ??= execFileSync('ffmpeg', ['-version']).toString().split('\n')[0];
  const h = crypto.createHash('sha256').update(ffmpegVersion);
  for (const a of args) {
    // A file argument counts by its content and extension, not by its (often temporary) path.
    if (a.startsWith('/') && fs.existsSync(a) && fs.statSync(a).isFile()) {
      h.update('\0file' + path.extname(a)).update(crypto.createHash('sha256').update(fs.readFileSync(a)).digest());
    } else h.update('\0' + a);
  }
  return h.digest('hex');
}

function cacheGet(key: string): Buffer | undefined {
  if (!useCache) return undefined;
  try {
    return fs.readFileSync(path.join(CACHE_DIR, key));
  } catch {
    return undefined;
  }
}

function cachePut(key: string, data: Buffer): void {
  if (!useCache) return;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = path.join(CACHE_DIR, `${key}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, path.join(CACHE_DIR, key)); // atomic: readers never see a partial entry
}

/** Run ffmpeg with `args`; the last argument is the output file (from the cache when possible). */
export function ffmpeg(args: string[]): void {
  const out = args[args.length - 1];
  // The output's name matters only through its extension (ffmpeg picks the muxer from it).
  const key = cacheKey([...args.slice(0, -1), path.extname(out)]);
  const hit = cacheGet(key);
  if (hit) {
    fs.writeFileSync(out, hit);
    return;
  }
  execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  cachePut(key, fs.readFileSync(out));
}

/** ffmpeg writing to stdout (`args` end with '-'); returns its output, cached like ffmpeg(). */
export function ffmpegOut(args: string[]): Buffer {
  const key = cacheKey(args);
  const hit = cacheGet(key);
  if (hit) return hit;
  const b = execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', ...args], { maxBuffer: 1 << 30 });
  cachePut(key, b);
  return b;
}

/**
 * Independent reference decode: ffmpeg (its own demuxers/decoders, swr resampler — not the soxr
 * path Cochlea uses) to 16 kHz mono f32le, channels averaged.
 * `inputArgs` go before -i (e.g. a raw format description).
 */
export function referenceDecode(file: string, inputArgs: string[] = []): Float32Array {
  const b = ffmpegOut([...inputArgs, '-i', file, '-af', 'aresample=osr=16000:ochl=mono:rematrix_maxval=1', '-f', 'f32le', '-']);
  const f = new Float32Array(b.length / 4);
  new Uint8Array(f.buffer).set(b.subarray(0, f.length * 4));
  // Cochlea promises samples in [-1, 1]; clip the reference the same way (matters for float
  // sources whose resampled peaks overshoot full scale).
  for (let i = 0; i < f.length; i++) f[i] = Math.max(-1, Math.min(1, f[i]));
  return f;
}

/** SNR (dB) of `x` against reference `ref` over their common length. */
export function snrDb(x: Float32Array, ref: Float32Array): number {
  const n = Math.min(x.length, ref.length);
  let s = 0;
  let e = 0;
  for (let i = 0; i < n; i++) {
    s += ref[i] * ref[i];
    const d = x[i] - ref[i];
    e += d * d;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

/** Always a fresh buffer (tests compare and mutate results). */
export function concatF32(parts: Float32Array[]): Float32Array {
  return parts.length === 1 ? parts[0].slice() : concatFloat32(parts);
}

export function identical(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(a[i] !== a[i] && b[i] !== b[i])) return false;
  return true;
}

/** Deterministic PRNG (mulberry32) so fuzz/chunking runs are reproducible from a printed seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Split `bytes` into random chunk sizes in [1, max]. */
export function randomChunks(bytes: Uint8Array, rand: () => number, max: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + Math.floor(rand() * max);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}
