/**
 * The page's AudioWorklet (src/server/web/pcm-worklet.js) run in Node with the worklet globals
 * stubbed: float → linear16 framing, and the fallback resampler used when a browser's context
 * cannot run at 16 kHz (it must keep speech-band tones and suppress what would alias).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../helpers/speech.ts';

const SRC = fs.readFileSync(path.join(REPO_ROOT, 'src', 'server', 'web', 'pcm-worklet.js'), 'utf8');

/** Instantiate the processor at a context rate; returns a feeder and the frames it posted. */
function load(contextRate: number, frameSamples = 1600) {
  const posted: { pcm: ArrayBuffer; rms: number }[] = [];
  let Proc: any;
  class AudioWorkletProcessor {
    port = { postMessage: (m: any) => posted.push(m), onmessage: null as any };
  }
  const ctx = vm.createContext({
    AudioWorkletProcessor,
    registerProcessor: (_name: string, cls: any) => (Proc = cls),
    sampleRate: contextRate,
    Float32Array,
    Int16Array,
    Math,
  });
  vm.runInContext(SRC, ctx);
  const p = new Proc({ processorOptions: { targetRate: 16000, frameSamples } });
  return {
    feed(samples: Float32Array, block = 128) {
      for (let i = 0; i < samples.length; i += block) assert.equal(p.process([[samples.subarray(i, i + block)]]), true);
    },
    flush() {
      p.port.onmessage({ data: 'flush' });
    },
    out(): Int16Array {
      const parts = posted.filter((m) => m.pcm).map((m) => new Int16Array(m.pcm));
      const all = new Int16Array(parts.reduce((a, b) => a + b.length, 0));
      let o = 0;
      for (const part of parts) all.set(part, o), (o += part.length);
      return all;
    },
    posted,
  };
}

const sine = (rate: number, freq: number, seconds: number, amp: number) =>
  Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate));

/** Amplitude of `freq` in s16 samples at 16 kHz (single-bin DFT over whole periods). */
function amplitude(x: Int16Array, freq: number, skip = 400): number {
  let re = 0;
  let im = 0;
  const n = x.length - skip * 2;
  for (let i = 0; i < n; i++) {
    const v = x[i + skip] / 32768;
    re += v * Math.cos((2 * Math.PI * freq * i) / 16000);
    im -= v * Math.sin((2 * Math.PI * freq * i) / 16000);
  }
  return (2 * Math.hypot(re, im)) / n;
}

describe('pcm worklet', () => {
  test('at 16 kHz: exact linear16 conversion in fixed frames, clipping at full scale', () => {
    const w = load(16000, 160);
    const x = Float32Array.from({ length: 480 }, (_, i) => (i % 3 === 0 ? 1.5 : i % 3 === 1 ? -0.5 : 0.25));
    w.feed(x);
    assert.equal(w.posted.length, 3, 'one message per 160-sample frame');
    const out = w.out();
    assert.equal(out.length, 480);
    assert.deepEqual([...out.subarray(0, 3)], [32767, -16384, Math.round(0.25 * 0x7fff - 0.5)]);
    w.feed(new Float32Array(50));
    w.flush();
    assert.equal(w.out().length, 530, 'flush sends the partial frame');
  });

  test('from 48 kHz: 1 kHz speech-band tone kept, 10 kHz (would alias to 6 kHz) suppressed ≥ 40 dB', () => {
    const keep = load(48000);
    keep.feed(sine(48000, 1000, 1, 0.5));
    const k = keep.out();
    assert.ok(Math.abs(k.length - 16000) <= 1600, `about 1 s at 16 kHz: ${k.length}`);
    const a1 = amplitude(k, 1000);
    assert.ok(Math.abs(a1 - 0.5) < 0.02, `1 kHz amplitude ${a1}`);

    const alias = load(48000);
    alias.feed(sine(48000, 10000, 1, 0.5));
    const y = alias.out();
    const a6 = amplitude(y, 6000);
    const db = 20 * Math.log10(a6 / 0.5);
    process.stderr.write(`# worklet resampler 48k→16k: 1 kHz gain ${(20 * Math.log10(a1 / 0.5)).toFixed(2)} dB, 10 kHz alias at ${db.toFixed(1)} dB\n`);
    assert.ok(db < -40, `aliased 6 kHz at ${db.toFixed(1)} dB`);
  });

  test('from 44.1 kHz (a non-integer ratio) the rate is right', () => {
    const w = load(44100);
    w.feed(sine(44100, 440, 2, 0.3));
    const out = w.out();
    assert.ok(Math.abs(out.length - 32000) <= 1600, `${out.length}`);
    assert.ok(Math.abs(amplitude(out, 440) - 0.3) < 0.02);
  });
});
