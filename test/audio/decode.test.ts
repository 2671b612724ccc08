/**
 * Batch decoding of every accepted container/codec, made from one real clip (JFK, stereo
 * 44.1 kHz 24-bit FLAC) with ffmpeg/sox into a temp dir, compared with an independent reference
 * decode (ffmpeg's own decoders + swr resampler → f32le 16 kHz mono).
 *
 * Bounds: SNR ≥ the per-format bound below (the two sides differ only in the resampler — Cochlea
 * uses libsamplerate in-process and soxr inside ffmpeg, the reference uses swr — so agreement is
 * high: ~70 dB measured for 44.1/48 kHz sources; 36–44 dB for 8 kHz sources, whose 3.6–4 kHz
 * band edge the two resamplers shape differently: libsamplerate's pass band ends at 90 % of the
 * input Nyquist, swr's at 97 %); length equal to the reference within one codec frame.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { AudioDecodeError, INVALID_FORMAT_MESSAGE, decodeAudio, type DecodedAudio, type RawEncoding } from '../../src/audio/index.ts';
import { SOURCE_CLIP, ffmpeg, ffmpegOut, identical, referenceDecode, skipWithoutSpeech, snrDb, tempDir } from './helpers.ts';
import { SPEECH_DIR } from '../helpers/speech.ts';

const skip = skipWithoutSpeech('batch decode tests');

interface Variant {
  name: string;
  ext: string;
  /** How to make it from the source clip. */
  make: (src: string, out: string) => void;
  format: string;
  sourceRate: number;
  sourceChannels: number;
  snrMin: number;
  /** Allowed length difference in 16 kHz samples (one codec frame). */
  frame: number;
  /** Reference decoder options (before -i). */
  refIn?: string[];
  /** Convert the file for the reference decode (when ffmpeg itself cannot read it right). */
  refVia?: (file: string) => string;
}

const ff = (...args: string[]) => (src: string, out: string) => ffmpeg(['-i', src, ...args, out]);
const sox = (...args: string[]) => (src: string, out: string) => {
  execFileSync('sox', [src, ...args], { stdio: 'ignore' });
  void out;
};
const frameOf = (n: number, rate: number) => Math.ceil((n * 16000) / rate) + 1;

const VARIANTS: Variant[] = [
  { name: 'wav pcm_s16le 44.1k stereo', ext: 'wav', make: ff('-c:a', 'pcm_s16le'), format: 'wav/pcm_s16le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav pcm_u8', ext: 'wav', make: ff('-c:a', 'pcm_u8'), format: 'wav/pcm_u8', sourceRate: 44100, sourceChannels: 2, snrMin: 50, frame: 1 },
  { name: 'wav pcm_s24le (EXTENSIBLE)', ext: 'wav', make: ff('-c:a', 'pcm_s24le'), format: 'wav/pcm_s24le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav pcm_s32le', ext: 'wav', make: ff('-c:a', 'pcm_s32le'), format: 'wav/pcm_s32le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav float32', ext: 'wav', make: ff('-c:a', 'pcm_f32le'), format: 'wav/pcm_f32le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav float64', ext: 'wav', make: ff('-c:a', 'pcm_f64le'), format: 'wav/pcm_f64le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav float32 EXTENSIBLE (sox)', ext: 'wav', make: (s, o) => sox('-e', 'floating-point', '-b', '32', o)(s, o), format: 'wav/pcm_f32le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav 4 channels EXTENSIBLE (sox)', ext: 'wav', make: (s, o) => sox('-b', '16', o, 'remix', '1', '2', '1', '2')(s, o), format: 'wav/pcm_s16le', sourceRate: 44100, sourceChannels: 4, snrMin: 60, frame: 1 },
  // ffmpeg 5.1 misreads sox's RIFX (SNR < 0 dB against the source), so the reference is sox's
  // own conversion back to little-endian RIFF.
  {
    name: 'wav RIFX big-endian (sox)',
    ext: 'wav',
    make: (s, o) => sox('-B', '-b', '16', o)(s, o),
    format: 'wav/pcm_s16be',
    sourceRate: 44100,
    sourceChannels: 2,
    snrMin: 60,
    frame: 1,
    refVia: (f) => {
      const le = `${f}.le.wav`;
      execFileSync('sox', [f, '-L', le]);
      return le;
    },
  },
  { name: 'wav RF64', ext: 'wav', make: ff('-c:a', 'pcm_s16le', '-rf64', 'always'), format: 'wav/pcm_s16le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav mu-law 8k', ext: 'wav', make: ff('-ar', '8000', '-c:a', 'pcm_mulaw'), format: 'wav/pcm_mulaw', sourceRate: 8000, sourceChannels: 2, snrMin: 38, frame: 1 },
  { name: 'wav a-law 8k mono', ext: 'wav', make: ff('-ar', '8000', '-ac', '1', '-c:a', 'pcm_alaw'), format: 'wav/pcm_alaw', sourceRate: 8000, sourceChannels: 1, snrMin: 38, frame: 1 },
  { name: 'wav s16 8k mono', ext: 'wav', make: ff('-ar', '8000', '-ac', '1'), format: 'wav/pcm_s16le', sourceRate: 8000, sourceChannels: 1, snrMin: 38, frame: 1 },
  { name: 'wav s16 11.025k', ext: 'wav', make: ff('-ar', '11025'), format: 'wav/pcm_s16le', sourceRate: 11025, sourceChannels: 2, snrMin: 38, frame: 1 },
  { name: 'wav s16 16k mono (no resampling)', ext: 'wav', make: ff('-ar', '16000', '-ac', '1'), format: 'wav/pcm_s16le', sourceRate: 16000, sourceChannels: 1, snrMin: 200, frame: 0 },
  { name: 'wav s16 22.05k', ext: 'wav', make: ff('-ar', '22050'), format: 'wav/pcm_s16le', sourceRate: 22050, sourceChannels: 2, snrMin: 50, frame: 1 },
  { name: 'wav s16 32k', ext: 'wav', make: ff('-ar', '32000'), format: 'wav/pcm_s16le', sourceRate: 32000, sourceChannels: 2, snrMin: 40, frame: 1 },
  { name: 'wav s16 48k', ext: 'wav', make: ff('-ar', '48000'), format: 'wav/pcm_s16le', sourceRate: 48000, sourceChannels: 2, snrMin: 40, frame: 1 },
  { name: 'wav s16 96k', ext: 'wav', make: ff('-ar', '96000'), format: 'wav/pcm_s16le', sourceRate: 96000, sourceChannels: 2, snrMin: 40, frame: 1 },
  { name: 'wav streamed to a pipe (size 0xFFFFFFFF)', ext: 'wav', make: (s, o) => fs.writeFileSync(o, ffmpegOut(['-i', s, '-c:a', 'pcm_s16le', '-f', 'wav', 'pipe:1'])), format: 'wav/pcm_s16le', sourceRate: 44100, sourceChannels: 2, snrMin: 60, frame: 1 },
  { name: 'wav MS ADPCM (via ffmpeg)', ext: 'wav', make: ff('-c:a', 'adpcm_ms'), format: 'wav/adpcm_ms', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(2048, 44100) },
  { name: 'wav GSM 6.10 (via ffmpeg)', ext: 'wav', make: ff('-ar', '8000', '-ac', '1', '-c:a', 'libgsm_ms'), format: 'wav/gsm_ms', sourceRate: 8000, sourceChannels: 1, snrMin: 35, frame: frameOf(320, 8000) },
  { name: 'mp3 (ID3v2 + Xing)', ext: 'mp3', make: ff('-c:a', 'libmp3lame', '-b:a', '128k'), format: 'mp3', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(1152, 44100) },
  { name: 'mp3 bare frames 8k mono', ext: 'mp3', make: ff('-ar', '8000', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '24k', '-write_xing', '0', '-id3v2_version', '0'), format: 'mp3', sourceRate: 8000, sourceChannels: 1, snrMin: 35, frame: frameOf(576, 8000) },
  { name: 'flac', ext: 'flac', make: ff('-c:a', 'flac'), format: 'flac', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: 1 },
  { name: 'ogg vorbis', ext: 'ogg', make: ff('-c:a', 'libvorbis', '-q:a', '4'), format: 'ogg/vorbis', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(2048, 44100) },
  { name: 'ogg opus', ext: 'opus', make: ff('-c:a', 'libopus', '-b:a', '48k'), format: 'ogg/opus', sourceRate: 48000, sourceChannels: 2, snrMin: 55, frame: 320, refIn: ['-c:a', 'libopus'] },
  { name: 'webm opus', ext: 'webm', make: ff('-c:a', 'libopus', '-b:a', '32k'), format: 'webm/opus', sourceRate: 48000, sourceChannels: 2, snrMin: 55, frame: 320, refIn: ['-c:a', 'libopus'] },
  { name: 'matroska vorbis', ext: 'mka', make: ff('-c:a', 'libvorbis'), format: 'matroska/vorbis', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(2048, 44100) },
  { name: 'm4a aac (moov at end)', ext: 'm4a', make: ff('-c:a', 'aac', '-b:a', '96k'), format: 'm4a/aac', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(1024, 44100) },
  { name: 'mp4 aac faststart', ext: 'mp4', make: ff('-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart'), format: 'mp4/aac', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(1024, 44100) },
  { name: 'aac adts', ext: 'aac', make: ff('-c:a', 'aac', '-b:a', '96k', '-f', 'adts'), format: 'aac', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(1024, 44100) },
  { name: 'aiff', ext: 'aiff', make: ff(), format: 'aiff/pcm_s16be', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: 1 },
  { name: 'au (Sun)', ext: 'au', make: ff('-c:a', 'pcm_mulaw', '-ar', '8000', '-ac', '1'), format: 'au/pcm_mulaw', sourceRate: 8000, sourceChannels: 1, snrMin: 38, frame: 1 },
  { name: 'caf (Core Audio)', ext: 'caf', make: ff('-c:a', 'pcm_s16le'), format: 'caf/pcm_s16le', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: 1 },
  { name: 'wma (ASF)', ext: 'wma', make: ff('-c:a', 'wmav2'), format: 'asf/wmav2', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: frameOf(2048, 44100) },
  { name: 'wavpack', ext: 'wv', make: ff('-c:a', 'wavpack'), format: 'wv/wavpack', sourceRate: 44100, sourceChannels: 2, snrMin: 55, frame: 1 },
  {
    name: 'mp4 video with an AAC track',
    ext: 'mp4',
    make: (s, o) => ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=5', '-i', s, '-map', '0:v', '-map', '1:a', '-shortest', '-c:v', 'mpeg4', '-c:a', 'aac', o]),
    format: 'mp4/aac',
    sourceRate: 44100,
    sourceChannels: 2,
    snrMin: 55,
    frame: frameOf(1024, 44100) + 3200,
  },
];

const RAW: { enc: RawEncoding; fmt: string; rate: number; snrMin: number }[] = [
  { enc: 'linear16', fmt: 's16le', rate: 8000, snrMin: 38 },
  { enc: 'linear16', fmt: 's16le', rate: 16000, snrMin: 200 },
  { enc: 'linear16', fmt: 's16le', rate: 44100, snrMin: 60 },
  { enc: 'linear32', fmt: 'f32le', rate: 48000, snrMin: 40 },
  { enc: 'mulaw', fmt: 'mulaw', rate: 8000, snrMin: 38 },
  { enc: 'alaw', fmt: 'alaw', rate: 8000, snrMin: 38 },
];

let dir = '';
const files = new Map<string, string>();

function check(name: string, d: DecodedAudio, ref: Float32Array, snrMin: number, frame: number): number {
  const snr = snrDb(d.pcm, ref);
  assert.equal(d.sampleRate, 16000);
  assert.ok(Math.abs(d.pcm.length - ref.length) <= frame, `${name}: length ${d.pcm.length} vs reference ${ref.length} (allowed ±${frame})`);
  assert.ok(snr >= snrMin, `${name}: SNR ${snr.toFixed(1)} dB < ${snrMin} dB`);
  assert.equal(d.duration, d.pcm.length / 16000);
  let peak = 0;
  for (const v of d.pcm) peak = Math.max(peak, Math.abs(v));
  assert.ok(peak <= 1 && peak > 0.05, `${name}: peak ${peak}`);
  return snr;
}

describe('decodeAudio: every format from one real clip vs reference decode', { skip }, () => {
  const results: string[] = [];
  before(() => {
    dir = tempDir('decode');
    VARIANTS.forEach((v, i) => {
      const out = path.join(dir, `v${i}.${v.ext}`);
      v.make(SOURCE_CLIP, out);
      files.set(v.name, out);
    });
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    console.log(`# SNR vs reference (dB):\n${results.map((r) => `#   ${r}`).join('\n')}`);
  });

  for (const v of VARIANTS) {
    test(v.name, async () => {
      const file = files.get(v.name)!;
      const d = await decodeAudio(fs.readFileSync(file));
      assert.equal(d.format, v.format);
      assert.equal(d.sourceSampleRate, v.sourceRate);
      assert.equal(d.sourceChannels, v.sourceChannels);
      const ref = referenceDecode(v.refVia ? v.refVia(file) : file, v.refIn);
      const snr = check(v.name, d, ref, v.snrMin, v.frame);
      results.push(`${v.format.padEnd(16)} ${v.name.padEnd(44)} ${snr === Infinity ? 'exact' : snr.toFixed(1)} (bound ${v.snrMin}), len ${d.pcm.length} vs ${ref.length}`);
    });
  }

  test('a Readable in odd-sized chunks decodes identically to the same bytes in memory', async () => {
    for (const name of ['wav pcm_s24le (EXTENSIBLE)', 'wav mu-law 8k', 'mp3 (ID3v2 + Xing)', 'm4a aac (moov at end)', 'ogg opus']) {
      const bytes = fs.readFileSync(files.get(name)!);
      const a = await decodeAudio(bytes);
      const b = await decodeAudio(fs.createReadStream(files.get(name)!, { highWaterMark: 999 }));
      assert.ok(identical(a.pcm, b.pcm), `${name}: stream and buffer decodes differ`);
    }
  });

  for (const r of RAW) {
    test(`raw headerless ${r.enc} at ${r.rate} Hz (encoding + sampleRate)`, async () => {
      const raw = path.join(dir, `raw-${r.enc}-${r.rate}.raw`);
      ffmpeg(['-i', SOURCE_CLIP, '-ac', '1', '-ar', String(r.rate), '-f', r.fmt, raw]);
      const d = await decodeAudio(fs.readFileSync(raw), { encoding: r.enc, sampleRate: r.rate });
      const ref = referenceDecode(raw, ['-f', r.fmt, '-ar', String(r.rate), '-ac', '1']);
      const snr = check(`raw ${r.enc}`, d, ref, r.snrMin, 1);
      results.push(`raw ${r.enc.padEnd(12)} ${String(r.rate).padEnd(44)} ${snr === Infinity ? 'exact' : snr.toFixed(1)} (bound ${r.snrMin})`);
    });
  }

  test('encoding/sampleRate are ignored when a container is detected', async () => {
    const d = await decodeAudio(fs.readFileSync(files.get('mp3 (ID3v2 + Xing)')!), { encoding: 'linear16', sampleRate: 8000 });
    assert.equal(d.format, 'mp3');
    assert.equal(d.sourceSampleRate, 44100);
  });

  test('raw ogg_opus body (Ogg detected) decodes', async () => {
    const d = await decodeAudio(fs.readFileSync(files.get('ogg opus')!), { encoding: 'ogg_opus', sampleRate: 48000 });
    assert.equal(d.format, 'ogg/opus');
    assert.ok(Math.abs(d.duration - 11) < 0.05);
  });

  test('telephony originals (8 kHz PCM, mu-law, a-law WAVs from ../shared) decode like ffmpeg', async () => {
    const tel = path.join(SPEECH_DIR, 'telephony_8k_en_asterisk', 'orig');
    for (const sub of ['pcm8k', 'ulaw', 'alaw']) {
      const f = path.join(tel, sub, 'agent-alreadyon.wav');
      const d = await decodeAudio(fs.readFileSync(f));
      assert.equal(d.sourceSampleRate, 8000);
      check(`telephony ${sub}`, d, referenceDecode(f), 33, 1);
    }
  });

  test('maxDurationSeconds stops early (in-process WAV and ffmpeg paths)', async () => {
    for (const name of ['wav pcm_s16le 44.1k stereo', 'flac']) {
      const file = files.get(name)!;
      await assert.rejects(decodeAudio(fs.readFileSync(file), { maxDurationSeconds: 5 }), (e: unknown) => e instanceof AudioDecodeError && e.code === 'too_long');
      // From a stream with unknown length the limit is hit while decoding.
      await assert.rejects(
        decodeAudio(fs.createReadStream(file), { maxDurationSeconds: 3 }),
        (e: unknown) => e instanceof AudioDecodeError && e.code === 'too_long' && /3 seconds/.test(e.message),
      );
      const ok = await decodeAudio(fs.readFileSync(file), { maxDurationSeconds: 12 });
      assert.ok(ok.duration > 10.9);
    }
  });
});

describe('decodeAudio: bad input gives a clear AudioDecodeError', () => {
  const isErr = (code: string, msg?: RegExp | string) => (e: unknown) => {
    assert.ok(e instanceof AudioDecodeError, `not an AudioDecodeError: ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (typeof msg === 'string') assert.equal(e.message, msg);
    else if (msg) assert.match(e.message, msg);
    return true;
  };

  test('empty body → empty', async () => {
    await assert.rejects(decodeAudio(new Uint8Array(0)), isErr('empty'));
    await assert.rejects(decodeAudio(Readable.from([])), isErr('empty'));
  });

  test('non-audio bodies → invalid_format with Pulse message', async () => {
    const bodies: [string, Uint8Array][] = [
      ['text', Buffer.from('hello, this is not audio')],
      ['json', Buffer.from('{"url": "https://example.com/a.wav"}')],
      ['html', Buffer.from('<!doctype html><html><body>x</body></html>')],
      ['png', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex')],
      ['pdf', Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n')],
      ['zip', Buffer.from('504b0304140000000800', 'hex')],
      ['one byte', new Uint8Array([0xff])],
      ['RIFF but not WAVE', Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('CDXAxxxxxxxxxxxxxxxxxxxx')])],
    ];
    for (const [name, b] of bodies) {
      await assert.rejects(decodeAudio(b), isErr('invalid_format', INVALID_FORMAT_MESSAGE), name);
    }
  });

  test('broken WAV headers → corrupt; a WAV without samples → empty', async () => {
    const hdr = (fmtSize: number, fmt: Buffer, data?: Buffer) =>
      Buffer.concat([
        Buffer.from('RIFF'),
        Buffer.from([0, 0, 0, 0]),
        Buffer.from('WAVEfmt '),
        Buffer.from(Uint32Array.of(fmtSize).buffer),
        fmt,
        ...(data ? [Buffer.from('data'), Buffer.from(Uint32Array.of(data.length).buffer), data] : []),
      ]);
    const fmt = (tag: number, ch: number, rate: number, align: number, bits: number) => {
      const b = Buffer.alloc(16);
      b.writeUInt16LE(tag, 0);
      b.writeUInt16LE(ch, 2);
      b.writeUInt32LE(rate, 4);
      b.writeUInt32LE(rate * align, 8);
      b.writeUInt16LE(align, 12);
      b.writeUInt16LE(bits, 14);
      return b;
    };
    await assert.rejects(decodeAudio(Buffer.from('RIFF\0\0\0\0WAVEfmt ')), isErr('corrupt', /WAV/));
    await assert.rejects(decodeAudio(hdr(16, fmt(1, 1, 16000, 2, 16))), isErr('corrupt', /no data chunk/));
    await assert.rejects(decodeAudio(hdr(16, fmt(1, 0, 16000, 2, 16), Buffer.alloc(100))), isErr('corrupt', /channel count 0/));
    await assert.rejects(decodeAudio(hdr(16, fmt(1, 1, 5, 2, 16), Buffer.alloc(100))), isErr('corrupt', /sample rate 5/));
    await assert.rejects(decodeAudio(hdr(16, fmt(1, 1, 16000, 0, 16), Buffer.alloc(100))), isErr('corrupt', /block align/));
    await assert.rejects(decodeAudio(hdr(4000000, fmt(1, 1, 16000, 2, 16))), isErr('corrupt', /fmt chunk size/));
    await assert.rejects(decodeAudio(hdr(16, fmt(1, 1, 16000, 2, 16), Buffer.alloc(0))), isErr('empty'));
    await assert.rejects(decodeAudio(hdr(16, fmt(1, 2, 16000, 4, 16), Buffer.alloc(3))), isErr('empty'));
    // Truncated data: what is there decodes, with a warning.
    const t = hdr(16, fmt(1, 1, 16000, 2, 16), Buffer.alloc(1000, 1)).subarray(0, 44 + 500);
    const d = await decodeAudio(t);
    assert.equal(d.pcm.length, 250);
    assert.match(d.warnings?.join(' ') ?? '', /truncated/);
  });

  test('raw bodies need a valid encoding and rate', async () => {
    const b = Buffer.alloc(3200);
    await assert.rejects(decodeAudio(b, { encoding: 'linear16' }), isErr('unsupported', /sample_rate/));
    await assert.rejects(decodeAudio(b, { encoding: 'linear16', sampleRate: 100 }), isErr('unsupported', /sample_rate/));
    await assert.rejects(decodeAudio(b, { encoding: 'opus', sampleRate: 48000 }), isErr('unsupported', /Ogg Opus/));
    await assert.rejects(decodeAudio(b, { encoding: 'ogg_opus', sampleRate: 48000 }), isErr('corrupt', /not an Ogg stream/));
    await assert.rejects(decodeAudio(b, { encoding: 'bogus' as RawEncoding, sampleRate: 16000 }), isErr('unsupported'));
    const ok = await decodeAudio(b, { encoding: 'linear16', sampleRate: 16000 });
    assert.equal(ok.pcm.length, 1600);
    assert.equal(ok.format, 'raw/pcm_s16le');
  });

  test('a corrupt container body → corrupt with ffmpeg’s reason', async () => {
    const junk = Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(5000, 7)]);
    await assert.rejects(decodeAudio(junk), isErr('corrupt', /flac/));
    const ogg = Buffer.concat([Buffer.from('OggS\0'), Buffer.alloc(3000, 0x41)]);
    await assert.rejects(decodeAudio(ogg), (e: unknown) => e instanceof AudioDecodeError && ['corrupt', 'empty'].includes(e.code));
  });

  test('a video without audio → invalid_format', async () => {
    const dir2 = tempDir('noaudio');
    try {
      const f = path.join(dir2, 'v.mp4');
      ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=5:duration=1', '-c:v', 'mpeg4', f]);
      await assert.rejects(decodeAudio(fs.readFileSync(f)), isErr('invalid_format', INVALID_FORMAT_MESSAGE));
    } finally {
      fs.rmSync(dir2, { recursive: true, force: true });
    }
  });

  test('missing ffmpeg → a server fault (code server, a 503), not a crash', async () => {
    const mp3ish = Buffer.concat([Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00'), Buffer.alloc(100)]);
    await assert.rejects(decodeAudio(mp3ish, { ffmpegPath: '/nonexistent/ffmpeg' }), isErr('server', /ffmpeg/));
  });

  test('a stalled upload times out (in-process and ffmpeg paths); abort stops decoding', async () => {
    const wavHead = Buffer.concat([Buffer.from('RIFF\xff\xff\xff\xffWAVEfmt ', 'latin1'), Buffer.from('1000000001000100803e0000007d0000020010006461746' + '1ffffffff', 'hex')]);
    for (const head of [wavHead, Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(100)])]) {
      const s = new Readable({ read() {} });
      s.push(head);
      const t0 = Date.now();
      await assert.rejects(decodeAudio(s, { stallTimeoutMs: 300 }), isErr('timeout'));
      assert.ok(Date.now() - t0 < 5000);
      s.destroy();
    }
    const s = new Readable({ read() {} });
    s.push(Buffer.concat([Buffer.from('OggS'), Buffer.alloc(200)]));
    const ac = new AbortController();
    const p = decodeAudio(s, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(p, isErr('aborted'));
    await assert.rejects(decodeAudio(Buffer.alloc(10), { signal: AbortSignal.abort() }), isErr('aborted'));
    const s2 = new Readable({ read() {} });
    s2.push(wavHead);
    await assert.rejects(decodeAudio(s2, { timeoutMs: 200 }), isErr('timeout', /longer than/));
  });
});
