/** Audio for the scripted engine: tone bursts at known times (each burst becomes one script word). */
import { makeWav } from '../helpers/wav.ts';

export const SR = 16000;

/** 16 kHz mono PCM, `seconds` long, with a 440 Hz tone (amplitude 0.3) over each [start, end). */
export function burstsPcm(bursts: [number, number][], seconds: number): Float32Array {
  const pcm = new Float32Array(Math.round(seconds * SR));
  for (const [a, b] of bursts) {
    for (let i = Math.round(a * SR); i < Math.min(pcm.length, Math.round(b * SR)); i++) pcm[i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / SR);
  }
  return pcm;
}

/** `n` bursts of 0.3 s, one every 0.6 s from 0.2 s, then `tail` s of silence. */
export function evenBursts(n: number, tail = 1): { pcm: Float32Array; bursts: [number, number][] } {
  const bursts: [number, number][] = Array.from({ length: n }, (_, i) => [0.2 + i * 0.6, 0.5 + i * 0.6]);
  return { pcm: burstsPcm(bursts, 0.2 + n * 0.6 + tail), bursts };
}

export function burstsWav(bursts: [number, number][], seconds: number): Buffer {
  return makeWav(burstsPcm(bursts, seconds));
}

/** Little-endian s16 bytes of float PCM (linear16 frames). */
export function s16Bytes(pcm: Float32Array): Buffer {
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(pcm[i] * 32767))), i * 2);
  return b;
}
