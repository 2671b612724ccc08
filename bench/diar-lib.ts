/** Shared helpers of the diarization evaluation: reading the shared WAVs and RTTMs. */
import fs from 'node:fs';
import path from 'node:path';
import { loadSet, type Clip } from '../test/helpers/speech.ts';
import { parseRttm, type LabelledSegment } from '../src/pipeline/speakers/der.ts';

/** 16-bit PCM WAV → Float32 (the shared sets are 16 kHz mono s16). */
export function readWav16k(file: string): Float32Array {
  const b = fs.readFileSync(file);
  let p = 12;
  let fmt: { ch: number; sr: number; bits: number } | undefined;
  while (p + 8 <= b.length) {
    const id = b.toString('ascii', p, p + 4);
    const size = b.readUInt32LE(p + 4);
    if (id === 'fmt ') fmt = { ch: b.readUInt16LE(p + 10), sr: b.readUInt32LE(p + 12), bits: b.readUInt16LE(p + 22) };
    if (id === 'data') {
      if (!fmt || fmt.ch !== 1 || fmt.sr !== 16000 || fmt.bits !== 16) throw new Error(`${file}: expected 16 kHz mono s16`);
      const n = Math.floor(Math.min(size, b.length - p - 8) / 2);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(p + 8 + 2 * i) / 32768;
      return out;
    }
    p += 8 + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

export interface DiarClip extends Clip {
  ref: LabelledSegment[];
}

/** The clips of ../shared/speech/diar_pyannote (all carry RTTM references). */
export function rttmClips(): DiarClip[] {
  return loadSet('diar_pyannote').map((c) => {
    const rttm = path.join(path.dirname(path.dirname(c.audio)), String(c.rttm));
    return { ...c, ref: parseRttm(fs.readFileSync(rttm, 'utf8')) };
  });
}
