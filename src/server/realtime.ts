/**
 * Real-time transcription over WebSocket with Pulse's protocol.
 *
 * Params and auth are checked before the upgrade (HTTP 400/401 in the path's error shape). Binary
 * frames are decoded incrementally to 16 kHz PCM (main thread, cheap) and pushed both to an engine
 * stream (recognition in the engine's worker threads) and to the session's `TranscriptSession`
 * (audio stages). Every engine event runs through the pipeline in order (`session.final()` /
 * `session.partial()`) and is formatted by pulse-format.ts.
 *
 * Client messages are handled strictly in order: binary audio; `{"type":"finalize"}` (covers every
 * byte received before it: it waits for the audio decoder to be initialised and drains what it
 * held); `close_stream` / `end`; `keepalive` (answered with `{"type":"pong"}`, resets the idle
 * timer); any other JSON is ignored with a debug log; non-JSON text gets an error event.
 * A client close frame is answered only after pending audio is flushed and the last final
 * (is_last) is sent, within `limits.closeFlushMs`.
 *
 * Idle: only audio resets the idle timer (`limits.sessionIdleMs`): a frame that decodes to at least
 * one sample, or a keepalive (Pulse documents keepalive as the way to hold a quiet session open).
 * Empty frames, partial frames and ignored control messages do not.
 *
 * Abuse: invalid messages (non-JSON text, frames over `maxFrameBytes`, audio the decoder refuses,
 * audio after the end) are answered with one error event per kind; further ones are not answered,
 * and once more than `wsErrorBudget` invalid messages followed the first the session is closed
 * 1008. Replies a client does not read are bounded too: a socket with more than
 * `wsMaxBufferedBytes` queued for sending is closed 1008 (and dropped if it does not take the close).
 *
 * Flow control: when a session has more undecoded audio queued than `highWaterSeconds`, the
 * socket is paused so TCP back-pressure slows the sender (nothing is dropped); a session whose
 * queue still exceeds `maxBufferedSeconds` gets an error event and is closed.
 *
 * Shutdown (`SessionRegistry.drain`): new upgrades are refused (503, socket closed: see
 * `refuseUpgradesWhile`); live sessions go on decoding what their clients send until their client
 * goes quiet for `DRAIN_QUIET_MS`, their next final (a natural boundary), or the drain deadline minus
 * the time reserved to flush; then they are flushed, get their last final (is_last) and close 1001.
 */
import crypto from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Config } from '../config.ts';
import type { SpeechEvent, SpeechStream } from '../engines/types.ts';
import { AudioDecodeError, createStreamDecoder } from '../audio/index.ts';
import type { StreamDecoder } from '../audio/types.ts';
import type { TranscriptionService, TranscriptSession } from '../pipeline/service.ts';
import type { Warning } from '../pipeline/types.ts';
import { parseRealtimeQuery, type RealtimeRequest } from './params.ts';
import { resolveLanguage, type ResolvedLanguage } from './languages.ts';
import { formatErrorEvent, formatTranscriptionEvent, formatVadEvent, type EventContext } from './pulse-format.ts';
import { reportDecodeError } from './metrics.ts';
import { acquireSessionSlot } from '../jobs/limits.ts';
import { errorBody } from './errors.ts';

export const REALTIME_PATHS = ['/waves/v1/pulse/get_text', '/api/v1/pulse/get_text', '/waves/v1/stt/live'] as const;

/** WebSocket close codes used here. */
export const CLOSE = { normal: 1000, goingAway: 1001, invalidData: 1007, policy: 1008, internal: 1011 } as const;

/** During a shutdown drain, a session whose client sent no audio for this long is ended (ms). */
export const DRAIN_QUIET_MS = 1000;

/** Time a client gets to answer the server's close frame (or to take some of its unread data) before its connection is dropped (ms). */
export const CLOSE_HANDSHAKE_MS = 1000;

/** Kinds of invalid client message; each kind is answered with one error event per session. */
type BadKind = 'text' | 'frame_size' | 'decode' | 'after_end';

interface Opts {
  config: Config;
  service: TranscriptionService;
  registry: SessionRegistry;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Live WebSocket sessions and the server's own real-time timings. */
    liveSessions: SessionRegistry;
  }
  interface FastifyRequest {
    realtime?: { request: RealtimeRequest; language: ResolvedLanguage };
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
 * client frame (audio or finalize) to the engine having it, `egress` from the session taking an
 * engine event off the stream to its JSON being written to the socket (pipeline stages included).
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

  /**
   * Shutdown: from now on no new session starts; every live session keeps decoding what its client
   * sends until it ends (see `LiveSession.shutdown`), gets its last final (is_last) and is closed
   * 1001. Resolves when all are gone, at the latest after `timeoutMs`.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    const all = [...this.sessions].map((s) => s.shutdown(timeoutMs));
    await Promise.allSettled(all);
  }
}

/** Audio or a control message from the client, or a request to end; processed strictly in order. */
type Input = { kind: 'message'; buf: Buffer; isBinary: boolean } | { kind: 'end'; code: number; reason: string };

export class LiveSession {
  readonly id = crypto.randomUUID();
  private readonly decoder: StreamDecoder;
  private readonly stream: SpeechStream;
  private readonly transcripts: TranscriptSession;
  private readonly ctx: EventContext;
  /** The language finals report (what the engine serves for the requested code). */
  private readonly language: string;
  /** Session-wide warnings of this layer (language routing), sent with the first final. */
  private extraWarnings: Warning[];
  private readonly finals: string[] = [];
  private ended = false; // close_stream/end received (or forced)
  private closed = false;
  private paused = false;
  /** Last audio (a frame that decoded to samples) or keepalive: what the idle timeout measures. */
  private lastAudioAt = Date.now();
  /** Last frame that decoded to samples (keepalives aside): what a drain waits on. */
  private lastSamplesAt = Date.now();
  /** Invalid client messages so far, and the kinds already answered with an error event. */
  private badMessages = 0;
  private readonly answered = new Set<BadKind>();
  /** Server shutdown: the time after which the session is ended even if its client still streams. */
  private drainDeadline: number | null = null;
  private terminateTimer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private readonly timer: NodeJS.Timeout;
  private lastLive: Promise<void>;
  private closeCode: number = CLOSE.normal;
  private closeReason = '';
  /** Input held while a finalize/close waits for the decoder (keeps order). */
  private held: Input[] | null = null;
  private clientClosing = false;
  /** An end (close_stream, close frame, idle, shutdown) is queued or done: later ones are no-ops. */
  private endRequested = false;
  /** The end came from the client (close_stream/end or its close frame). */
  private endRequestedByClient = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly request: RealtimeRequest,
    resolved: ResolvedLanguage,
    service: TranscriptionService,
    private readonly config: Config,
    private readonly registry: SessionRegistry,
    private readonly log: FastifyRequest['log'],
  ) {
    const options = { ...request.options, language: resolved.engine };
    this.language = resolved.engine === 'multi' ? (service.engine.info.languages.find((l) => l !== 'multi') ?? 'en') : resolved.engine;
    this.extraWarnings = resolved.warning ? [resolved.warning] : [];
    this.ctx = { sessionId: this.id, externalSessionId: request.externalSessionId, options };
    this.decoder = createStreamDecoder(request.encoding, request.sampleRate, { maxPushSeconds: config.limits.maxFrameSeconds });
    this.transcripts = service.session(options);
    this.stream = service.engine.stream({
      language: resolved.engine,
      keywords: options.keywords.map((k) => `${k.phrase}:${k.intensity}`),
      // endpointing=false: no automatic finals; only finalize, close, max_words and max length.
      endpointSilenceMs: request.endpointing ? request.eouTimeoutMs : Number.POSITIVE_INFINITY,
      maxWords: request.maxWords,
      vadEvents: request.vadEvents,
    });
    registry.sessions.add(this);
    this.interceptClientClose();
    socket.on('message', (data, isBinary) => this.onMessage(data as Buffer | Buffer[] | ArrayBuffer, isBinary));
    socket.on('close', () => this.onSocketClose());
    socket.on('error', (err) => this.log.warn({ err, session: this.id }, 'websocket error'));
    this.timer = setInterval(() => this.tick(), 250);
    this.timer.unref();
    this.lastLive = this.pump();
  }

  /**
   * A client's close frame normally gets ws's close reply at once, which would lose the segment
   * still being decoded. Here the reply waits (at most `closeFlushMs`) until pending audio is
   * flushed and the last final (is_last) is sent: what a client that sends finalize and then
   * closes (Pulse's documented sequence) needs.
   */
  private interceptClientClose(): void {
    const sock = this.socket as WebSocket & { _closeFrameReceived?: boolean };
    const close = sock.close.bind(sock);
    sock.close = (code?: number, reason?: string | Buffer) => {
      if (sock._closeFrameReceived && !this.closed && !this.clientClosing) {
        this.clientClosing = true;
        this.endRequestedByClient = true;
        const bound = setTimeout(() => this.finish(code ?? CLOSE.normal, 'closed before the last final was ready'), this.config.limits.closeFlushMs);
        bound.unref();
        this.lastLive.finally(() => clearTimeout(bound));
        this.enqueue({ kind: 'end', code: code ?? CLOSE.normal, reason: '' });
        return;
      }
      if (this.clientClosing && !this.closed) return; // ws's own reply while we flush; finish() closes
      close(code, reason as string);
    };
    this.closeSocket = close;
  }

  private closeSocket: (code?: number, reason?: string) => void = () => {};

  /**
   * Every reply goes through here. A client that does not read its replies would make them pile
   * up in this process (ws queues whatever the kernel will not take): past `wsMaxBufferedBytes`
   * the session is closed 1008 instead.
   */
  private send(obj: object): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (this.socket.bufferedAmount > this.config.limits.wsMaxBufferedBytes) return this.notReading();
    this.socket.send(JSON.stringify(obj));
  }

  private notReading(): void {
    if (this.closed) return;
    const bound = this.config.limits.wsMaxBufferedBytes;
    this.log.warn({ session: this.id, bufferedBytes: this.socket.bufferedAmount, bound }, 'client does not read its replies; session closed');
    this.abort(CLOSE.policy, `client not reading: over ${bound} bytes of replies unread`);
  }

  /**
   * An invalid client message. The first of each kind gets an error event; later ones are counted
   * but not answered (a client that sends junk and never reads would otherwise make the server
   * buffer replies without limit), and past the budget the session is closed 1008.
   */
  private badMessage(kind: BadKind, message: string): void {
    this.badMessages++;
    if (!this.answered.has(kind)) {
      this.answered.add(kind);
      this.sendError(message);
    }
    const budget = this.config.limits.wsErrorBudget;
    // A session that is already ending closes by itself with its own code once its last final is out.
    if (this.badMessages > budget + 1 && !this.ended && !this.closed) {
      this.log.warn({ session: this.id, invalidMessages: this.badMessages }, 'too many invalid messages; session closed');
      this.abort(CLOSE.policy, `too many invalid messages (${this.badMessages})`);
    }
  }

  private sendError(message: string): void {
    this.send(formatErrorEvent(message, this.id));
  }

  private decodeErrorMessage(err: unknown): string {
    if (err instanceof AudioDecodeError && err.code === 'too_long') return `Audio frame not processed: ${err.message}`;
    const msg = err instanceof AudioDecodeError ? err.message : 'audio could not be decoded';
    return `Audio does not match encoding=${this.request.encoding} at sample_rate=${this.request.sampleRate}: ${msg}`;
  }

  /** An engine event → Pulse JSON, through the pipeline (stages in event order). */
  private async toPulse(ev: SpeechEvent): Promise<object | undefined> {
    switch (ev.type) {
      case 'partial': {
        const t = await this.transcripts.partial(ev, this.language);
        return formatTranscriptionEvent(t, this.ctx);
      }
      case 'final': {
        const t = await this.transcripts.final(ev, this.language);
        if (this.extraWarnings.length) {
          t.warnings = [...this.extraWarnings, ...t.warnings];
          this.extraWarnings = [];
        }
        if (t.text) this.finals.push(t.text);
        return formatTranscriptionEvent(t, this.ctx, {
          isLast: ev.isLast,
          fromFinalize: ev.fromFinalize,
          fullTranscript: this.request.fullTranscript ? this.finals.join(' ') : undefined,
        });
      }
      case 'speech_started':
      case 'speech_ended':
        return this.request.vadEvents ? formatVadEvent(ev.type, ev.timestamp, this.ctx) : undefined;
      case 'error':
        return formatErrorEvent(ev.message, this.id);
    }
  }

  /** Forward engine events to the client, in order, until the stream ends. */
  private async pump(): Promise<void> {
    try {
      for await (const ev of this.stream) {
        const t0 = performance.now();
        const msg = await this.toPulse(ev);
        if (msg) {
          this.send(msg);
          this.registry.timings.add('egress', performance.now() - t0);
        }
        if (ev.type === 'final' && ev.isLast) break;
        // Shutting down: a final is a natural boundary to end the session at (nothing is cut).
        if (ev.type === 'final' && this.drainDeadline !== null) this.enqueue({ kind: 'end', code: CLOSE.goingAway, reason: 'server shutting down' });
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
    this.route({ kind: 'message', buf, isBinary });
  }

  private enqueue(input: Input): void {
    if (input.kind === 'end') {
      if (this.endRequested) return;
      this.endRequested = true;
    }
    this.route(input);
  }

  /** Handle now, or after the finalize/close that is waiting for the decoder. */
  private route(input: Input): void {
    if (this.held) this.held.push(input);
    else this.handle(input);
  }

  private handle(input: Input): void {
    if (input.kind === 'end') return this.afterDecoderReady(() => this.end(input.code, input.reason));
    if (input.isBinary) return this.onAudio(input.buf);
    let msg: { type?: unknown } | undefined;
    try {
      msg = JSON.parse(input.buf.toString('utf8'));
    } catch {
      msg = undefined;
    }
    const type = msg && typeof msg === 'object' ? msg.type : undefined;
    switch (type) {
      case 'finalize':
        // A finalize covers every byte received before it: wait until the decoder has decoded them.
        return this.afterDecoderReady(() => {
          if (this.ended) return;
          const t0 = performance.now();
          this.feedDrained();
          this.stream.finalize();
          this.registry.timings.add('ingress', performance.now() - t0);
        });
      case 'close_stream':
      case 'end':
        if (this.endRequested) return;
        this.endRequestedByClient = true;
        this.endRequested = true;
        return this.afterDecoderReady(() => this.end());
      case 'keepalive':
        this.lastAudioAt = Date.now();
        this.send({ type: 'pong', session_id: this.id });
        return;
      default:
        if (msg === undefined) {
          this.badMessage('text', 'Text frames must be JSON control messages: {"type":"finalize"}, {"type":"close_stream"} or {"type":"keepalive"}; send audio as binary frames');
        } else {
          // Unknown control messages (other vendors' extras) are not an error a client may treat as fatal.
          this.log.debug({ session: this.id, type }, 'ignored unknown control message');
        }
    }
  }

  /**
   * Run `fn` once the audio decoder is initialised (its wasm parts load asynchronously; frames that
   * arrive before are queued inside it), holding all later input so that order is kept.
   */
  private afterDecoderReady(fn: () => void): void {
    const ready = this.decoder.ready;
    if (!ready) return fn();
    this.held = [];
    const resume = () => {
      try {
        fn();
      } finally {
        const q = this.held ?? [];
        this.held = null;
        for (const input of q) this.route(input);
      }
    };
    ready.then(resume, (err) => {
      this.log.warn({ err, session: this.id }, 'audio decoder failed to initialise');
      resume();
    });
  }

  /** PCM to the engine and to the pipeline session (audio stages analyse the same samples). */
  private feed(pcm: Float32Array): void {
    if (!pcm.length) return;
    this.lastAudioAt = this.lastSamplesAt = Date.now();
    this.transcripts.pushAudio(pcm);
    this.stream.pushAudio(pcm);
  }

  /** Whatever the decoder held back for want of initialisation. */
  private feedDrained(): void {
    try {
      this.feed(this.decoder.drain());
    } catch (err) {
      this.badMessage('decode', this.decodeErrorMessage(err));
    }
  }

  /**
   * One binary frame. The size check comes before any decoding: a frame over `maxFrameBytes` is
   * never handed to the decoder. Whatever the decoder refuses (bad bytes, or a frame that would
   * decode to more audio than it allows) is one invalid message (error event, error budget).
   */
  private onAudio(buf: Buffer): void {
    if (this.ended) {
      this.badMessage(
        'after_end',
        this.drainDeadline !== null && !this.endRequestedByClient
          ? 'Audio received after the session ended (server shutting down) was ignored'
          : 'Audio received after close_stream was ignored',
      );
      return;
    }
    if (buf.length > this.config.limits.maxFrameBytes) {
      this.badMessage('frame_size', `Audio frame of ${buf.length} bytes exceeds the maximum of ${this.config.limits.maxFrameBytes} bytes and was not processed`);
      return;
    }
    const t0 = performance.now();
    let pcm: Float32Array;
    try {
      pcm = this.decoder.push(buf);
    } catch (err) {
      reportDecodeError(`raw_${this.request.encoding}`, err instanceof AudioDecodeError ? err.code : 'corrupt'); // metric
      this.badMessage('decode', this.decodeErrorMessage(err));
      return;
    }
    this.feed(pcm);
    this.registry.timings.add('ingress', performance.now() - t0);
    this.applyBackPressure();
  }

  private flushDecoder(): void {
    try {
      this.feed(this.decoder.flush());
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

  /** Periodic: resume a paused socket, enforce idle and session-length limits, end drained sessions. */
  private tick(): void {
    if (this.paused && this.stream.pendingSeconds < Math.min(10, this.config.limits.maxBufferedSeconds / 2) / 2) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.endRequested) return;
    const now = Date.now();
    if (this.drainDeadline !== null && (now - this.lastSamplesAt >= DRAIN_QUIET_MS || now >= this.drainDeadline)) {
      this.enqueue({ kind: 'end', code: CLOSE.goingAway, reason: 'server shutting down' });
    } else if (now - this.lastAudioAt > this.config.limits.sessionIdleMs) {
      this.sendError(`No audio received for ${Math.round(this.config.limits.sessionIdleMs / 1000)} s; closing the session`);
      this.enqueue({ kind: 'end', code: CLOSE.normal, reason: 'idle timeout' });
    } else if (now - this.startedAt > this.config.limits.maxSessionSeconds * 1000) {
      this.sendError(`Session reached the maximum length of ${this.config.limits.maxSessionSeconds} s; closing`);
      this.enqueue({ kind: 'end', code: CLOSE.normal, reason: 'maximum session length' });
    }
  }

  /** Flush and emit the last final; the pump closes the socket after it. Call once the decoder is ready. */
  private end(code: number = CLOSE.normal, reason = ''): void {
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

  /**
   * Server shutdown. The session is not ended at once: audio its client sends meanwhile is decoded
   * and transcribed as usual. It ends (flush, last final, close 1001) at the first of: its client
   * ending it, a final (a natural boundary), `DRAIN_QUIET_MS` without audio, or `timeoutMs` minus
   * the time reserved to flush (`closeFlushMs`, at most half the drain). Closed 1001 after
   * `timeoutMs` whatever happens.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    const reserve = Math.min(this.config.limits.closeFlushMs, timeoutMs / 2);
    this.drainDeadline = Date.now() + Math.max(0, timeoutMs - reserve);
    this.tick();
    const t = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([this.lastLive, t]);
    this.finish(CLOSE.goingAway, 'server shutting down');
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.registry.sessions.delete(this);
    if (!this.ended) this.stream.abort();
    // A socket paused for back-pressure would never read the client's close reply (ws then waits
    // its 30 s close timeout): read again so the close handshake completes.
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) this.closeSocket(code, reason);
    this.dropIfStalled(this.socket.bufferedAmount);
  }

  /**
   * A peer that does not read never takes the close frame (it queues behind the unread data), and
   * ws would wait 30 s for the handshake. Every `CLOSE_HANDSHAKE_MS` until the socket closes: if the
   * peer took nothing of what is still queued in this process, or everything is handed to the
   * kernel but the peer did not answer the close, drop the connection. A slow reader that makes
   * progress keeps its connection (and ws's own 30 s close timeout) and loses nothing.
   */
  private dropIfStalled(before: number): void {
    this.terminateTimer = setTimeout(() => {
      const queued = this.socket.bufferedAmount;
      if (queued === 0 || queued >= before) this.socket.terminate();
      else this.dropIfStalled(queued);
    }, CLOSE_HANDSHAKE_MS);
    this.terminateTimer.unref();
  }

  /** The client went away: stop decoding and free everything. */
  private onSocketClose(): void {
    if (this.terminateTimer) clearTimeout(this.terminateTimer);
    if (!this.closed) {
      this.stream.abort();
      this.closed = true;
      clearInterval(this.timer);
      this.registry.sessions.delete(this);
    }
  }
}

export const realtimeRoutes: FastifyPluginAsync<Opts> = async (app, { config, service, registry }) => {
  for (const path of REALTIME_PATHS) {
    const wordTimestampsDefault = path !== '/waves/v1/stt/live';
    app.route({
      method: 'GET',
      url: path,
      // Validate before the upgrade so bad params get an HTTP 400 in Pulse's shape.
      preValidation: async (req) => {
        const request = parseRealtimeQuery(req.query, wordTimestampsDefault);
        req.realtime = { request, language: resolveLanguage(request.options.language, service.engine.info) };
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
          new LiveSession(socket, req.realtime!.request, req.realtime!.language, service, config, registry, req.log);
        } catch (err) {
          req.log.error({ err }, 'could not start session');
          socket.send(JSON.stringify(formatErrorEvent((err as Error).message)));
          socket.close(CLOSE.internal, 'could not start session');
        }
      },
    });
  }
};

/**
 * While `refuse()` holds (a shutdown drain), answer WebSocket upgrades with a 503 in the path's
 * error shape and close their sockets at once. Without this, an upgrade that arrives while Fastify
 * is closing gets Fastify's own 503 written to a socket nobody closes (upgrade sockets are no
 * longer the HTTP server's to reap), and the server's close waits on it until the force exit.
 * Wraps the upgrade listeners already installed (@fastify/websocket's), so it must be called after
 * that plugin is registered.
 */
export function refuseUpgradesWhile(server: import('node:http').Server, refuse: () => boolean, onRefused?: (url: string) => void): void {
  type UpgradeListener = (req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => void;
  const inner = server.listeners('upgrade') as UpgradeListener[];
  server.removeAllListeners('upgrade');
  server.on('upgrade', (req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
    if (!refuse()) {
      for (const l of inner) l.call(server, req, socket, head);
      return;
    }
    const url = req.url ?? '/';
    onRefused?.(url);
    const body = JSON.stringify(
      errorBody(url, crypto.randomUUID(), { status: 'error', message: 'The server is shutting down and accepts no new sessions; retry on another instance', errors: [] }),
    );
    socket.on('error', () => socket.destroy());
    socket.end(
      `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 1\r\n\r\n${body}`,
      () => socket.destroy(),
    );
    // A peer that never lets the response drain does not hold the shutdown either.
    setTimeout(() => socket.destroy(), 1000).unref();
  });
}
