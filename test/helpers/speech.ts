/** Access to the real-speech sets in ../shared (never copied into the repo). */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_DIR = process.env.COCHLEA_SHARED_DIR ?? path.resolve(REPO_ROOT, '..', 'shared');
export const SPEECH_DIR = path.join(SHARED_DIR, 'speech');
export const SILERO_VAD = path.join(SHARED_DIR, 'models', 'silero-vad', 'silero_vad_v5.onnx');

export interface Clip {
  id: string;
  set: string;
  /** Absolute path of the 16 kHz mono s16 WAV. */
  audio: string;
  text: string | null;
  lang: string;
  duration_s: number;
  orig_audio?: string;
  ulaw_audio?: string;
  alaw_audio?: string;
  [k: string]: unknown;
}

export function sharedAvailable(): boolean {
  return fs.existsSync(SPEECH_DIR);
}

/** Reason string for `{ skip }` when ../shared is missing, else false. */
export function skipWithoutShared(what = 'real-speech test'): string | false {
  return sharedAvailable() ? false : `${what} skipped: ${SPEECH_DIR} not found (needs ../shared beside the repo)`;
}

export function loadSet(set: string): Clip[] {
  const dir = path.join(SPEECH_DIR, set);
  const lines = fs.readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean);
  return lines.map((l, i) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    const abs = (k: string) => (typeof o[k] === 'string' ? path.join(dir, o[k] as string) : undefined);
    return {
      ...o,
      id: String(o.id ?? path.basename(String(o.audio), '.wav') ?? i),
      set,
      audio: abs('audio')!,
      orig_audio: abs('orig_audio'),
      ulaw_audio: abs('ulaw_audio'),
      alaw_audio: abs('alaw_audio'),
      text: (o.text as string | null) ?? null,
      lang: String(o.lang ?? 'en'),
      duration_s: Number(o.duration_s),
    } as Clip;
  });
}
