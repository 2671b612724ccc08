/** Shared helpers for the sherpa-onnx tests: ../shared speech, fixtures, word checks. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { EngineWord } from '../../src/engines/types.ts';

const require = createRequire(import.meta.url);
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = process.env.COCHLEA_SHARED_DIR ?? path.resolve(REPO, '..', 'shared');
export const SILERO_V5 = path.join(SHARED, 'models', 'silero-vad', 'silero_vad_v5.onnx');

export function skipWithoutShared(): string | false {
  return fs.existsSync(path.join(SHARED, 'speech')) ? false : `../shared/speech not found at ${SHARED}`;
}

export function skipWithoutSilero(): string | false {
  return fs.existsSync(SILERO_V5) ? false : `Silero VAD weights not found at ${SILERO_V5}`;
}

export function skipWithoutPythonOnnx(): string | false {
  try {
    // Cheap probe only: ensureSherpaFixtures() gives the real error.
    for (const p of [process.env.COCHLEA_PYTHON, '/usr/bin/python3']) {
      if (p && fs.existsSync(p)) return false;
    }
  } catch {
    /* fallthrough */
  }
  return 'no python3 for the ONNX fixture generator (apt-get install python3-onnx)';
}

export interface Clip {
  audio: string;
  text: string;
  lang: string;
  duration_s: number;
  set: string;
}

export function manifest(set: string): Clip[] {
  const file = path.join(SHARED, 'speech', set, 'manifest.jsonl');
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => ({ ...(JSON.parse(l) as Clip), set }));
}

/** 16 kHz mono float PCM of a clip, read with sherpa-onnx's readWave. */
export function readClip(clip: Clip): Float32Array {
  const wave = require('sherpa-onnx-node').readWave(path.join(SHARED, 'speech', clip.set, clip.audio)) as { samples: Float32Array; sampleRate: number };
  assert.equal(wave.sampleRate, 16000, `${clip.audio} is 16 kHz`);
  return wave.samples;
}

export function concatWithSilence(parts: Float32Array[], gapSeconds: number): { pcm: Float32Array; starts: number[] } {
  const gap = Math.round(gapSeconds * 16000);
  const total = parts.reduce((a, p) => a + p.length, 0) + gap * (parts.length + 1);
  const pcm = new Float32Array(total);
  const starts: number[] = [];
  let o = gap;
  for (const p of parts) {
    starts.push(o);
    pcm.set(p, o);
    o += p.length + gap;
  }
  return { pcm, starts };
}

/** Words are non-empty, monotonic, non-overlapping, inside [0, duration], confidence in [0,1]. */
export function assertSaneWords(words: EngineWord[], duration: number, label = ''): void {
  let prevEnd = 0;
  for (const w of words) {
    assert.ok(w.word.length > 0, `${label} empty word`);
    assert.ok(w.start >= prevEnd - 1e-9, `${label} monotonic: ${w.word}@${w.start} before previous end ${prevEnd}`);
    assert.ok(w.end >= w.start, `${label} ${w.word}: end ${w.end} ≥ start ${w.start}`);
    assert.ok(w.start >= 0 && w.end <= duration + 1e-6, `${label} ${w.word} [${w.start}, ${w.end}] within [0, ${duration}]`);
    assert.ok(w.confidence >= 0 && w.confidence <= 1, `${label} ${w.word}: confidence ${w.confidence}`);
    prevEnd = w.end;
  }
}
