/**
 * Shared shapes for `npm run bench`. Each bench module exports
 *   `export async function run(ctx: BenchContext): Promise<BenchSection>`
 * and bench/run.ts collects the sections into bench/results/report.{json,md}.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED_DIR = process.env.COCHLEA_SHARED_DIR ?? path.resolve(REPO_ROOT, '..', 'shared');

export interface BenchContext {
  /** Quick mode (fewer repetitions), e.g. for a smoke run. */
  quick: boolean;
  sharedDir: string;
  log: (msg: string) => void;
}

export interface BenchTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface BenchSection {
  name: string;
  /** Headline numbers, flat: e.g. { "rtfx_median": 12.3, "server_overhead_ratio": 1.04 }. */
  metrics: Record<string, number | string | boolean>;
  tables?: BenchTable[];
  notes?: string[];
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx];
}

export function sharedAvailable(ctx: BenchContext): boolean {
  return fs.existsSync(path.join(ctx.sharedDir, 'speech'));
}

/** Real-time streaming benches (streaming.ts, capacity.ts): 16 kHz linear16 sent in 4096-byte frames. */
export const CHUNK = 4096; // bytes of linear16 = 128 ms at 16 kHz
export const BPS = 32000;

/** A clip for the streaming benches, with where its speech starts and ends (from a batch decode). */
export interface StreamClip {
  id: string;
  pcm: Buffer;
  duration: number;
  speechStart: number;
  speechEnd: number;
}

/** linear16 bytes → float PCM. */
export function f32(pcm: Buffer): Float32Array {
  const out = new Float32Array(pcm.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = pcm.readInt16LE(i * 2) / 32768;
  return out;
}
