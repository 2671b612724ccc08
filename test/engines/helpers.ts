/**
 * Test helpers for the engine layer: read the shared 16 kHz mono 16-bit WAV clips without going
 * through src/audio (tested on its own), find the shared corpus, and score transcripts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after } from 'node:test';
import type { StreamingDecoderOptions } from '../../src/engines/backend.ts';
import type { PocketsphinxBackend } from '../../src/engines/pocketsphinx/backend.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = process.env.COCHLEA_SHARED_DIR ?? path.resolve(REPO_ROOT, '..', 'shared');
export const PS_SET = path.join(SHARED_DIR, 'speech', 'en_pocketsphinx_debian');
export const SILERO_V5 = path.join(SHARED_DIR, 'models', 'silero-vad', 'silero_vad_v5.onnx');

/** `skip` option for node:test: a message when the shared corpus is missing, else false. */
export function skipWithoutShared(): string | false {
  return fs.existsSync(path.join(PS_SET, 'manifest.jsonl'))
    ? false
    : `shared speech corpus not found at ${PS_SET} (set COCHLEA_SHARED_DIR or provide ../shared)`;
}

export function skipWithoutPocketsphinx(): string | false {
  return fs.existsSync('/usr/share/pocketsphinx/model/en-us/en-us')
    ? false
    : 'pocketsphinx-en-us model not installed (apt-get install libpocketsphinx3 pocketsphinx-en-us)';
}

export interface Clip {
  id: string;
  audio: string;
  text: string;
  duration_s: number;
}

export function loadManifest(dir = PS_SET): Clip[] {
  return fs
    .readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Clip);
}

/** Minimal RIFF/WAVE reader for 16-bit PCM mono 16 kHz (what the shared sets' `audio` files are). */
export function readWav16kMono(file: string): Float32Array {
  const buf = fs.readFileSync(file);
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not a WAV`);
  let off = 12;
  let fmt: { channels: number; rate: number; bits: number; format: number } | null = null;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        rate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt || fmt.format !== 1 || fmt.channels !== 1 || fmt.rate !== 16000 || fmt.bits !== 16) {
        throw new Error(`${file}: expected 16 kHz mono PCM16, got ${JSON.stringify(fmt)}`);
      }
      const n = Math.floor(Math.min(size, buf.length - body) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(body + 2 * i) / 32768;
      return out;
    }
    off = body + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

export function clipPcm(clip: Clip, dir = PS_SET): Float32Array {
  return readWav16kMono(path.join(dir, clip.audio));
}

export function normalize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Word error rate (Levenshtein over words). */
export function wer(ref: string, hyp: string): number {
  const r = normalize(ref);
  const h = normalize(hyp);
  if (r.length === 0) return h.length === 0 ? 0 : 1;
  let prev = Array.from({ length: h.length + 1 }, (_, j) => j);
  for (let i = 1; i <= r.length; i++) {
    const cur = [i];
    for (let j = 1; j <= h.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[h.length] / r.length;
}

/** Deterministic uniform noise in [-peak, peak): an LCG, so every run and machine gets the same samples. */
export function lcgNoise(samples: number, peak: number, seed = 1): Float32Array {
  const out = new Float32Array(samples);
  let x = seed;
  for (let i = 0; i < samples; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = (x / 0x7fffffff - 0.5) * (2 * peak);
  }
  return out;
}

/** Concatenate clips with `gapSeconds` of low-level noise between them (and around them). */
export function concatWithGaps(parts: Float32Array[], gapSeconds: number, seed = 1): { pcm: Float32Array; offsets: number[] } {
  const gap = Math.round(gapSeconds * 16000);
  const total = parts.reduce((n, p) => n + p.length, 0) + gap * (parts.length + 1);
  const pcm = lcgNoise(total, 0.001, seed); // ~ -60 dBFS noise floor
  const offsets: number[] = [];
  let o = gap;
  for (const p of parts) {
    offsets.push(o / 16000);
    pcm.set(p, o);
    o += p.length + gap;
  }
  return { pcm, offsets };
}

/**
 * Non-silent 10 ms frames of a clip by short-time energy: above both the clip's noise floor
 * (10th percentile) + 15 dB and its peak − 45 dB. Used to check that word boundaries fall where
 * the audio actually has sound.
 */
export function activeFrames(pcm: Float32Array, frameSamples = 160): boolean[] {
  const n = Math.floor(pcm.length / frameSamples);
  const e: number[] = [];
  for (let f = 0; f < n; f++) {
    let s = 0;
    for (let i = f * frameSamples; i < (f + 1) * frameSamples; i++) s += pcm[i] * pcm[i];
    e.push(10 * Math.log10(s / frameSamples + 1e-12));
  }
  const sorted = [...e].sort((a, b) => a - b);
  const floor = sorted[Math.floor(sorted.length * 0.1)];
  const peak = sorted[sorted.length - 1];
  const thr = Math.max(floor + 15, peak - 45);
  return e.map((v) => v > thr);
}

/** First and last frame of sound: start/end of the first/last run of ≥ minRun active frames. */
export function soundSpan(active: boolean[], minRun = 5): { onset: number; offset: number } {
  const runs: [number, number][] = [];
  let i = 0;
  while (i < active.length) {
    if (!active[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < active.length && active[j]) j++;
    if (j - i >= minRun) runs.push([i, j]);
    i = j;
  }
  if (runs.length === 0) return { onset: 0, offset: 0 };
  return { onset: runs[0][0] / 100, offset: runs[runs.length - 1][1] / 100 };
}

/**
 * A pocketsphinx backend factory for one test file: each backend is initialised (no warm
 * decoders unless asked) and disposed when the file's tests are done.
 */
export function pocketsphinxBackends(): (cfg?: ConstructorParameters<typeof PocketsphinxBackend>[0]) => Promise<PocketsphinxBackend> {
  const made: PocketsphinxBackend[] = [];
  after(() => {
    for (const b of made) b.dispose();
  });
  return async (cfg = {}) => {
    // Loaded on use: importing this helper must not load the native library.
    const { PocketsphinxBackend } = await import('../../src/engines/pocketsphinx/backend.ts');
    const b = new PocketsphinxBackend({ warmDecoders: 0, ...cfg });
    await b.init();
    made.push(b);
    return b;
  };
}

/** One streaming session over `pcm`, fed and decoded `chunk` samples at a time; the final's text. */
export function streamFinalText(b: PocketsphinxBackend, pcm: Float32Array, chunk: number, opts: StreamingDecoderOptions = {}): string {
  const d = b.createDecoder(opts);
  for (let i = 0; i < pcm.length; i += chunk) {
    d.accept(pcm.subarray(i, i + chunk));
    b.decodeReady([d]);
  }
  const text = d.endSegment().text;
  d.free();
  return text;
}
