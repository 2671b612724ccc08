/**
 * Fuzzing every decoder, batch and streaming, with random, truncated and bit-flipped inputs.
 *
 * Property: each run ends in a clean result (16 kHz PCM, finite, within [-1, 1]) or an
 * AudioDecodeError — never another exception, a hang (every batch run must finish well inside its
 * timeout) or unbounded memory (stream decoders' buffered bytes stay under one Ogg page + one
 * packet; process RSS stays bounded). Run counts are printed. Reproducible: the seed (from
 * AUDIO_FUZZ_SEED, else the clock) is printed before the first run and in every failure; replay a
 * failure with AUDIO_FUZZ_SEED=<seed> and the same scale. AUDIO_FUZZ_SCALE multiplies the run counts.
 *
 * Used by fuzz.test.ts (the fast suite: 1/4 of the base counts, ~290 runs) and fuzz.slow.ts
 * (`npm run test:slow`: 2× the base counts, ~2300 runs).
 */
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { AudioDecodeError, createStreamDecoder, decodeAudio, type DecodedAudio, type RawEncoding } from '../../src/audio/index.ts';
import { MAX_PAGE } from '../../src/audio/ogg.ts';
import { MAX_OPUS_PACKET } from '../../src/audio/opus.ts';
import { ffmpeg, have, randomChunks, rng, tempDir } from './helpers.ts';

const SEED = Number(process.env.AUDIO_FUZZ_SEED ?? Date.now() % 1_000_000);
if (!Number.isInteger(SEED) || SEED < 0) throw new Error(`AUDIO_FUZZ_SEED must be a non-negative integer, got ${process.env.AUDIO_FUZZ_SEED}`);
const rand = rng(SEED);
let SCALE = 1;
const counts = { batchInProcess: 0, batchFfmpeg: 0, stream: 0, clean: 0, errors: 0 };
const codes = new Map<string, number>();

function pick<T>(xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)];
}

/** Mutations: truncate, flip bits, smash the header, overwrite a span, splice random bytes. */
function mutate(src: Uint8Array): Uint8Array {
  const b = Uint8Array.from(src);
  switch (Math.floor(rand() * 6)) {
    case 0:
      return b.subarray(0, Math.floor(rand() * b.length));
    case 1: {
      const n = 1 + Math.floor(rand() * 40);
      for (let i = 0; i < n; i++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
      return b;
    }
    case 2: {
      const n = 1 + Math.floor(rand() * 8);
      for (let i = 0; i < n; i++) b[Math.floor(rand() * Math.min(b.length, 96))] ^= 1 << Math.floor(rand() * 8);
      return b;
    }
    case 3: {
      const at = Math.floor(rand() * b.length);
      const n = Math.floor(rand() * 4096);
      for (let i = at; i < Math.min(b.length, at + n); i++) b[i] = Math.floor(rand() * 256);
      return b;
    }
    case 4: {
      // Header fields set to extremes (sizes 0 / 0xFFFFFFFF, counts 0 / 255).
      const n = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) b[Math.floor(rand() * Math.min(b.length, 64))] = pick([0, 0xff, 0x7f, 0x80]);
      return b;
    }
    default: {
      const at = Math.floor(rand() * b.length);
      const junk = Uint8Array.from({ length: Math.floor(rand() * 2000) }, () => Math.floor(rand() * 256));
      const out = new Uint8Array(b.length + junk.length);
      out.set(b.subarray(0, at));
      out.set(junk, at);
      out.set(b.subarray(at), at + junk.length);
      return out;
    }
  }
}

function randomBytes(n: number, prefix = ''): Uint8Array {
  const b = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
  for (let i = 0; i < prefix.length && i < n; i++) b[i] = prefix.charCodeAt(i);
  return b;
}

function checkDecoded(d: DecodedAudio, label: string): void {
  assert.equal(d.sampleRate, 16000, label);
  assert.ok(d.pcm instanceof Float32Array && d.pcm.length > 0, label);
  assert.ok(Math.abs(d.duration - d.pcm.length / 16000) < 1e-9, label);
  for (let i = 0; i < d.pcm.length; i++) {
    const v = d.pcm[i];
    if (!(v >= -1 && v <= 1)) assert.fail(`${label}: sample ${i} = ${v}`);
  }
}

async function batchRun(bytes: Uint8Array, label: string, opts: { encoding?: RawEncoding; sampleRate?: number } = {}, asStream = false): Promise<void> {
  const t0 = Date.now();
  try {
    const input = asStream ? Readable.from(randomChunks(bytes, rand, 5000).map((c) => Buffer.from(c))) : bytes;
    const d = await decodeAudio(input, { ...opts, maxDurationSeconds: 120, timeoutMs: 15000, stallTimeoutMs: 10000 });
    checkDecoded(d, label);
    counts.clean++;
  } catch (e) {
    if (!(e instanceof AudioDecodeError)) assert.fail(`${label} (seed ${SEED}): ${e instanceof Error ? e.stack : String(e)}`);
    assert.ok(e.message.length > 0 && e.message.length < 1000, `${label}: message`);
    counts.errors++;
    codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
  }
  assert.ok(Date.now() - t0 < 14000, `${label}: took ${Date.now() - t0} ms`);
}

async function streamRun(enc: RawEncoding, rate: number, bytes: Uint8Array, label: string, packets?: Uint8Array[]): Promise<void> {
  const d = createStreamDecoder(enc, rate);
  await d.ready;
  const check = (x: Float32Array) => {
    for (let i = 0; i < x.length; i++) if (!(x[i] >= -1 && x[i] <= 1)) assert.fail(`${label}: sample ${x[i]}`);
  };
  const pieces = packets ?? randomChunks(bytes, rand, pick([1, 7, 200, 5000, 70000]));
  for (const c of pieces) {
    try {
      check(d.push(c));
    } catch (e) {
      if (!(e instanceof AudioDecodeError)) assert.fail(`${label} push (seed ${SEED}): ${e instanceof Error ? e.stack : String(e)}`);
      codes.set(`stream:${e.code}`, (codes.get(`stream:${e.code}`) ?? 0) + 1);
    }
    const pending = d.pendingBytes ?? 0;
    assert.ok(pending <= MAX_PAGE * 2 + MAX_OPUS_PACKET + 8, `${label}: ${pending} bytes buffered`);
  }
  try {
    check(d.flush());
  } catch (e) {
    if (!(e instanceof AudioDecodeError)) assert.fail(`${label} flush (seed ${SEED}): ${e instanceof Error ? e.stack : String(e)}`);
  }
  counts.stream++;
}

/** Full GC (so RSS reflects live memory, not garbage not yet collected). */
const gc: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

let dir = '';
const seeds = new Map<string, Uint8Array>();
const hasFfmpeg = have('ffmpeg');

/** Define the fuzz suite with run counts × `scale` (AUDIO_FUZZ_SCALE overrides it). */
export function defineFuzz(scale: number): void {
  SCALE = Number(process.env.AUDIO_FUZZ_SCALE ?? scale);
  if (!(SCALE > 0)) throw new Error(`AUDIO_FUZZ_SCALE must be > 0, got ${process.env.AUDIO_FUZZ_SCALE}`);
  // Printed first, so a crash or hang can be replayed even if no summary is printed.
  console.log(`# audio fuzz seed ${SEED}, scale ${SCALE} (replay: AUDIO_FUZZ_SEED=${SEED} AUDIO_FUZZ_SCALE=${SCALE})`);
  describe(`audio fuzzing (seed ${SEED}, scale ${SCALE})`, { skip: hasFfmpeg ? false : 'ffmpeg not installed (needed to make seed files)' }, () => {
    let rss0 = 0;
    before(() => {
      gc();
      rss0 = process.memoryUsage().rss;
      dir = tempDir('fuzz');
      // Seed files: 2 s of a synthetic voice-like signal (no ../shared needed), every format.
      const src = path.join(dir, 'src.wav');
      ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=220:duration=2:sample_rate=44100,aformat=channel_layouts=stereo,vibrato=f=5:d=0.4', src]);
      const mk = (name: string, ...args: string[]) => {
        const f = path.join(dir, name);
        ffmpeg(['-i', src, ...args, f]);
        seeds.set(name, fs.readFileSync(f));
      };
      mk('s16.wav');
      mk('mulaw8k.wav', '-ar', '8000', '-c:a', 'pcm_mulaw');
      mk('s24.wav', '-c:a', 'pcm_s24le');
      mk('f32.wav', '-c:a', 'pcm_f32le', '-rf64', 'always');
      mk('adpcm.wav', '-c:a', 'adpcm_ima_wav');
      mk('a.mp3', '-c:a', 'libmp3lame', '-b:a', '64k');
      mk('a.flac');
      mk('a.ogg', '-c:a', 'libvorbis');
      mk('a.opus', '-c:a', 'libopus', '-b:a', '32k');
      mk('a.webm', '-c:a', 'libopus', '-b:a', '32k');
      mk('a.m4a', '-c:a', 'aac', '-b:a', '64k');
      mk('a.aac', '-c:a', 'aac', '-f', 'adts');
      mk('a.aiff');
      mk('raw16k.s16', '-ac', '1', '-ar', '16000', '-f', 's16le');
      mk('raw8k.mulaw', '-ac', '1', '-ar', '8000', '-f', 'mulaw');
      mk('mono48k.opus', '-ac', '1', '-ar', '48000', '-c:a', 'libopus', '-b:a', '24k');
    });
    afterEach(() => {
      gc();
      console.log(`# fuzz: RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB, external ${(process.memoryUsage().external / 1e6).toFixed(0)} MB`);
    });
    after(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      const total = counts.batchInProcess + counts.batchFfmpeg + counts.stream;
      console.log(
        `# fuzz runs: ${total} (batch in-process ${counts.batchInProcess}, batch via ffmpeg ${counts.batchFfmpeg}, stream ${counts.stream}); ` +
          `batch outcomes: ${counts.clean} clean, ${counts.errors} AudioDecodeError; codes ${JSON.stringify(Object.fromEntries(codes))}; seed ${SEED}`,
      );
    });

    test('batch, in-process decoders (WAV, raw): mutated and random inputs', async () => {
      const wavs = ['s16.wav', 'mulaw8k.wav', 's24.wav', 'f32.wav'];
      const n = Math.round(600 * SCALE);
      for (let i = 0; i < n; i++) {
        const r = rand();
        if (r < 0.7) {
          const name = pick(wavs);
          const bytes = mutate(seeds.get(name)!);
          // Mutations may turn a WAV into "something else" that goes to ffmpeg; count by route.
          const stillWav = bytes.length >= 12 && Buffer.from(bytes.subarray(8, 12)).toString('latin1') === 'WAVE';
          await batchRun(bytes, `wav ${name} #${i}`, {}, rand() < 0.3);
          if (stillWav) counts.batchInProcess++;
          else counts.batchFfmpeg++;
        } else if (r < 0.85) {
          const enc = pick(['linear16', 'linear32', 'alaw', 'mulaw'] as const);
          const src = enc === 'mulaw' || enc === 'alaw' ? seeds.get('raw8k.mulaw')! : seeds.get('raw16k.s16')!;
          await batchRun(rand() < 0.5 ? mutate(src) : randomBytes(Math.floor(rand() * 20000)), `raw ${enc} #${i}`, { encoding: enc, sampleRate: pick([8000, 16000, 44100]) });
          counts.batchInProcess++;
        } else {
          await batchRun(randomBytes(Math.floor(rand() * 3000), pick(['RIFF\0\0\0\0WAVE', 'RIFF\xff\xff\xff\xffWAVEfmt ', 'RF64\xff\xff\xff\xffWAVEds64', ''])), `random wav #${i}`);
          counts.batchInProcess++;
        }
      }
    });

    test('batch via ffmpeg (MP3, FLAC, Ogg, WebM, M4A, AAC, AIFF, ADPCM WAV): mutated and random inputs', async () => {
      const files = ['adpcm.wav', 'a.mp3', 'a.flac', 'a.ogg', 'a.opus', 'a.webm', 'a.m4a', 'a.aac', 'a.aiff'];
      const n = Math.round(150 * SCALE);
      for (let i = 0; i < n; i++) {
        if (rand() < 0.8) {
          const name = files[i % files.length];
          await batchRun(mutate(seeds.get(name)!), `${name} #${i}`, {}, rand() < 0.3);
        } else {
          const magic = pick(['fLaC', 'OggS\0', 'ID3\x03\0\0\0\0\0\0', '\x1aE\xdf\xa3', '\0\0\0\x20ftypM4A ', 'FORM\0\0\0\0AIFF', '\xff\xfb\x90\x00']);
          await batchRun(randomBytes(Math.floor(rand() * 8000), magic), `random ${JSON.stringify(magic)} #${i}`);
        }
        counts.batchFfmpeg++;
      }
    });

    test('stream decoders: mutated and random inputs in random chunkings', async () => {
      const n = Math.round(400 * SCALE);
      for (let i = 0; i < n; i++) {
        const kind = pick(['pcm', 'pcm', 'ogg', 'ogg', 'opus'] as const);
        if (kind === 'pcm') {
          const enc = pick(['linear16', 'linear32', 'alaw', 'mulaw'] as const);
          const bytes = rand() < 0.5 ? mutate(seeds.get('raw16k.s16')!) : randomBytes(Math.floor(rand() * 30000));
          await streamRun(enc, pick([8000, 16000, 22050, 44100, 48000]), bytes, `stream ${enc} #${i}`);
        } else if (kind === 'ogg') {
          const bytes = rand() < 0.8 ? mutate(seeds.get(pick(['a.opus', 'mono48k.opus']))!) : randomBytes(Math.floor(rand() * 30000), pick(['OggS\0', '']));
          await streamRun('ogg_opus', 48000, bytes, `stream ogg_opus #${i}`);
        } else {
          // Raw Opus packets: random bytes, or real packets with bits flipped.
          const packets: Uint8Array[] = [];
          const m = 1 + Math.floor(rand() * 60);
          for (let k = 0; k < m; k++) packets.push(randomBytes(Math.floor(rand() * 1500)));
          await streamRun('opus', 48000, new Uint8Array(0), `stream opus #${i}`, packets);
        }
      }
    });

    test('memory stayed bounded', () => {
      gc();
      const grown = (process.memoryUsage().rss - rss0) / 1e6;
      console.log(`# fuzz: RSS grew ${grown.toFixed(0)} MB`);
      assert.ok(grown < 400, `RSS grew ${grown.toFixed(0)} MB`);
    });
  });
}
