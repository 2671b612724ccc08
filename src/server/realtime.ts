/**
 * Real-time transcription over WebSocket with Pulse's protocol.
 *
 * Params and auth are checked before the upgrade (HTTP 400/401 in Pulse's shape). Binary frames
 * are decoded incrementally to 16 kHz PCM and pushed to an engine stream; engine events are mapped
 * to Pulse's JSON events. Decoding happens in the engine's worker threads, never here.
 *
 * Flow control: when a session has more undecoded audio queued than `highWaterSeconds`, the
 * socket is paused so TCP back-pressure slows the sender (nothing is dropped); a session whose
 * queue still exceeds `maxBufferedSeconds` gets an error event and is closed.
 */
import crypto from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Config } from '../config.ts';
import type { Engine, EngineWord, SpeechEvent, SpeechStream } from '../engines/types.ts';
import { eventReceivedAt } from '../engines/index.ts';
import { AudioDecodeError, createStreamDecoder } from '../audio/index.ts';
import type { StreamDecoder } from '../audio/types.ts';
import { splitUtterances } from '../pipeline/index.ts';
import { parseRealtimeQuery, type RealtimeOptions } from './params.ts';
import { resolveLanguage } from './languages.ts';
import { acquireSessionSlot } from '../jobs/limits.ts';

export const REALTIME_PATHS = ['/waves/v1/pulse/get_text', '/api/v1/pulse/get_text', '/waves/v1/stt/live'] as const;

/** WebSocket close codes used here. */
export const CLOSE = { normal: 1000, goingAway: 1001, invalidData: 1007, policy: 1008, internal: 1011 } as const;

interface Opts {
  config: Config;
  engine: Engine;
  registry: SessionRegistry;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Live WebSocket sessions and the server's own real-time timings. */
    liveSessions: SessionRegistry;
  }
  interface FastifyRequest {
    realtime?: RealtimeOptions & { resolvedLanguage: string };
  }
}

/** The most recent `capacity` numbers, in a fixed ring (O(1) per sample, no growth). */
class RecentSamples {
  private readonly buf: Float64Array;
  private size = 0;
  private next = 0;
  constructor(capacity: number) {
    this.buf = new Float64Array(capacity);
  }

  push(x: number): void {
    this.buf[this.next] = x;
    this.next = (this.next + 1) % this.buf.length;
    if (this.size < this.buf.length) this.size++;
  }

  /** Oldest first. */
  values(): number[] {
    const start = (this.next - this.size + this.buf.length) % this.buf.length;
    return Array.from({ length: this.size }, (_, i) => this.buf[(start + i) % this.buf.length]);
  }

  clear(): void {
    this.size = 0;
    this.next = 0;
  }
}

/**
 * What the server itself spends on the real-time path, in ms on the main thread: `ingress` from a
 * client frame (audio or finalize) to the engine having it, `egress` from an engine event reaching
 * the main thread to its JSON being written to the socket (waiting for the event loop included).
 * The most recent `capacity` samples of each are kept, for benchmarks and diagnostics.
 */
export class RealtimeTimings {
  private readonly samples: Record<'ingress' | 'egress', RecentSamples>;
  constructor(capacity = 100_000) {
    this.samples = { ingress: new RecentSamples(capacity), egress: new RecentSamples(capacity) };
  }

  add(kind: 'ingress' | 'egress', ms: number): void {
    this.samples[kind].push(ms);
  }

  /** Kept ingress samples, oldest first (a copy). */
  get ingress(): number[] {
    return this.samples.ingress.values();
  }

  /** Kept egress samples, oldest first (a copy). */
  get egress(): number[] {
    return this.samples.egress.values();
  }

  clear(): void {
    this.samples.ingress.clear();
    this.samples.egress.clear();
  }
}

/** All live sessions, so shutdown can drain them and limits can be enforced. */
export class SessionRegistry {
  readonly sessions = new Set<LiveSession>();
  readonly timings = new RealtimeTimings();
  draining = false;

  /** Finalize every session (is_last), close them 1001, resolve when all are gone or on timeout. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const all = [...this.sessions].map((s) => s.shutdown(timeoutMs));
    await Promise.allSettled(all);
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function wordsJson(words: EngineWord[]) {
  return words.map((w) => ({ word: w.word, start: round3(w.start), end: round3(w.end), confidence: Math.round(w.confidence * 10000) / 10000 }));
}

export class LiveSession {
  readonly id = crypto.randomUUID();
  private readonly decoder: StreamDecoder;
  private readonly stream: SpeechStream;
  private readonly finals: string[] = [];
  private ended = false; // close_stream/end received (or forced)
  private closed = false;
  private paused = false;
  private lastAudioAt = Date.now();
  private readonly startedAt = Date.now();
  private readonly timer: NodeJS.Timeout;
  private lastLive: Promise<void>;
  private closeCode: number = CLOSE.normal;
  private closeReason = '';

  constructor(
    private readonly socket: WebSocket,
    private readonly opts: RealtimeOptions & { resolvedLanguage: string },
    engine: Engine,
    private readonly config: Config,
    private readonly registry: SessionRegistry,
    private readonly log: FastifyRequest['log'],
  ) {
    this.decoder = createStreamDecoder(opts.encoding, opts.sampleRate);
    this.stream = engine.stream({
      language: opts.resolvedLanguage,
      keywords: opts.keywords,
      // endpointing=false: no automatic finals; only finalize, close, max_words and max length.
      endpointSilenceMs: opts.endpointing ? opts.eouTimeoutMs : Number.POSITIVE_INFINITY,
      maxWords: opts.maxWords,
      vadEvents: opts.vadEvents,
    });
    registry.sessions.add(this);
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer | Buffer[] | ArrayBuffer, isBinary));
    socket.on('close', () => this.onSocketClose());
    socket.on('error', (err) => this.log.warn({ err, session: this.id }, 'websocket error'));
    this.timer = setInterval(() => this.tick(), 250);
    this.timer.unref();
    this.lastLive = this.pump();
  }

  private send(obj: Record<string, unknown>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(obj));
  }

  private sendError(message: string): void {
    this.send({ type: 'error', status: 'error', session_id: this.id, message });
  }

  private base(): Record<string, unknown> {
    const b: Record<string, unknown> = { session_id: this.id };
    if (this.opts.externalSessionId) b.external_session_id = this.opts.externalSessionId;
    return b;
  }

  private format(ev: SpeechEvent): Record<string, unknown> | undefined {
    switch (ev.type) {
      case 'partial':
      case 'final': {
        const isFinal = ev.type === 'final';
        const o: Record<string, unknown> = {
          type: 'transcription',
          status: 'success',
          ...this.base(),
          transcript: ev.text,
          is_final: isFinal,
          is_last: isFinal ? ev.isLast : false,
          language: this.opts.resolvedLanguage,
          start: round3(ev.start),
          end: round3(ev.end),
        };
        if (this.opts.wordTimestamps) o.words = wordsJson(ev.words);
        if (isFinal) {
          if (ev.fromFinalize) o.from_finalize = true;
          if (ev.text) this.finals.push(ev.text);
          if (this.opts.fullTranscript) o.full_transcript = this.finals.join(' ');
          if (this.opts.sentenceTimestamps) {
            o.utterances = splitUtterances(ev.words, {
              gapSeconds: this.config.pipeline.utteranceGapSeconds,
              maxSeconds: this.config.pipeline.maxUtteranceSeconds,
            }).map((u) => ({ text: u.text, start: round3(u.start), end: round3(u.end) }));
          }
        }
        return o;
      }
      case 'speech_started':
      case 'speech_ended':
        return this.opts.vadEvents ? { type: ev.type, ...this.base(), timestamp: round3(ev.timestamp) } : undefined;
      case 'error':
        return { type: 'error', status: 'error', ...this.base(), message: ev.message };
    }
  }

  /** Forward engine events to the client until the stream ends. */
  private async pump(): Promise<void> {
    try {
      for await (const ev of this.stream) {
        const msg = this.format(ev);
        if (msg) {
          this.send(msg);
          const at = eventReceivedAt(ev);
          if (at !== undefined) this.registry.timings.add('egress', performance.now() - at);
        }
        if (ev.type === 'final' && ev.isLast) break;
      }
    } catch (err) {
      this.log.error({ err, session: this.id }, 'engine stream failed');
      this.sendError('Internal error while transcribing; the session is closed');
      this.closeCode = CLOSE.internal;
    }
    this.finish(this.closeCode, this.closeReason);
  }

  private onMessage(data: Buffer | Buffer[] | ArrayBuffer, isBinary: boolean): void {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) return this.onAudio(buf);
    let msg: { type?: unknown } | undefined;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      msg = undefined;
    }
    const type = msg && typeof msg === 'object' ? msg.type : undefined;
    if (type === 'finalize') {
      // The audio decoder is not flushed here: it stays usable for the audio that follows. What
      // it may hold back is at most a split sample or a few ms of resampler delay, which comes
      // out with the next frame (or the flush at close_stream).
      if (!this.ended) {
        const t0 = performance.now();
        this.stream.finalize();
        this.registry.timings.add('ingress', performance.now() - t0);
      }
    } else if (type === 'close_stream' || type === 'end') {
      this.end();
    } else {
      this.sendError(
        'Unrecognised text message: send audio as binary frames, or {"type":"finalize"} / {"type":"close_stream"} as text',
      );
    }
  }

  private onAudio(buf: Buffer): void {
    if (this.ended) {
      this.sendError('Audio received after close_stream was ignored');
      return;
    }
    if (buf.length > this.config.limits.maxFrameBytes) {
      this.sendError(`Audio frame of ${buf.length} bytes exceeds the maximum of ${this.config.limits.maxFrameBytes} bytes and was not processed`);
      return;
    }
    this.lastAudioAt = Date.now();
    const t0 = performance.now();
    let pcm: Float32Array;
    try {
      pcm = this.decoder.push(buf);
    } catch (err) {
      const msg = err instanceof AudioDecodeError ? err.message : 'audio could not be decoded';
      this.sendError(`Audio does not match encoding=${this.opts.encoding} at sample_rate=${this.opts.sampleRate}: ${msg}`);
      return;
    }
    if (pcm.length) this.stream.pushAudio(pcm);
    this.registry.timings.add('ingress', performance.now() - t0);
    this.applyBackPressure();
  }

  private flushDecoder(): void {
    try {
      const tail = this.decoder.flush();
      if (tail.length) this.stream.pushAudio(tail);
    } catch (err) {
      this.sendError(`Audio stream ended mid-frame: ${(err as Error).message}`);
    }
  }

  private applyBackPressure(): void {
    const pending = this.stream.pendingSeconds;
    const high = Math.min(10, this.config.limits.maxBufferedSeconds / 2);
    if (pending > this.config.limits.maxBufferedSeconds) {
      this.sendError(
        `Too much audio queued (${pending.toFixed(1)} s, limit ${this.config.limits.maxBufferedSeconds} s): the session is closed. Send audio closer to real time.`,
      );
      this.abort(CLOSE.policy, 'buffer limit exceeded');
      return;
    }
    if (!this.paused && pending > high) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Periodic: resume a paused socket, enforce idle and session-length limits. */
  private tick(): void {
    if (this.paused && this.stream.pendingSeconds < Math.min(10, this.config.limits.maxBufferedSeconds / 2) / 2) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.ended) return;
    const now = Date.now();
    if (now - this.lastAudioAt > this.config.limits.sessionIdleMs) {
      this.sendError(`No audio received for ${Math.round(this.config.limits.sessionIdleMs / 1000)} s; closing the session`);
      this.end(CLOSE.normal, 'idle timeout');
    } else if (now - this.startedAt > this.config.limits.maxSessionSeconds * 1000) {
      this.sendError(`Session reached the maximum length of ${this.config.limits.maxSessionSeconds} s; closing`);
      this.end(CLOSE.normal, 'maximum session length');
    }
  }

  /** Flush and emit the last final; the pump closes the socket after it. */
  end(code: number = CLOSE.normal, reason = ''): void {
    if (this.ended) return;
    this.ended = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.flushDecoder();
    this.stream.end();
  }

  private abort(code: number, reason: string): void {
    this.ended = true;
    this.stream.abort();
    this.finish(code, reason);
  }

  async shutdown(timeoutMs: number): Promise<void> {
    this.end(CLOSE.goingAway, 'server shutting down');
    const t = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([this.lastLive, t]);
    this.finish(CLOSE.goingAway, 'server shutting down');
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.registry.sessions.delete(this);
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) this.socket.close(code, reason);
  }

  /** The client went away: stop decoding and free everything. */
  private onSocketClose(): void {
    if (!this.closed) {
      this.stream.abort();
      this.closed = true;
      clearInterval(this.timer);
      this.registry.sessions.delete(this);
    }
  }
}

export const realtimeRoutes: FastifyPluginAsync<Opts> = async (app, { config, engine, registry }) => {
  for (const path of REALTIME_PATHS) {
    const wordTimestampsDefault = path !== '/waves/v1/stt/live';
    app.route({
      method: 'GET',
      url: path,
      // Validate before the upgrade so bad params get an HTTP 400 in Pulse's shape.
      preValidation: async (req) => {
        const opts = parseRealtimeQuery(req.query, wordTimestampsDefault);
        req.realtime = { ...opts, resolvedLanguage: resolveLanguage(opts.language, engine.info) };
        // Session limits per key and in total (cluster-wide with Redis): src/jobs/limits.ts.
        await acquireSessionSlot(app.jobs.sessions, req);
      },
      handler: async (_req, reply) => {
        reply.code(426).header('upgrade', 'websocket').send({ status: 'error', message: 'This endpoint expects a WebSocket upgrade', errors: [] });
      },
      wsHandler: (socket, req) => {
        if (registry.draining) {
          socket.close(CLOSE.goingAway, 'server shutting down');
          return;
        }
        if (registry.sessions.size >= config.limits.maxSessions) {
          socket.close(CLOSE.policy, `Too many concurrent sessions (limit ${config.limits.maxSessions})`);
          return;
        }
        if (req.sessionSlot && !req.sessionSlot.ok) {
          socket.close(CLOSE.policy, req.sessionSlot.reason);
          return;
        }
        try {
          new LiveSession(socket, req.realtime!, engine, config, registry, req.log);
        } catch (err) {
          req.log.error({ err }, 'could not start session');
          socket.send(JSON.stringify({ type: 'error', status: 'error', message: (err as Error).message }));
          socket.close(CLOSE.internal, 'could not start session');
        }
      },
    });
  }
};
