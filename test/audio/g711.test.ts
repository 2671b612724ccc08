/**
 * G.711 tables against two independent decoders (sox and ffmpeg) for all 256 codes, and the
 * stream/batch decoders built on them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ALAW_TO_S16, MULAW_TO_S16, createStreamDecoder, decodeAudio } from '../../src/audio/index.ts';
import { have, tempDir, ffmpeg } from './helpers.ts';

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);

function s16(buf: Buffer): Int16Array {
  const out = new Int16Array(buf.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = buf.readInt16LE(2 * i);
  return out;
}

function diffCodes(ours: Int16Array, theirs: Int16Array): string[] {
  const bad: string[] = [];
  for (let c = 0; c < 256; c++) if (ours[c] !== theirs[c]) bad.push(`code ${c}: ours ${ours[c]} theirs ${theirs[c]}`);
  return bad;
}

for (const law of ['mu-law', 'a-law'] as const) {
  const table = law === 'mu-law' ? MULAW_TO_S16 : ALAW_TO_S16;

  test(`G.711 ${law}: all 256 codes match sox`, { skip: have('sox') ? false : 'sox not installed' }, () => {
    const out = execFileSync('sox', ['-t', 'raw', '-e', law, '-b', '8', '-c', '1', '-r', '8000', '-', '-t', 'raw', '-e', 'signed', '-b', '16', '-L', '-'], {
      input: ALL_CODES,
    });
    assert.equal(out.length, 512);
    assert.deepEqual(diffCodes(table, s16(out)), []);
  });

  test(`G.711 ${law}: all 256 codes match ffmpeg`, { skip: have('ffmpeg') ? false : 'ffmpeg not installed' }, () => {
    const out = execFileSync('ffmpeg', ['-v', 'error', '-f', law === 'mu-law' ? 'mulaw' : 'alaw', '-ar', '8000', '-ac', '1', '-i', '-', '-f', 's16le', '-'], {
      input: ALL_CODES,
    });
    assert.equal(out.length, 512);
    assert.deepEqual(diffCodes(table, s16(out)), []);
  });
}

test('G.711 tables have the defining properties (sign symmetry, ranges, monotonic)', () => {
  // mu-law: code 0xFF/0x7F are ±0, 0x00 is the most negative (-32124), 0x80 the most positive.
  assert.equal(MULAW_TO_S16[0xff], 0);
  assert.equal(MULAW_TO_S16[0x00], -32124);
  assert.equal(MULAW_TO_S16[0x80], 32124);
  // A-law: even-bit inversion; 0xD5/0x55 are the smallest magnitudes ±8.
  assert.equal(ALAW_TO_S16[0xd5], 8);
  assert.equal(ALAW_TO_S16[0x55], -8);
  assert.equal(Math.max(...ALAW_TO_S16), 32256);
  for (let c = 0; c < 128; c++) {
    assert.ok(MULAW_TO_S16[c] + MULAW_TO_S16[c | 0x80] === 0, `mu-law symmetry at ${c}`);
    assert.ok(ALAW_TO_S16[c] + ALAW_TO_S16[c | 0x80] === 0, `A-law symmetry at ${c}`);
  }
  // Magnitude grows with the code within each sign half (mu-law codes count down, A-law after
  // removing the even-bit inversion counts up).
  for (let c = 1; c < 128; c++) {
    assert.ok(Math.abs(MULAW_TO_S16[0x80 | c]) < Math.abs(MULAW_TO_S16[0x80 | (c - 1)]), `mu-law order at ${c}`);
    assert.ok(Math.abs(ALAW_TO_S16[(c ^ 0x55) | 0x80]) > Math.abs(ALAW_TO_S16[((c - 1) ^ 0x55) | 0x80]), `A-law order at ${c}`);
  }
});

test('streaming alaw/mulaw at 16 kHz output exactly table/32768 per code', async () => {
  for (const enc of ['mulaw', 'alaw'] as const) {
    const d = createStreamDecoder(enc, 16000);
    await d.ready;
    const parts = [d.push(ALL_CODES.subarray(0, 100)), d.push(ALL_CODES.subarray(100)), d.flush()];
    const pcm = Float32Array.from(parts.flatMap((p) => [...p]));
    const table = enc === 'mulaw' ? MULAW_TO_S16 : ALAW_TO_S16;
    assert.equal(pcm.length, 256);
    for (let c = 0; c < 256; c++) assert.equal(pcm[c], Math.fround(table[c] / 32768), `${enc} code ${c}`);
  }
});

test('G.711 WAV files written by ffmpeg decode to the same values as the table', { skip: have('ffmpeg') ? false : 'ffmpeg not installed' }, async () => {
  const dir = tempDir('g711');
  try {
    for (const [codec, table] of [
      ['pcm_mulaw', MULAW_TO_S16],
      ['pcm_alaw', ALAW_TO_S16],
    ] as const) {
      const raw = path.join(dir, `${codec}.raw`);
      const wav = path.join(dir, `${codec}.wav`);
      fs.writeFileSync(raw, ALL_CODES);
      // 16 kHz so no resampling is involved: WAV header parsing + table lookup only.
      ffmpeg(['-f', codec === 'pcm_mulaw' ? 'mulaw' : 'alaw', '-ar', '16000', '-ac', '1', '-i', raw, '-c:a', 'copy', wav]);
      const d = await decodeAudio(fs.readFileSync(wav));
      assert.equal(d.format, `wav/${codec}`);
      assert.equal(d.pcm.length, 256);
      for (let c = 0; c < 256; c++) assert.equal(d.pcm[c], Math.fround(table[c] / 32768), `${codec} code ${c}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
