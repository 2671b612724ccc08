/**
 * Diarization test and benchmark data from ../shared (read in place, never copied): the RTTM clips
 * of diar_pyannote, the stereo two-speaker clip of diar_misc (one speaker per channel: the
 * reference comes from each channel's own energy), and conversations built by concatenating
 * single-speaker read speech of different speakers (reference = the clip boundaries).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadSet, type Clip } from '../helpers/speech.ts';
import { parseRttm, type LabelledSegment } from '../../src/pipeline/speakers/der.ts';

/** 16-bit PCM WAV → Float32 per channel. */
export function readWavChannels(file: string): { sr: number; channels: Float32Array[] } {
  const b = fs.readFileSync(file);
  let p = 12;
  let fmt: { ch: number; sr: number; bits: number } | undefined;
  while (p + 8 <= b.length) {
    const id = b.toString('ascii', p, p + 4);
    const size = b.readUInt32LE(p + 4);
    if (id === 'fmt ') fmt = { ch: b.readUInt16LE(p + 10), sr: b.readUInt32LE(p + 12), bits: b.readUInt16LE(p + 22) };
    if (id === 'data') {
      if (!fmt || fmt.bits !== 16) throw new Error(`${file}: expected 16-bit PCM`);
      const n = Math.floor(Math.min(size, b.length - p - 8) / 2 / fmt.ch);
      const channels = Array.from({ length: fmt.ch }, () => new Float32Array(n));
      for (let i = 0; i < n; i++) for (let c = 0; c < fmt.ch; c++) channels[c][i] = b.readInt16LE(p + 8 + 2 * (i * fmt.ch + c)) / 32768;
      return { sr: fmt.sr, channels };
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

/** 16 kHz mono 16-bit WAV → Float32 (the shared `wav16k/` files). */
export function readWav16k(file: string): Float32Array {
  const w = readWavChannels(file);
  if (w.sr !== 16000 || w.channels.length !== 1) throw new Error(`${file}: expected 16 kHz mono`);
  return w.channels[0];
}

export interface Conversation {
  id: string;
  pcm: Float32Array;
  ref: LabelledSegment[];
  speakers: number;
}

/**
 * A conversation from single-speaker clips: `turns` lists [set, clip id] in order; 0.4 s of
 * silence between turns. Reference turns are the clips' spans trimmed to their first and last
 * frame within 40 dB of the clip's loudest frame (leading/trailing silence is not speech).
 */
export function concatConversation(id: string, turns: [string, string][]): Conversation {
  const gap = new Float32Array(6400);
  const parts: Float32Array[] = [];
  const ref: LabelledSegment[] = [];
  let t = 0;
  const bySet = new Map<string, Clip[]>();
  for (const [set, clipId] of turns) {
    if (!bySet.has(set)) bySet.set(set, loadSet(set));
    const clip = bySet.get(set)!.find((c) => c.id === clipId);
    if (!clip) throw new Error(`no clip ${set}/${clipId}`);
    const pcm = readWav16k(clip.audio);
    const [a, b] = speechSpan(pcm);
    ref.push({ start: t + a, end: t + b, speaker: String(clip.speaker ?? clip.id) });
    parts.push(pcm, gap);
    t += (pcm.length + gap.length) / 16000;
  }
  const pcm = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    pcm.set(p, o);
    o += p.length;
  }
  return { id, pcm, ref, speakers: new Set(ref.map((r) => r.speaker)).size };
}

function speechSpan(pcm: Float32Array): [number, number] {
  const n = Math.floor(pcm.length / 160);
  const e = new Float64Array(n);
  let max = -Infinity;
  for (let f = 0; f < n; f++) {
    let s = 0;
    for (let i = 0; i < 160; i++) s += pcm[f * 160 + i] ** 2;
    e[f] = 10 * Math.log10(s + 1e-10);
    max = Math.max(max, e[f]);
  }
  let a = 0;
  while (a < n && e[a] < max - 40) a++;
  let b = n - 1;
  while (b > a && e[b] < max - 40) b--;
  return [a / 100, (b + 1) / 100];
}

/** Three speakers (LibriSpeech 1089, LibriSpeech 2412, LJSpeech), 8 turns, about 60 s. */
export function threeSpeakerConversation(): Conversation {
  return concatConversation('synthetic_3spk', [
    ['en_librispeech', '1089-134686-0000'],
    ['en_ljspeech', 'LJ001-0001'],
    ['en_librispeech', '2412-153948-0000'],
    ['en_ljspeech', 'LJ001-0005'],
    ['en_librispeech', '1089-134686-0001'],
    ['en_ljspeech', 'LJ001-0003'],
    ['en_librispeech', '1089-134691-0000'],
    ['en_ljspeech', 'LJ001-0007'],
  ]);
}

/** diar_misc stereo clip: one read-speech speaker per channel; reference from each channel's energy. */
export function stereoClip(): Conversation {
  const clip = loadSet('diar_misc').find((c) => c.id === 'faster_whisper_stereo_diarization')!;
  const { channels, sr } = readWavChannels(clip.orig_audio!);
  if (sr !== 16000) throw new Error('stereo clip: expected 16 kHz');
  const ref: LabelledSegment[] = [];
  channels.forEach((ch, c) => {
    const n = Math.floor(ch.length / 160);
    const e = new Float64Array(n);
    let max = -Infinity;
    for (let f = 0; f < n; f++) {
      let s = 0;
      for (let i = 0; i < 160; i++) s += ch[f * 160 + i] ** 2;
      e[f] = 10 * Math.log10(s + 1e-10);
      max = Math.max(max, e[f]);
    }
    // Speech: frames within 35 dB of the channel's peak, gaps < 0.3 s bridged.
    let f = 0;
    while (f < n) {
      if (e[f] < max - 35) { f++; continue; }
      let g = f;
      let last = f;
      while (g < n && g - last < 30) { if (e[g] >= max - 35) last = g; g++; }
      ref.push({ start: f / 100, end: (last + 1) / 100, speaker: `ch${c}` });
      f = g;
    }
  });
  return { id: clip.id, pcm: readWav16k(clip.audio), ref, speakers: 2 };
}
