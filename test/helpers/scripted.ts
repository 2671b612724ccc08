/**
 * Audio and settings for the scripted test engine (src/engines/scripted/backend.ts): every burst
 * of sound becomes the next word of the script, with the burst's true start and end. Tests that
 * exercise protocol, SDK, CLI or page behaviour use it instead of real speech + pocketsphinx:
 * the words and times it must return are known exactly.
 */
import { makeWav } from './wav.ts';

export const SR = 16000;

export interface Bursts {
  pcm: Float32Array;
  /** True span of each burst, seconds from the start of `pcm`. */
  times: { start: number; end: number }[];
  duration: number;
}

/**
 * `n` tone bursts of `burst` seconds separated by `gap` seconds of silence, after `lead` seconds
 * of silence and followed by `tail` seconds of silence. Bursts and gaps are whole 10 ms frames,
 * so the scripted engine reports exactly these times.
 */
export function bursts(n: number, o: { burst?: number; gap?: number; lead?: number; tail?: number; amp?: number; freq?: number } = {}): Bursts {
  const burst = o.burst ?? 0.3;
  const gap = o.gap ?? 0.3;
  const lead = o.lead ?? 0.2;
  const tail = o.tail ?? 0.3;
  const amp = o.amp ?? 0.3;
  const freq = o.freq ?? 440;
  const duration = lead + n * burst + Math.max(0, n - 1) * gap + tail;
  const pcm = new Float32Array(Math.round(duration * SR));
  const times: { start: number; end: number }[] = [];
  for (let k = 0; k < n; k++) {
    const start = lead + k * (burst + gap);
    const a = Math.round(start * SR);
    const b = Math.round((start + burst) * SR);
    for (let i = a; i < b; i++) pcm[i] = amp * Math.sin((2 * Math.PI * freq * (i - a)) / SR);
    times.push({ start: Math.round(start * 1000) / 1000, end: Math.round((start + burst) * 1000) / 1000 });
  }
  return { pcm, times, duration: pcm.length / SR };
}

/** The bursts as a 16 kHz mono 16-bit WAV file (bytes). */
export function burstsWav(n: number, o: Parameters<typeof bursts>[1] = {}): Buffer {
  return makeWav(bursts(n, o).pcm);
}

/** The bursts as raw linear16 bytes (what a real-time client sends). */
export function burstsPcm16(n: number, o: Parameters<typeof bursts>[1] = {}): Buffer {
  const { pcm } = bursts(n, o);
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(Math.round(pcm[i] * 32767), i * 2);
  return b;
}

export type { ScriptedConfig } from '../../src/engines/scripted/backend.ts';
import type { ScriptedConfig } from '../../src/engines/scripted/backend.ts';

/** Server environment selecting the scripted engine with this script. */
export function scriptedEnv(cfg: ScriptedConfig = {}): Record<string, string> {
  // No Silero VAD: a tone is not speech to it; the scripted decoder's own burst tracking endpoints.
  return { COCHLEA_ENGINE: 'scripted', COCHLEA_SCRIPTED_CONFIG: JSON.stringify(cfg), COCHLEA_VAD_MODEL: '' };
}
