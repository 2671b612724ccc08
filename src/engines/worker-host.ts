/**
 * Worker-thread entry point, generic over `Backend` (see backend.ts). Loaded by pool.ts as
 * `new Worker(new URL('./worker-host.ts', import.meta.url))`; the backend module comes from
 * `workerData.backend.module` by dynamic import.
 *
 * Batch jobs: `backend.recognize()` per job (backends are expected to yield between slices so
 * streaming passes interleave; pocketsphinx does).
 *
 * Streaming: each session's audio and control messages (finalize/end) are queued in arrival
 * order. A pass takes up to `passSeconds` of pending audio from every session and decodes it:
 * with `backend.decodeReady()` once for all of them on a batching backend (sherpa-onnx), or session
 * by session on one with independent decoders (pocketsphinx), serving messages that arrived in
 * between so a finalize is answered after the decode in progress (decodeInterleaved). Then per
 * session: emits a `partial` when the
 * hypothesis text changed, tracks speech (Silero VAD via sherpa-onnx `Vad` when configured,
 * else the decoder's `inSpeech()` plus its word times) and ends the segment on endpoint
 * (trailing non-speech ≥ endpointSilenceMs after speech), max_words or max_length. Control
 * messages run once the audio queued before them has been decoded. One pass at a time, each
 * scheduled with setImmediate, so control messages and aborts are served between passes.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Backend, StreamingDecoder } from './backend.ts';
import type { EngineWord, FinalReason, RecognizeOptions, SpeechEvent } from './types.ts';
import { ENGINE_SAMPLE_RATE } from './types.ts';
import { concatFloat32, FrameSplitter } from '../util/pcm.ts';
import { trimNativeHeap } from '../util/native-heap.ts';
import type { MainToWorker, SessionOptions, WorkerInit, WorkerToMain, VadSettings } from './protocol.ts';

const SR = ENGINE_SAMPLE_RATE;
const VAD_WINDOW = 512; // Silero v4/v5 window at 16 kHz

if (!parentPort) throw new Error('worker-host.ts must run in a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;

function post(msg: WorkerToMain): void {
  port.postMessage(msg);
}

/** The subset of sherpa-onnx-node's `Vad` this file uses (the package ships no typings). */
interface SherpaVad {
  acceptWaveform(samples: Float32Array): void;
  isDetected(): boolean;
  isEmpty(): boolean;
  pop(): void;
  reset(): void;
}
type SherpaVadCtor = new (config: object, bufferSizeInSeconds: number) => SherpaVad;
let VadCtor: SherpaVadCtor | null = null;

function createVad(v: VadSettings): SherpaVad {
  if (!VadCtor) {
    // Loaded only when a VAD model is configured: onnxruntime is heavy.
    const require = createRequire(import.meta.url);
    VadCtor = (require('sherpa-onnx-node') as { Vad: SherpaVadCtor }).Vad;
  }
  return new VadCtor(
    {
      sileroVad: {
        model: v.model,
        threshold: v.threshold,
        minSpeechDuration: v.minSpeechSeconds,
        minSilenceDuration: v.minSilenceSeconds,
        windowSize: VAD_WINDOW,
        // We only read isDetected() and pop segments at once; keep sherpa's own splitting off.
        maxSpeechDuration: 1e6,
      },
      sampleRate: SR,
      numThreads: 1,
      debug: false,
    },
    // Segment buffer; we pop segments immediately, so this only has to hold one.
    30,
  );
}

/**
 * Silero VAD instances are reused across sessions. sherpa-onnx-node frees a `Vad` (and its
 * onnxruntime session, ~9 MB) only when V8 collects it, and a worker's small JS heap rarely
 * triggers that, so dropping them per session grew memory by ~9 MB per session. Pooled, memory
 * stays at the peak number of concurrent sessions.
 */
const idleVads: SherpaVad[] = [];
/**
 * Idle Silero VADs kept per worker (issue 15 item 11). Each holds an onnxruntime session
 * (~9 MB); 64 per worker kept up to ~1.2 GB for 2 workers after a burst of sessions. Beyond this
 * bound a released VAD is dropped and a GC is requested so sherpa-onnx-node frees it.
 * Set with COCHLEA_MAX_IDLE_VADS (config.ts → VadSettings.maxIdle, per worker).
 */

let gcFn: (() => void) | null | undefined;
/** Ask V8 for a full GC (frees dropped sherpa-onnx objects, whose native memory is tied to GC). */
function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = vm.runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}

let trimTimer: NodeJS.Timeout | null = null;
let droppedSinceTrim = false;
/** After sessions close: once the worker has been quiet for a moment, GC (if objects were dropped) and trim. */
function scheduleMemoryReturn(): void {
  if (trimTimer) trimTimer.refresh();
  else {
    trimTimer = setTimeout(() => {
      trimTimer = null;
      if (droppedSinceTrim) collectGarbage();
      droppedSinceTrim = false;
      trimNativeHeap(); // a no-op where glibc is not the allocator
    }, 1000);
    trimTimer.unref();
  }
}

function acquireVad(v: VadSettings): SherpaVad {
  return idleVads.pop() ?? createVad(v);
}

function releaseVad(vad: SherpaVad): void {
  if (idleVads.length >= (init.vad?.maxIdle ?? 8)) {
    droppedSinceTrim = true;
    return;
  }
  vad.reset();
  idleVads.push(vad);
}

type Item = { kind: 'audio'; pcm: Float32Array; off: number } | { kind: 'finalize' } | { kind: 'end' };

interface Session {
  id: string;
  opts: SessionOptions;
  decoder: StreamingDecoder;
  vad: SherpaVad | null;
  /** Silero windows of the session's audio (a partial window carries over between passes). */
  vadFrames: FrameSplitter;
  /** Samples since the session start that the VAD has seen. */
  vadPos: number;
  items: Item[];
  /** Absolute sample where the current segment starts. */
  segStart: number;
  segSamples: number;
  consumed: number;
  lastText: string;
  speech: boolean;
  hadSpeech: boolean;
  silenceSamples: number;
  segDecodeSeconds: number;
}

let backend: Backend;
const sessions = new Map<string, Session>();
const jobs = new Map<number, AbortController>();
let passScheduled = false;

async function start(): Promise<void> {
  const mod = (await import(init.backend.module)) as { createBackend?: (config: unknown) => Backend };
  if (typeof mod.createBackend !== 'function') {
    throw new Error(`backend module ${init.backend.module} does not export createBackend()`);
  }
  backend = mod.createBackend(init.backend.config);
  await backend.init();
  if (init.vad) idleVads.push(createVad(init.vad)); // fail fast on a bad model path
}

const ready = start().then(
  () => {
    post({ t: 'ready', info: backend.info });
    return true;
  },
  (err: unknown) => {
    post({ t: 'init_error', message: errMessage(err) });
    return false;
  },
);

port.on('message', dispatch);

function dispatch(msg: MainToWorker): void {
  if (msg.t === 'shutdown') {
    void ready.then(shutdown);
    return;
  }
  void ready.then((ok) => {
    if (ok) handle(msg);
    else if (msg.t === 'recognize') post({ t: 'error', id: msg.id, message: 'engine failed to start', code: 'backend_error' });
  });
}

/**
 * Orderly exit: free decoders and the backend, then end the thread. Worker.terminate() could
 * interrupt a native call (e.g. a Vad being constructed), which node-addon-api turns into an
 * uncaught C++ exception that aborts the whole process.
 */
function shutdown(): void {
  for (const s of [...sessions.values()]) closeSession(s);
  for (const ac of jobs.values()) ac.abort();
  try {
    backend?.dispose();
  } catch {
    /* exiting anyway */
  }
  idleVads.length = 0;
  process.exit(0);
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
function errCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown })?.code;
  return typeof c === 'string' ? c : undefined;
}

function handle(msg: MainToWorker): void {
  switch (msg.t) {
    case 'recognize':
      void runJob(msg.id, msg.pcm, msg.options);
      return;
    case 'cancel':
      jobs.get(msg.id)?.abort();
      return;
    case 'open':
      openSession(msg.sid, msg.options);
      return;
    case 'audio': {
      const s = sessions.get(msg.sid);
      if (s && msg.pcm.length > 0) {
        s.items.push({ kind: 'audio', pcm: msg.pcm, off: 0 });
        schedulePass();
      }
      return;
    }
    case 'finalize':
    case 'end': {
      const s = sessions.get(msg.sid);
      if (s) {
        s.items.push({ kind: msg.t });
        schedulePass();
      }
      return;
    }
    case 'abort': {
      const s = sessions.get(msg.sid);
      if (s) closeSession(s);
      return;
    }
    case 'stats': {
      const m = process.memoryUsage();
      const bs = (backend as { stats?: () => Record<string, number> }).stats?.();
      post({ t: 'stats', id: msg.id, stats: { sessions: sessions.size, backend: bs, rss: m.rss, heapUsed: m.heapUsed } });
      return;
    }
  }
}

async function runJob(id: number, pcm: Float32Array, options: Omit<RecognizeOptions, 'signal'>): Promise<void> {
  const ac = new AbortController();
  jobs.set(id, ac);
  try {
    const result = await backend.recognize(pcm, { ...options, signal: ac.signal });
    if (!ac.signal.aborted) post({ t: 'result', id, result });
  } catch (err) {
    post({ t: 'error', id, message: errMessage(err), code: errCode(err) ?? 'backend_error' });
  } finally {
    jobs.delete(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Streaming sessions

function openSession(sid: string, opts: SessionOptions): void {
  let decoder: StreamingDecoder;
  try {
    decoder = backend.createDecoder({ language: opts.language, keywords: opts.keywords });
  } catch (err) {
    post({ t: 'event', sid, event: { type: 'error', message: errMessage(err), code: errCode(err) } });
    post({ t: 'closed', sid });
    return;
  }
  let vad: SherpaVad | null = null;
  if (init.vad) {
    try {
      vad = acquireVad(init.vad);
    } catch (err) {
      decoder.free();
      post({ t: 'event', sid, event: { type: 'error', message: `VAD: ${errMessage(err)}`, code: 'backend_error' } });
      post({ t: 'closed', sid });
      return;
    }
  }
  sessions.set(sid, {
    id: sid,
    opts,
    decoder,
    vad,
    vadFrames: new FrameSplitter(VAD_WINDOW),
    vadPos: 0,
    items: [],
    segStart: 0,
    segSamples: 0,
    consumed: 0,
    lastText: '',
    speech: false,
    hadSpeech: false,
    silenceSamples: 0,
    segDecodeSeconds: 0,
  });
}

function closeSession(s: Session): void {
  if (!sessions.delete(s.id)) return;
  s.items = [];
  try {
    s.decoder.free();
  } catch {
    /* already broken; nothing more to free */
  }
  if (s.vad) releaseVad(s.vad);
  s.vad = null;
  post({ t: 'closed', sid: s.id });
  scheduleMemoryReturn();
}

function emit(s: Session, event: SpeechEvent): void {
  post({ t: 'event', sid: s.id, event });
}

function failSession(s: Session, err: unknown): void {
  emit(s, { type: 'error', message: errMessage(err), code: errCode(err) ?? 'backend_error' });
  closeSession(s);
}

function schedulePass(): void {
  if (passScheduled) return;
  passScheduled = true;
  setImmediate(pass);
}

/** Take up to `max` samples of queued audio (stops at a control item). */
function takeAudio(s: Session, max: number): Float32Array | null {
  const parts: Float32Array[] = [];
  let n = 0;
  while (n < max && s.items.length > 0) {
    const it = s.items[0];
    if (it.kind !== 'audio') break;
    const take = Math.min(max - n, it.pcm.length - it.off);
    parts.push(it.pcm.subarray(it.off, it.off + take));
    n += take;
    it.off += take;
    if (it.off >= it.pcm.length) s.items.shift();
  }
  return n === 0 ? null : concatFloat32(parts, n);
}

/** Run finalize/end items at the head of the queue. Returns false if the session closed. */
function runControls(s: Session): boolean {
  while (controlAtHead(s)) {
    const it = s.items.shift()!;
    if (it.kind === 'finalize') {
      if (!endSegment(s, 'finalize', true, false)) return false;
    } else {
      if (s.speech && s.opts.vadEvents) emit(s, { type: 'speech_ended', timestamp: round3((s.segStart + s.segSamples) / SR) });
      s.speech = false;
      if (!endSegment(s, 'end_of_stream', false, true)) return false;
      closeSession(s);
      return false;
    }
  }
  return true;
}

/**
 * Take up to `max` samples of a session's queued audio (never past its segment's length limit),
 * run the VAD over it and hand it to the decoder. Returns the samples fed (0: nothing queued
 * before a control item), or null if the session failed.
 */
function feed(s: Session, max: number): number | null {
  // Never take audio past the segment's length limit, so max_length cuts at its exact sample.
  const room = Math.ceil(s.opts.maxSegmentSeconds * SR) - s.segSamples;
  let pcm = takeAudio(s, room > 0 ? Math.min(max, room) : max);
  if (!pcm) return 0;
  if (s.vad) {
    // VAD before decoding, so an endpoint cuts the segment at the window where the trailing
    // silence reached eou_timeout_ms: the rest of this pass's audio goes back to the queue
    // for the next segment instead of being decoded into this one (a word starting just
    // after the pause would otherwise be split across the two finals).
    const used = runVad(s, pcm);
    if (used < pcm.length) {
      s.items.unshift({ kind: 'audio', pcm: pcm.subarray(used), off: 0 });
      pcm = pcm.subarray(0, used);
    }
  }
  try {
    s.decoder.accept(pcm);
    return pcm.length;
  } catch (err) {
    failSession(s, err);
    return null;
  }
}

function pass(): void {
  passScheduled = false;
  const maxSamples = Math.max(VAD_WINDOW, Math.round(init.passSeconds * SR));
  const fed: Fed[] = [];
  for (const s of [...sessions.values()]) {
    if (!runControls(s)) continue;
    const n = feed(s, maxSamples);
    if (n === null) continue;
    // No new audio, but a re-decode to work off: decode with nothing new.
    if (n > 0 || s.decoder.hasBacklog?.()) fed.push({ s, n });
  }
  if (backend.independentDecoders) {
    decodeInterleaved(fed, maxSamples);
  } else {
    // Sessions whose finalize/end waits right behind this pass's audio go first, and their final
    // is sent before the other sessions' audio is decoded: a finalize then waits for its own
    // session's decoding only, not for every session of the worker.
    const urgent = fed.filter((f) => controlAtHead(f.s));
    if (urgent.length > 0 && urgent.length < fed.length) {
      decodeGroup(urgent);
      for (const { s } of urgent) if (sessions.has(s.id)) runControls(s);
      decodeGroup(fed.filter((f) => !urgent.includes(f)));
    } else {
      decodeGroup(fed);
    }
  }
  let more = false;
  for (const s of [...sessions.values()]) {
    if (!runControls(s)) continue;
    if (s.items.length > 0 || s.decoder.hasBacklog?.()) more = true;
  }
  if (more) schedulePass();
}

interface Fed {
  s: Session;
  /** Samples handed to the decoder for this pass. */
  n: number;
}

/** True when a finalize/end is next in the session's queue (no audio before it). */
function controlAtHead(s: Session): boolean {
  return s.items.length > 0 && s.items[0].kind !== 'audio';
}

/** True when a finalize/end waits in the session's queue (behind audio or not). */
function controlQueued(s: Session): boolean {
  return s.items.some((it) => it.kind !== 'audio');
}

/**
 * One pass's decoding for a backend whose decoders are independent (pocketsphinx: one decoder per
 * session, nothing batched across them): session by session, and between two sessions the
 * messages that arrived meanwhile are taken off the port (receiveMessageOnPort), so a `finalize`
 * sent while the pass runs is served after the decode in progress, not after the whole pass (at 4
 * streams a worker's pass is 2-4x one session's, and a finalize arriving mid-pass used to wait for
 * all of it and then for the next pass's scheduling). A session with a finalize/end queued is
 * decoded next, in pass-sized steps, with its audio up to that control (at most four steps: a
 * client that sent a long stretch at once is worked off in turns with the others), its final
 * emitted, then the pass goes on.
 */
function decodeInterleaved(fed: Fed[], maxSamples: number): void {
  const queue = new Map(fed.map((f) => [f.s, f.n]));
  const flushed = new Set<Session>();
  for (;;) {
    pollMessages();
    for (const s of [...sessions.values()]) {
      if (flushed.has(s) || !controlQueued(s)) continue;
      flushed.add(s);
      let n = queue.get(s) ?? 0;
      queue.delete(s);
      // In pass-sized steps (max_words is checked per decode, as in a pass), at most 4 of them.
      for (let step = 0; step < 4; step++) {
        if (n > 0 || s.decoder.hasBacklog?.()) decodeGroup([{ s, n }]);
        if (!sessions.has(s.id) || !runControls(s) || !controlQueued(s) || step === 3) break;
        const more = feed(s, maxSamples);
        if (more === null) break;
        n = more;
      }
    }
    const next = queue.entries().next();
    if (next.done) return;
    const [s, n] = next.value;
    queue.delete(s);
    if (sessions.has(s.id)) decodeGroup([{ s, n }]);
  }
}

/**
 * Serve the messages that reached the port while a pass runs. Streaming messages (audio,
 * finalize, end, open, abort) are handled at once, in order; batch jobs, stats and shutdown are
 * deferred to after the pass (setImmediate, in their arrival order) so no recognition starts
 * inside it.
 */
function pollMessages(): void {
  for (;;) {
    const r = receiveMessageOnPort(port);
    if (!r) return;
    const msg = r.message as MainToWorker;
    if (msg.t === 'recognize' || msg.t === 'cancel' || msg.t === 'stats' || msg.t === 'shutdown') setImmediate(() => dispatch(msg));
    else handle(msg);
  }
}

/** Decode one group of a pass (one backend.decodeReady call), then each session's events. */
function decodeGroup(fed: Fed[]): void {
  if (fed.length === 0) return;
  const t0 = performance.now();
  try {
    backend.decodeReady(fed.map((f) => f.s.decoder));
  } catch {
    // Find the culprit(s): decode one by one (decoders that already ran have nothing left).
    for (const f of fed) {
      try {
        backend.decodeReady([f.s.decoder]);
      } catch (err) {
        failSession(f.s, err);
      }
    }
  }
  const share = (performance.now() - t0) / 1000 / fed.length;
  for (const { s, n } of fed) {
    if (!sessions.has(s.id)) continue;
    s.segDecodeSeconds += share;
    try {
      afterDecode(s, n);
    } catch (err) {
      failSession(s, err);
    }
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function absWords(words: EngineWord[], offsetSamples: number): EngineWord[] {
  const off = offsetSamples / SR;
  return words.map((w) => ({ ...w, start: round3(w.start + off), end: round3(w.end + off) }));
}

function afterDecode(s: Session, n: number): void {
  s.segSamples += n;
  s.consumed += n;
  post({ t: 'progress', sid: s.id, consumed: s.consumed });

  const hyp = s.decoder.hypothesis();
  if (!s.vad) trackSpeechFromDecoder(s, hyp.words); // (with a VAD, pass() ran it before decoding)

  if (hyp.text !== s.lastText) {
    s.lastText = hyp.text;
    if (hyp.text !== '') {
      const words = absWords(hyp.words, s.segStart);
      emit(s, {
        type: 'partial',
        text: hyp.text,
        words,
        start: words.length ? words[0].start : round3(s.segStart / SR),
        end: words.length ? words[words.length - 1].end : round3((s.segStart + s.segSamples) / SR),
      });
    }
  }

  const o = s.opts;
  if (o.maxWords > 0 && hyp.words.length >= o.maxWords) {
    endSegment(s, 'max_words', false, false);
  } else if (endpointReached(s)) {
    endSegment(s, 'endpoint', false, false);
  } else if (s.segSamples >= o.maxSegmentSeconds * SR) {
    endSegment(s, 'max_length', false, false);
  } else if (!s.hadSpeech && !s.speech && hyp.words.length === 0 && s.segSamples >= init.idleResetSeconds * SR) {
    // Nothing but non-speech so far: restart the segment to keep decoder state small.
    endSegment(s, 'endpoint', false, false);
  }
}

/** Speech state from the recognizer: inSpeech() plus the end time of its last word. */
function trackSpeechFromDecoder(s: Session, words: EngineWord[]): void {
  const inSpeech = s.decoder.inSpeech ? s.decoder.inSpeech() : true;
  const lastEnd = words.length ? Math.round(words[words.length - 1].end * SR) : 0;
  if (inSpeech) {
    s.hadSpeech = true;
    s.silenceSamples = 0;
    if (!s.speech) {
      s.speech = true;
      if (s.opts.vadEvents) {
        const startSample = words.length ? Math.round(words[words.length - 1].start * SR) : 0;
        emit(s, { type: 'speech_started', timestamp: round3((s.segStart + startSample) / SR) });
      }
    }
  } else {
    if (s.speech) {
      s.speech = false;
      if (s.opts.vadEvents) emit(s, { type: 'speech_ended', timestamp: round3((s.segStart + lastEnd) / SR) });
    }
    if (s.hadSpeech) s.silenceSamples = Math.max(0, s.segSamples - lastEnd);
  }
}

/** Trailing non-speech after speech has reached the session's end-of-utterance timeout. */
function endpointReached(s: Session): boolean {
  return s.hadSpeech && !s.speech && s.silenceSamples >= (s.opts.endpointSilenceMs / 1000) * SR;
}

/**
 * Speech state from Silero, window by window, with sherpa's hysteresis compensated in timestamps.
 * Returns how many samples of `pcm` it consumed: all of them, or up to the end of the window at
 * which the endpoint was reached (the caller queues the rest again; no partial window is left).
 */
function runVad(s: Session, pcm: Float32Array): number {
  const v = init.vad!;
  const vad = s.vad!;
  return s.vadFrames.push(pcm, (frame) => {
    vad.acceptWaveform(frame.slice());
    s.vadPos += VAD_WINDOW;
    const detected = vad.isDetected();
    while (!vad.isEmpty()) vad.pop(); // we do not use its buffered segments; free them
    if (detected) {
      s.hadSpeech = true;
      s.silenceSamples = 0;
      if (!s.speech) {
        s.speech = true;
        if (s.opts.vadEvents) {
          const t = Math.max(0, s.vadPos - VAD_WINDOW - v.minSpeechSeconds * SR);
          emit(s, { type: 'speech_started', timestamp: round3(t / SR) });
        }
      }
    } else if (s.speech) {
      s.speech = false;
      s.silenceSamples = v.minSilenceSeconds * SR;
      if (s.opts.vadEvents) {
        const t = Math.max(0, s.vadPos - v.minSilenceSeconds * SR);
        emit(s, { type: 'speech_ended', timestamp: round3(t / SR) });
      }
    } else if (s.hadSpeech) {
      s.silenceSamples += VAD_WINDOW;
    }
    return !endpointReached(s);
  });
}

/** Close the current segment and emit its final. Returns false if the session failed. */
function endSegment(s: Session, reason: FinalReason, fromFinalize: boolean, isLast: boolean): boolean {
  const t0 = performance.now();
  let hyp;
  try {
    hyp = s.decoder.endSegment();
  } catch (err) {
    failSession(s, err);
    return false;
  }
  const decodeSeconds = s.segDecodeSeconds + (performance.now() - t0) / 1000;
  const words = absWords(hyp.words, s.segStart);
  const segEnd = s.segStart + s.segSamples;
  if (hyp.text !== '' || fromFinalize || isLast) {
    emit(s, {
      type: 'final',
      text: hyp.text,
      words,
      start: words.length ? words[0].start : round3(s.segStart / SR),
      end: words.length ? words[words.length - 1].end : round3(segEnd / SR),
      reason,
      fromFinalize,
      isLast,
      decodeSeconds: round3(decodeSeconds),
    });
  }
  s.segStart = segEnd;
  s.segSamples = 0;
  s.segDecodeSeconds = 0;
  s.lastText = '';
  s.hadSpeech = s.speech;
  s.silenceSamples = 0;
  return true;
}
