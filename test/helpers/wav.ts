/** Build small WAV files in memory for protocol tests (real speech comes from ../shared). */
export function makeWav(samples: Float32Array, sampleRate = 16000, channels = 1): Buffer {
  const frames = samples.length / channels;
  const data = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < samples.length; i++) {
    data.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(samples[i] * 32767))), i * 2);
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** A quiet tone: valid audio that contains no speech. */
export function toneWav(seconds = 1, sampleRate = 16000, freq = 440, amp = 0.05): Buffer {
  const n = Math.round(seconds * sampleRate);
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) s[i] = amp * Math.sin((2 * Math.PI * freq * i) / sampleRate);
  return makeWav(s, sampleRate);
}
