/**
 * The resampler is band-limited (not linear interpolation): tones inside the 16 kHz pass band
 * keep their level, tones above the new Nyquist (8 kHz) are removed instead of aliasing, and
 * streaming across chunk boundaries is seamless and exact in length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamResampler, outputLength } from '../../src/audio/resampler.ts';
import { concatF32, identical, randomChunks, rng } from './helpers.ts';

function tone(freq: number, rate: number, seconds: number, amp = 0.5): Float32Array {
  const n = Math.round(rate * seconds);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin((2 * Math.PI * freq * i) / rate);
  return x;
}

function resampleAll(x: Float32Array, rate: number, chunks?: number[]): Float32Array {
  const rs = new StreamResampler(rate);
  const out: Float32Array[] = [];
  if (!chunks) out.push(rs.process(x));
  else {
    let i = 0;
    for (const n of chunks) {
      out.push(rs.process(x.subarray(i, i + n)));
      i += n;
    }
  }
  out.push(rs.flush());
  return concatF32(out);
}

/** RMS over the middle (skip filter edges). */
function rms(x: Float32Array): number {
  const a = Math.floor(x.length * 0.2);
  const b = Math.floor(x.length * 0.8);
  let s = 0;
  for (let i = a; i < b; i++) s += x[i] * x[i];
  return Math.sqrt(s / (b - a));
}

/** Amplitude of the component at `freq` in `x` (16 kHz), by correlation. */
function amplitudeAt(x: Float32Array, freq: number): number {
  const a = Math.floor(x.length * 0.2);
  const b = Math.floor(x.length * 0.8);
  let re = 0;
  let im = 0;
  for (let i = a; i < b; i++) {
    re += x[i] * Math.cos((2 * Math.PI * freq * i) / 16000);
    im += x[i] * Math.sin((2 * Math.PI * freq * i) / 16000);
  }
  return (2 * Math.hypot(re, im)) / (b - a);
}

const db = (r: number) => 20 * Math.log10(r);

test('pass band: 1–7 kHz tones keep their level (±0.5 dB) from 22.05/44.1/48/96 kHz', () => {
  for (const rate of [22050, 44100, 48000, 96000]) {
    for (const f of [1000, 3000, 5000, 7000]) {
      const y = resampleAll(tone(f, rate, 1), rate);
      const gain = db(amplitudeAt(y, f) / 0.5);
      assert.ok(Math.abs(gain) < 0.5, `${f} Hz from ${rate}: gain ${gain.toFixed(2)} dB`);
    }
  }
});

test('stop band: tones above 8 kHz are removed, not aliased (linear interpolation would alias them)', () => {
  for (const rate of [22050, 44100, 48000]) {
    for (const f of [9000, 10000, 12000, 15000].filter((f) => f < rate / 2)) {
      const y = resampleAll(tone(f, rate, 1), rate);
      // Whatever is left anywhere in the output (including the alias frequency) is tiny.
      const level = db(rms(y) / (0.5 / Math.SQRT2));
      assert.ok(level < -60, `${f} Hz from ${rate}: residual ${level.toFixed(1)} dB`);
    }
  }
  // Contrast: naive linear interpolation aliases a 12 kHz tone at 44.1 kHz strongly.
  const x = tone(12000, 44100, 1);
  const lin = new Float32Array(16000);
  for (let i = 0; i < lin.length; i++) {
    const p = (i * 44100) / 16000;
    const k = Math.floor(p);
    lin[i] = x[k] + (x[Math.min(k + 1, x.length - 1)] - x[k]) * (p - k);
  }
  assert.ok(db(rms(lin) / (0.5 / Math.SQRT2)) > -20, 'linear interpolation aliases (sanity check of the metric)');
});

test('upsampling 8 kHz → 16 kHz adds no images above 4 kHz', () => {
  const y = resampleAll(tone(3000, 8000, 1), 8000);
  assert.ok(Math.abs(db(amplitudeAt(y, 3000) / 0.5)) < 0.5);
  // The image of 3 kHz at 8 kHz − 3 kHz... = 5 kHz must be suppressed.
  assert.ok(db(amplitudeAt(y, 5000) / 0.5) < -60, `image ${db(amplitudeAt(y, 5000) / 0.5).toFixed(1)} dB`);
});

test('chunk boundaries: any chunking gives bit-identical output of exact length, no clicks', () => {
  const rand = rng(7);
  for (const rate of [8000, 11025, 22050, 44100, 48000]) {
    const x = tone(440, rate, 2.3);
    const whole = resampleAll(x, rate);
    assert.equal(whole.length, outputLength(x.length, rate));
    for (const max of [1, 17, 999, 30000]) {
      const sizes = randomChunks(new Uint8Array(x.length), rand, max).map((c) => c.length);
      const y = resampleAll(x, rate, sizes);
      assert.ok(identical(whole, y), `rate ${rate}, chunks ≤ ${max}`);
    }
    // A 440 Hz sine at amplitude 0.5 changes by at most 2π·440/16000·0.5 ≈ 0.087 per sample
    // (away from the abrupt start/end of the test tone, where the filter rings).
    let maxStep = 0;
    for (let i = 1600; i < whole.length - 1600; i++) maxStep = Math.max(maxStep, Math.abs(whole[i] - whole[i - 1]));
    assert.ok(maxStep < 0.09, `max step ${maxStep}`);
  }
});

test('time alignment: output is not delayed (filter latency compensated)', () => {
  // An impulse at input sample k lands at output sample k·16000/rate.
  for (const rate of [8000, 44100, 48000]) {
    const x = new Float32Array(rate);
    const k = Math.round(rate * 0.5);
    x[k] = 1;
    const y = resampleAll(x, rate);
    let arg = 0;
    for (let i = 1; i < y.length; i++) if (Math.abs(y[i]) > Math.abs(y[arg])) arg = i;
    assert.ok(Math.abs(arg - (k * 16000) / rate) <= 1, `rate ${rate}: peak at ${arg}, expected ${(k * 16000) / rate}`);
  }
});
