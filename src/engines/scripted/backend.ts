/**
 * The scripted engine: a real `Backend` (it runs in the worker threads like every other engine and
 * goes through the same session, endpointing and event code) whose "recognition" is energy
 * detection. Every burst of sound becomes the next word of a script, with the burst's true start
 * and end times. Tests of the protocol, SDK, CLI and pages use it: it decodes ~1000x faster than
 * real time, is exactly predictable, and still exercises timing, partials, finals and flow control.
 *
 * It is selectable like any engine (`COCHLEA_ENGINE=scripted`), but answers every request with
 * script words, never a transcript of the speech: it is a test double, not a recognizer.
 *
 * Config (`COCHLEA_SCRIPTED_CONFIG` or `backendConfig`):
 *   words      the script (cycled), default "one two three ... ten"
 *   threshold  RMS (0..1) of a 10 ms frame that counts as sound, default 0.02
 *   minGapSeconds  silence shorter than this inside a burst does not split it, default 0.06
 *   decodeDelayMs  busy-wait per decode call, to simulate a slower recognizer, default 0
 *   crashOnWord    when the script reaches this word (batch or streaming), the worker thread dies
 *                  the way a native recognizer can take it down: `crashMode` 'exit' (default)
 *                  calls process.exit(70) in the thread, like a library calling exit(); 'throw'
 *                  raises an uncaught error outside any handler, like a failing native callback.
 *                  Both go through the pool's normal worker-death path. Outside a worker thread
 *                  it throws an ordinary Error instead of taking the test process down.
 */
import type { Backend, Hypothesis, StreamingDecoder, StreamingDecoderOptions } from '../backend.ts';
import type { EngineInfo, EngineWord, RecognitionResult, RecognizeOptions } from '../types.ts';
import { ENGINE_SAMPLE_RATE } from '../types.ts';
import { isMainThread } from 'node:worker_threads';

export interface ScriptedConfig {
  words?: string[];
  threshold?: number;
  minGapSeconds?: number;
  decodeDelayMs?: number;
  crashOnWord?: string;
  crashMode?: 'exit' | 'throw';
}

const SR = ENGINE_SAMPLE_RATE;
const FRAME = SR / 100; // 10 ms

export const DEFAULT_SCRIPT = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

interface Burst {
  start: number;
  end: number;
}

/** Bursts of sound in `pcm` (seconds from its start). An open burst at the end has `open`. */
export function findBursts(pcm: Float32Array, threshold: number, minGapSeconds: number): (Burst & { open: boolean })[] {
  const out: (Burst & { open: boolean })[] = [];
  const minGapFrames = Math.max(1, Math.round(minGapSeconds * 100));
  let cur: Burst | undefined;
  let silent = 0;
  const frames = Math.floor(pcm.length / FRAME);
  for (let f = 0; f < frames; f++) {
    let s = 0;
    for (let i = f * FRAME; i < (f + 1) * FRAME; i++) s += pcm[i] * pcm[i];
    const loud = Math.sqrt(s / FRAME) >= threshold;
    if (loud) {
      if (!cur) cur = { start: f / 100, end: (f + 1) / 100 };
      else cur.end = (f + 1) / 100;
      silent = 0;
    } else if (cur) {
      silent++;
      if (silent >= minGapFrames) {
        out.push({ ...cur, open: false });
        cur = undefined;
      }
    }
  }
  if (cur) out.push({ ...cur, open: silent < minGapFrames });
  return out;
}

/**
 * If `words` reach the configured crash word (see crashOnWord), take the worker thread down and
 * return true: the caller then produces nothing for this work, as a crashed native call would not.
 */
function maybeCrash(cfg: Required<ScriptedConfig>, words: { word: string }[]): boolean {
  if (!cfg.crashOnWord || !words.some((w) => w.word === cfg.crashOnWord)) return false;
  const message = `scripted engine reached crash word "${cfg.crashOnWord}"`;
  if (isMainThread) throw new Error(message);
  if (cfg.crashMode === 'exit') process.exit(70);
  // An uncaught error on the thread's own stack, outside the worker host's handlers.
  setImmediate(() => {
    throw new Error(message);
  });
  return true;
}

function busyWait(ms: number): void {
  if (ms <= 0) return;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    /* simulate decoder CPU */
  }
}

class ScriptedDecoder implements StreamingDecoder {
  private chunks: Float32Array[] = [];
  private samples = 0;
  private hyp: Hypothesis = { text: '', words: [] };
  private dirty = false;

  constructor(
    private readonly backend: ScriptedBackend,
    private readonly script: Script,
  ) {}

  accept(pcm: Float32Array): void {
    this.chunks.push(pcm.slice());
    this.samples += pcm.length;
    this.dirty = true;
  }

  private audio(): Float32Array {
    if (this.chunks.length > 1) {
      const all = new Float32Array(this.samples);
      let o = 0;
      for (const c of this.chunks) {
        all.set(c, o);
        o += c.length;
      }
      this.chunks = [all];
    }
    return this.chunks[0] ?? new Float32Array(0);
  }

  decode(): void {
    if (!this.dirty) return;
    this.dirty = false;
    busyWait(this.backend.cfg.decodeDelayMs);
    const bursts = findBursts(this.audio(), this.backend.cfg.threshold, this.backend.cfg.minGapSeconds);
    const words = bursts.map((b, i) => ({ word: this.script.peek(i), start: b.start, end: b.end, confidence: 0.9 }));
    if (maybeCrash(this.backend.cfg, words)) return;
    this.hyp = { text: words.map((w) => w.word).join(' '), words };
  }

  hypothesis(): Hypothesis {
    return this.hyp;
  }

  /** In speech while the last burst is still open. */
  inSpeech(): boolean {
    const b = findBursts(this.audio(), this.backend.cfg.threshold, this.backend.cfg.minGapSeconds);
    return b.length > 0 && b[b.length - 1].open;
  }

  endSegment(): Hypothesis {
    this.dirty = true;
    this.decode();
    const h = this.hyp;
    this.script.advance(h.words.length);
    this.chunks = [];
    this.samples = 0;
    this.hyp = { text: '', words: [] };
    return h;
  }

  free(): void {
    this.chunks = [];
  }
}

/** A cursor into the cycled script words. */
class Script {
  private pos = 0;
  constructor(private readonly words: string[]) {}
  peek(i: number): string {
    return this.words[(this.pos + i) % this.words.length];
  }
  advance(n: number): void {
    this.pos += n;
  }
}

export class ScriptedBackend implements Backend {
  readonly cfg: Required<ScriptedConfig>;
  readonly info: EngineInfo = { name: 'scripted', languages: ['en'], streaming: true, wordTimestamps: true, wordConfidence: false, keywords: false };

  constructor(config: ScriptedConfig = {}) {
    this.cfg = {
      words: config.words?.length ? config.words : DEFAULT_SCRIPT,
      threshold: config.threshold ?? 0.02,
      minGapSeconds: config.minGapSeconds ?? 0.06,
      decodeDelayMs: config.decodeDelayMs ?? 0,
      crashOnWord: config.crashOnWord ?? '',
      crashMode: config.crashMode ?? 'exit',
    };
    if (this.cfg.crashMode !== 'exit' && this.cfg.crashMode !== 'throw') throw new Error(`scripted: crashMode must be "exit" or "throw"`);
  }

  async init(): Promise<void> {}

  recognize(pcm: Float32Array, options: RecognizeOptions): RecognitionResult | Promise<RecognitionResult> {
    const t0 = performance.now();
    busyWait(this.cfg.decodeDelayMs);
    const script = new Script(this.cfg.words);
    const words: EngineWord[] = findBursts(pcm, this.cfg.threshold, this.cfg.minGapSeconds).map((b, i) => ({
      word: script.peek(i),
      start: b.start,
      end: b.end,
      confidence: 0.9,
    }));
    if (maybeCrash(this.cfg, words)) return new Promise<RecognitionResult>(() => {}); // never answered: the thread dies
    const text = words.map((w) => w.word).join(' ');
    return {
      text,
      words,
      segments: words.length ? [{ text, start: words[0].start, end: words[words.length - 1].end, words }] : [],
      language: options.language && options.language !== 'multi' ? options.language : 'en',
      duration: pcm.length / SR,
      decodeSeconds: (performance.now() - t0) / 1000,
    };
  }

  createDecoder(_options: StreamingDecoderOptions): StreamingDecoder {
    return new ScriptedDecoder(this, new Script(this.cfg.words));
  }

  /** Each decoder decodes on its own: the worker may serve messages between them. */
  readonly independentDecoders = true;

  decodeReady(decoders: StreamingDecoder[]): void {
    for (const d of decoders) (d as ScriptedDecoder).decode();
  }

  dispose(): void {}
}

export function createBackend(config: unknown): Backend {
  return new ScriptedBackend((config ?? {}) as ScriptedConfig);
}
