/**
 * The transcription service: the one entry both batch and real-time use.
 *
 *   batch:     service.transcribe(pcm, options)            → Transcript (engine + every stage)
 *   real time: const s = service.session(options, stream)  → s.pushAudio(pcm) as it arrives,
 *              s.final(ev) / s.partial(ev) for each engine event → Transcript of that piece
 *
 * A real-time session keeps stage state across finals (speaker labels, placeholder numbering)
 * and, when a planned stage needs audio, the recent PCM so a final's segment can be analysed.
 */
import type { Engine, EngineWord } from '../engines/types.ts';
import { ENGINE_SAMPLE_RATE } from '../engines/types.ts';
import type { Pipeline, Plan } from './pipeline.ts';
import { StageState, type AnalysisRunner, type AudioView, type Transcript, type TranscriptionOptions, type Warning } from './types.ts';

export interface TranscribeCall {
  signal?: AbortSignal;
}

/** The piece of a real-time session an engine event covers. */
export interface SegmentEvent {
  text: string;
  words: EngineWord[];
  start: number;
  end: number;
}

const SR = ENGINE_SAMPLE_RATE;

/**
 * The most recent `maxSeconds` of a session's audio, as one growing-then-sliding window. Times are
 * session seconds: sample i of the session is at i / 16000.
 */
export class SessionAudio {
  private buf: Float32Array;
  /** Session sample index of buf[0]. */
  private base = 0;
  private length = 0;
  constructor(private readonly maxSeconds: number) {
    this.buf = new Float32Array(SR * Math.min(maxSeconds, 10));
  }

  /** Session seconds of audio pushed so far. */
  get seconds(): number {
    return (this.base + this.length) / SR;
  }

  push(pcm: Float32Array): void {
    const max = Math.ceil(this.maxSeconds * SR);
    if (this.length + pcm.length > this.buf.length && this.buf.length < max) {
      const next = new Float32Array(Math.min(max, Math.max(this.buf.length * 2, this.length + pcm.length)));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    if (this.length + pcm.length > this.buf.length) {
      // Slide: keep the newest samples.
      const keep = Math.max(0, this.buf.length - pcm.length);
      const drop = this.length - keep;
      if (drop > 0) {
        this.buf.copyWithin(0, drop, this.length);
        this.base += drop;
        this.length = keep;
      }
      const src = pcm.length > this.buf.length ? pcm.subarray(pcm.length - this.buf.length) : pcm;
      this.base += pcm.length - src.length;
      this.buf.set(src, this.length);
      this.length += src.length;
      return;
    }
    this.buf.set(pcm, this.length);
    this.length += pcm.length;
  }

  /** A copy of [start, end) session seconds, clipped to what is kept. */
  slice(start: number, end: number): AudioView | undefined {
    const a = Math.max(this.base, Math.floor(start * SR));
    const b = Math.min(this.base + this.length, Math.ceil(end * SR));
    if (b <= a) return undefined;
    return { pcm: this.buf.slice(a - this.base, b - this.base), offset: a / SR, sampleRate: 16000 };
  }
}

export class TranscriptionService {
  constructor(
    readonly engine: Engine,
    readonly pipeline: Pipeline,
    readonly analysis: AnalysisRunner,
  ) {}

  /** Warnings for a request before any audio is processed (unservable options). */
  plan(options: TranscriptionOptions, mode: 'batch' | 'realtime'): Plan {
    const plan = this.pipeline.plan(options, { mode, engine: this.engine.info });
    const extra = engineWarnings(options, this.engine);
    return extra.length ? { ...plan, warnings: [...extra, ...plan.warnings] } : plan;
  }

  /** Recognize a whole buffer and run every stage over it. */
  async transcribe(pcm: Float32Array, options: TranscriptionOptions, call: TranscribeCall = {}): Promise<Transcript> {
    const plan = this.plan(options, 'batch');
    const result = await this.engine.recognize(pcm, {
      language: options.language,
      keywords: options.keywords.map((k) => `${k.phrase}:${k.intensity}`),
      signal: call.signal,
    });
    const t = await this.pipeline.run(
      { words: result.words, text: result.text, language: result.language, duration: result.duration, start: 0, end: result.duration },
      {
        mode: 'batch',
        partial: false,
        options,
        audio: { pcm, offset: 0, sampleRate: 16000 },
        state: new StageState(),
        analysis: this.analysis,
        engine: this.engine.info,
        signal: call.signal,
      },
      plan,
    );
    t.timings = { ...t.timings, recognition: result.decodeSeconds * 1000 };
    return t;
  }

  /** Stage state and audio for one real-time session. */
  session(options: TranscriptionOptions): TranscriptSession {
    return new TranscriptSession(this, options);
  }
}

export class TranscriptSession {
  readonly plan: Plan;
  readonly state = new StageState();
  private readonly audio?: SessionAudio;
  /** Options warnings are reported once, on the session's first final. */
  private pendingWarnings: Warning[];

  constructor(
    private readonly service: TranscriptionService,
    readonly options: TranscriptionOptions,
    /** Seconds of audio kept for audio stages (a final's segment must fit). */
    keepSeconds = 120,
  ) {
    this.plan = service.plan(options, 'realtime');
    this.pendingWarnings = this.plan.warnings;
    if (this.plan.stages.some((s) => s.needsAudio)) this.audio = new SessionAudio(keepSeconds);
  }

  /** Warnings that apply to the whole session (unservable options). */
  get warnings(): Warning[] {
    return this.plan.warnings;
  }

  /** Every PCM sample given to the engine, in order (kept only when an audio stage is planned). */
  pushAudio(pcm: Float32Array): void {
    this.audio?.push(pcm);
  }

  /** Run the stages over one final. Call in event order. */
  async final(ev: SegmentEvent, language: string): Promise<Transcript> {
    const plan = { stages: this.plan.stages, warnings: this.pendingWarnings };
    this.pendingWarnings = [];
    return this.service.pipeline.run(
      { words: ev.words, text: ev.text, language, duration: ev.end - ev.start, start: ev.start, end: ev.end },
      {
        mode: 'realtime',
        partial: false,
        options: this.options,
        audio: this.audio?.slice(ev.start, ev.end),
        state: this.state,
        analysis: this.service.analysis,
        engine: this.service.engine.info,
      },
      plan,
    );
  }

  /** Run the partial-safe stages (redaction) over an interim hypothesis. */
  async partial(ev: SegmentEvent, language: string): Promise<Transcript> {
    return this.service.pipeline.run(
      { words: ev.words, text: ev.text, language, duration: ev.end - ev.start, start: ev.start, end: ev.end },
      {
        mode: 'realtime',
        partial: true,
        options: this.options,
        state: this.state,
        analysis: this.service.analysis,
        engine: this.service.engine.info,
      },
      { stages: this.plan.stages, warnings: [] },
    );
  }
}

/** What the engine itself cannot serve of these options. */
function engineWarnings(options: TranscriptionOptions, engine: Engine): Warning[] {
  const w: Warning[] = [];
  if (options.keywords.length && engine.info.keywords !== true) {
    w.push({ option: 'keywords', message: `keyword boosting is not supported by the ${engine.info.name} engine; keywords were ignored` });
  }
  return w;
}
