// AudioWorklet: microphone float samples → 16 kHz mono linear16 frames, posted to the page.
//
// When the AudioContext already runs at the target rate (Chrome, Safari), samples are only
// converted. Otherwise (e.g. Firefox, which cannot mix a 16 kHz context with a 48 kHz mic) they go
// through a windowed-sinc low-pass resampler first, so speech is not aliased.

class SincResampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate;
    this.fc = Math.min(1, outRate / inRate) * 0.92; // cutoff, as a fraction of the input Nyquist
    this.half = Math.ceil(8 / this.fc); // taps on each side
    this.buf = new Float32Array(this.half * 2);
    this.len = this.half; // zero history before the first sample
    this.pos = this.half;
  }
  kernel(x) {
    const a = Math.PI * this.fc * x;
    const sinc = x === 0 ? 1 : Math.sin(a) / a;
    const r = x / this.half; // Blackman window over [-half, half]
    const w = 0.42 + 0.5 * Math.cos(Math.PI * r) + 0.08 * Math.cos(2 * Math.PI * r);
    return this.fc * sinc * w;
  }
  push(input, out) {
    if (this.len + input.length > this.buf.length) {
      const nb = new Float32Array(Math.max(this.buf.length * 2, this.len + input.length));
      nb.set(this.buf.subarray(0, this.len));
      this.buf = nb;
    }
    this.buf.set(input, this.len);
    this.len += input.length;
    while (this.pos + this.half < this.len) {
      const c = Math.floor(this.pos);
      let acc = 0;
      for (let k = c - this.half + 1; k <= c + this.half; k++) acc += this.buf[k] * this.kernel(this.pos - k);
      out(acc);
      this.pos += this.step;
    }
    const drop = Math.floor(this.pos) - this.half;
    if (drop > 0) {
      this.buf.copyWithin(0, drop, this.len);
      this.len -= drop;
      this.pos -= drop;
    }
  }
}

class Pcm16Writer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.target = o.targetRate || 16000;
    this.frame = new Int16Array(o.frameSamples || 1600);
    this.n = 0;
    this.sumSq = 0;
    // `sampleRate` is the AudioWorkletGlobalScope's context rate.
    this.resampler = sampleRate === this.target ? null : new SincResampler(sampleRate, this.target);
    this.write = (s) => {
      const v = s < -1 ? -1 : s > 1 ? 1 : s;
      this.frame[this.n++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      this.sumSq += v * v;
      if (this.n === this.frame.length) this.flush();
    };
    this.port.onmessage = (e) => {
      if (e.data === 'flush') {
        this.flush();
        this.port.postMessage({ flushed: true });
      }
    };
  }
  flush() {
    if (this.n === 0) return;
    const pcm = this.frame.slice(0, this.n).buffer;
    const rms = Math.sqrt(this.sumSq / this.n);
    this.n = 0;
    this.sumSq = 0;
    this.port.postMessage({ pcm, rms }, [pcm]);
  }
  process(inputs) {
    const chans = inputs[0];
    if (!chans || chans.length === 0) return true;
    let mono = chans[0];
    if (chans.length > 1) {
      mono = new Float32Array(mono.length);
      for (const ch of chans) for (let i = 0; i < ch.length; i++) mono[i] += ch[i] / chans.length;
    }
    if (this.resampler) this.resampler.push(mono, this.write);
    else for (let i = 0; i < mono.length; i++) this.write(mono[i]);
    return true;
  }
}

registerProcessor('pcm16-writer', Pcm16Writer);
