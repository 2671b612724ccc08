/**
 * Real-time transcription session over WebSocket (Pulse protocol).
 *
 *   const s = client.stream({ language: 'en' });
 *   s.on('final', (e) => console.log(e.transcript));
 *   s.write(pcm);            // linear16 bytes, any chunk size; queued until the socket is open
 *   await s.finalize();      // → the final with from_finalize: true; the session stays open
 *   const r = await s.close(); // close_stream, waits for the is_last final and the socket close
 *
 * or `for await (const ev of s) ...`. Connecting is retried with back-off (429/503/network
 * failures) — before any audio left the client. Once audio was sent the session never
 * reconnects on its own: a dropped connection is an error (CochleaStreamClosedError).
 */
import {
  CochleaAbortError,
  CochleaApiError,
  CochleaConnectionError,
  CochleaError,
  CochleaStreamClosedError,
} from './errors.ts';
import { WS_OPEN, openSocket, resolveSocketImpl } from './socket.ts';
import type {
  ClientOptions,
  ServerErrorEvent,
  SpeechEndedEvent,
  SpeechStartedEvent,
  StreamEvent,
  StreamOptions,
  TranscriptionEvent,
  WebSocketLike,
} from './types.ts';
import { backoffDelay, boolParam, buildUrl, errorForAbort, resolveRetry, sleep } from './util.ts';

export const DEFAULT_STREAM_PATH = '/waves/v1/pulse/get_text';

export interface StreamResult {
  /** WebSocket close code (1000 after a clean close). */
  code: number;
  reason: string;
  /** The `is_last` final. */
  last: TranscriptionEvent;
  /** All non-empty final transcripts joined with spaces. */
  transcript: string;
  /** Audio bytes sent. */
  bytesSent: number;
}

export interface StreamEventMap {
  event: StreamEvent;
  transcription: TranscriptionEvent;
  partial: TranscriptionEvent;
  final: TranscriptionEvent;
  speech_started: SpeechStartedEvent;
  speech_ended: SpeechEndedEvent;
  server_error: ServerErrorEvent;
  /** Fatal: the session is over. */
  error: Error;
  open: void;
  close: { code: number; reason: string };
}

type Listener<T> = (arg: T) => void;
type QueueItem = { text: string } | { audio: Uint8Array };

/** Without a consumer, at most this many events are kept; stale partials go first. */
const MAX_BUFFERED_EVENTS = 5000;

export function streamQuery(o: StreamOptions): Record<string, string | number | boolean | undefined> {
  return {
    language: o.language ?? 'en',
    encoding: o.encoding ?? 'linear16',
    sample_rate: o.sampleRate ?? 16000,
    word_timestamps: boolParam(o.wordTimestamps),
    full_transcript: boolParam(o.fullTranscript),
    sentence_timestamps: boolParam(o.sentenceTimestamps),
    eou_timeout_ms: o.eouTimeoutMs,
    endpointing: boolParam(o.endpointing),
    endpointing_timeout: o.endpointingTimeoutMs,
    finalize_on_words: boolParam(o.finalizeOnWords),
    vad_events: boolParam(o.vadEvents),
    max_words: o.maxWords,
    external_session_id: o.externalSessionId,
    keywords: o.keywords?.length ? o.keywords.join(',') : undefined,
    diarize: boolParam(o.diarize),
    numerals: boolParam(o.numerals),
    itn_normalize: boolParam(o.itnNormalize),
    format: boolParam(o.format),
    punctuate: boolParam(o.punctuate),
    capitalize: boolParam(o.capitalize),
    emotion_detection: boolParam(o.emotionDetection),
    gender_detection: boolParam(o.genderDetection),
    redact_pii: boolParam(o.redactPii),
    redact_pci: boolParam(o.redactPci),
    ...o.params,
  };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // observed through the public API; never an unhandled rejection
  return { promise, resolve, reject };
}

function toBytes(chunk: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('write() takes an ArrayBuffer or a typed array / Buffer of audio bytes');
}

export class StreamSession implements AsyncIterable<StreamEvent> {
  /** Resolves when the socket is open (rejects with the connection error). */
  readonly ready: Promise<void>;
  /** Resolves after the `is_last` final and the socket close; rejects on a fatal error. */
  readonly done: Promise<StreamResult>;
  /** The server's session id, known from the first transcription event. */
  sessionId?: string;
  /** Audio bytes handed to the socket so far. */
  bytesSent = 0;
  state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting';

  private sock?: WebSocketLike;
  private readonly queue: QueueItem[] = [];
  private queuedBytes = 0;
  private ending = false;
  private finished = false;
  private error?: Error;
  private last?: TranscriptionEvent;
  private lastServerError?: string;
  private readonly finalTexts: string[] = [];
  private readonly listeners = new Map<keyof StreamEventMap, Set<Listener<any>>>();
  private readonly finalizeWaiters: { resolve: (e: TranscriptionEvent) => void; reject: (e: unknown) => void }[] = [];
  private readonly readyD = deferred<void>();
  private readonly doneD = deferred<StreamResult>();
  // async-iterator plumbing
  private readonly events: StreamEvent[] = [];
  private iterating = false;
  private detached = false;
  private wake?: () => void;
  private readonly maxFrame: number;
  private readonly highWater: number;
  private readonly ac = new AbortController();

  constructor(
    private readonly client: ClientOptions & { baseUrl: string },
    private readonly opts: StreamOptions = {},
  ) {
    this.ready = this.readyD.promise;
    this.done = this.doneD.promise;
    this.maxFrame = Math.max(2, opts.maxFrameBytes ?? 32 * 1024);
    this.highWater = opts.highWaterMark ?? 1024 * 1024;
    if (opts.onEvent) this.on('event', opts.onEvent);
    if (opts.onPartial) this.on('partial', opts.onPartial);
    if (opts.onFinal) this.on('final', opts.onFinal);
    if (opts.onServerError) this.on('server_error', opts.onServerError);
    if (opts.onError) this.on('error', opts.onError);
    if (opts.onOpen) this.on('open', opts.onOpen);
    if (opts.onClose) this.on('close', opts.onClose);
    const signal = opts.signal;
    if (signal) {
      if (signal.aborted) queueMicrotask(() => this.abort(signal.reason));
      else signal.addEventListener('abort', () => this.abort(signal.reason), { once: true });
    }
    void this.connect();
  }

  // ---------------------------------------------------------------------------------------------
  // Public API

  /** Subscribe; returns an unsubscribe function. */
  on<K extends keyof StreamEventMap>(name: K, cb: Listener<StreamEventMap[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(cb);
    return () => set!.delete(cb);
  }

  /**
   * Send audio bytes (in the session's encoding). Large writes are split into frames. Returns
   * false when the caller should wait (`await session.drain()`) before writing more.
   */
  write(chunk: ArrayBuffer | ArrayBufferView): boolean {
    if (this.error) throw this.error;
    if (this.ending || this.finished) throw new CochleaError('write() after close()');
    const bytes = toBytes(chunk);
    for (let off = 0; off < bytes.byteLength; off += this.maxFrame) {
      const part = bytes.subarray(off, Math.min(bytes.byteLength, off + this.maxFrame));
      if (this.state === 'open' && this.queue.length === 0) this.sendAudio(part);
      else {
        // Copy: the caller may reuse its buffer before the socket opens.
        this.queue.push({ audio: part.slice() });
        this.queuedBytes += part.byteLength;
      }
    }
    return this.buffered() < this.highWater;
  }

  /** Bytes waiting locally or in the socket. */
  buffered(): number {
    return this.queuedBytes + (this.sock?.bufferedAmount ?? 0);
  }

  /** Resolves once buffered audio fell below half the high-water mark (or the session ended). */
  async drain(): Promise<void> {
    while (!this.finished && this.buffered() >= this.highWater / 2) {
      await sleep(10, this.ac.signal).catch(() => {});
      if (this.error) throw this.error;
    }
  }

  /**
   * Ask the server to finalize what it has heard. Resolves with the final carrying
   * `from_finalize: true`; the session stays open for more audio.
   */
  finalize(): Promise<TranscriptionEvent> {
    if (this.error) return Promise.reject(this.error);
    if (this.ending || this.finished) return Promise.reject(new CochleaError('finalize() after close()'));
    const d = deferred<TranscriptionEvent>();
    this.finalizeWaiters.push(d);
    this.sendText({ type: 'finalize' });
    return d.promise;
  }

  /** Send close_stream, wait for the `is_last` final and the socket close. Idempotent. */
  close(): Promise<StreamResult> {
    if (!this.ending && !this.finished) {
      this.ending = true;
      if (this.state !== 'connecting') this.state = 'closing';
      this.sendText({ type: 'close_stream' });
    }
    return this.done;
  }

  /** Stop now: close the socket without waiting for results. Pending promises reject with AbortError. */
  abort(reason?: unknown): void {
    if (this.finished) return;
    this.fail(new CochleaAbortError(reason ?? 'stream aborted'));
  }

  /** Joined non-empty final transcripts so far. */
  get transcript(): string {
    return this.finalTexts.join(' ');
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    if (this.iterating) throw new CochleaError('a StreamSession can be iterated only once');
    this.iterating = true;
    return {
      next: async (): Promise<IteratorResult<StreamEvent>> => {
        for (;;) {
          if (this.events.length) return { done: false, value: this.events.shift()! };
          if (this.finished) {
            if (this.error) throw this.error;
            return { done: true, value: undefined };
          }
          await new Promise<void>((r) => (this.wake = r));
        }
      },
      return: async (): Promise<IteratorResult<StreamEvent>> => {
        // Leaving the loop early only detaches the iterator; close() or abort() ends the session.
        this.detached = true;
        this.events.length = 0;
        return { done: true, value: undefined };
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  private emit<K extends keyof StreamEventMap>(name: K, arg: StreamEventMap[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const cb of [...set]) {
      try {
        cb(arg);
      } catch (err) {
        // A listener's bug must not corrupt the session; surface it like an uncaught error.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  private pushEvent(ev: StreamEvent): void {
    if (this.detached) return;
    this.events.push(ev);
    if (this.events.length > MAX_BUFFERED_EVENTS) {
      const i = this.events.findIndex((e) => e.type === 'transcription' && !e.is_final);
      if (i >= 0) this.events.splice(i, 1);
    }
    this.wake?.();
  }

  private async connect(): Promise<void> {
    const retry = resolveRetry(this.client.retry);
    const httpUrl = buildUrl(this.client.baseUrl, this.opts.path ?? DEFAULT_STREAM_PATH, streamQuery(this.opts));
    const wsUrl = new URL(httpUrl);
    wsUrl.protocol = httpUrl.protocol === 'https:' ? 'wss:' : 'ws:';
    for (let attempt = 0; ; attempt++) {
      try {
        const impl = await resolveSocketImpl(this.client.webSocket);
        const sock = await openSocket(impl, wsUrl, this.client.apiKey, this.ac.signal, this.client.fetch);
        if (this.finished) {
          sock.close(1000);
          return;
        }
        this.attach(sock);
        return;
      } catch (err) {
        if (this.finished) return;
        if (this.ac.signal.aborted) return this.fail(errorForAbort(this.ac.signal));
        const e = err instanceof Error ? err : new CochleaConnectionError(String(err), { audioSent: false });
        // Nothing has been sent before the socket opened: retrying cannot duplicate audio.
        const retryable = e instanceof CochleaConnectionError || (e instanceof CochleaApiError && e.retryable);
        if (retryable && attempt < retry.retries) {
          const delayMs = backoffDelay(attempt + 1, retry, e instanceof CochleaApiError ? e.retryAfterMs : undefined);
          this.client.onRetry?.({ attempt: attempt + 1, delayMs, error: e });
          try {
            await sleep(delayMs, this.ac.signal);
          } catch {
            return this.fail(errorForAbort(this.ac.signal));
          }
          continue;
        }
        return this.fail(e);
      }
    }
  }

  private attach(sock: WebSocketLike): void {
    this.sock = sock;
    this.state = this.ending ? 'closing' : 'open';
    sock.onmessage = (ev) => this.onMessage(ev.data);
    sock.onerror = () => {
      /* the close event that follows carries the outcome */
    };
    sock.onclose = (ev) => this.onClose(ev.code, ev.reason);
    this.readyD.resolve();
    this.emit('open', undefined);
    // Flush what was written while connecting, in order.
    const pending = this.queue.splice(0);
    this.queuedBytes = 0;
    for (const item of pending) {
      if ('audio' in item) this.sendAudio(item.audio);
      else sock.send(item.text);
    }
  }

  private sendAudio(bytes: Uint8Array): void {
    this.sock!.send(bytes);
    this.bytesSent += bytes.byteLength;
  }

  private sendText(obj: Record<string, unknown>): void {
    const text = JSON.stringify(obj);
    if (this.sock && this.sock.readyState === WS_OPEN && this.queue.length === 0) this.sock.send(text);
    else if (!this.sock) this.queue.push({ text });
  }

  private onMessage(data: unknown): void {
    let ev: StreamEvent;
    try {
      const text = typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer);
      ev = JSON.parse(text) as StreamEvent;
    } catch {
      return; // not a Pulse event (the protocol only sends JSON text)
    }
    if (!ev || typeof ev !== 'object' || typeof ev.type !== 'string') return;
    if ('session_id' in ev && typeof ev.session_id === 'string') this.sessionId ??= ev.session_id;
    this.pushEvent(ev);
    this.emit('event', ev);
    switch (ev.type) {
      case 'transcription':
        this.emit('transcription', ev);
        if (ev.is_final) {
          if (ev.transcript) this.finalTexts.push(ev.transcript);
          this.emit('final', ev);
          if (ev.from_finalize) this.finalizeWaiters.shift()?.resolve(ev);
          if (ev.is_last) {
            this.last = ev;
            // A finalize still waiting is answered by the last final.
            for (const w of this.finalizeWaiters.splice(0)) w.resolve(ev);
          }
        } else this.emit('partial', ev);
        break;
      case 'speech_started':
        this.emit('speech_started', ev);
        break;
      case 'speech_ended':
        this.emit('speech_ended', ev);
        break;
      case 'error':
        this.lastServerError = ev.message;
        this.emit('server_error', ev);
        break;
    }
  }

  private onClose(code: number, reason: string): void {
    if (this.finished) return;
    if (this.last) {
      this.finished = true;
      this.state = 'closed';
      const result: StreamResult = { code, reason, last: this.last, transcript: this.transcript, bytesSent: this.bytesSent };
      this.emit('close', { code, reason });
      this.doneD.resolve(result);
      this.wake?.();
      return;
    }
    if ((code === 1008 || code === 1001 || code === 1013) && this.bytesSent === 0 && !this.sessionId && !this.ending) {
      // Refused right after the upgrade (session limit, shutdown) before we sent any audio: reconnect.
      this.sock = undefined;
      this.state = 'connecting';
      const retry = resolveRetry(this.client.retry);
      const attempt = (this.refusals = (this.refusals ?? 0) + 1);
      if (attempt <= retry.retries) {
        const error = new CochleaStreamClosedError(code, reason, this.lastServerError);
        const delayMs = backoffDelay(attempt, retry);
        this.client.onRetry?.({ attempt, delayMs, error });
        sleep(delayMs, this.ac.signal).then(
          () => void this.connect(),
          () => this.fail(errorForAbort(this.ac.signal)),
        );
        return;
      }
    }
    this.fail(
      code === 1006 || code === 1005
        ? new CochleaConnectionError(`connection lost after ${this.bytesSent} audio bytes were sent (not re-sent)`, { audioSent: this.bytesSent > 0 })
        : new CochleaStreamClosedError(code, reason, this.lastServerError),
      { code, reason },
    );
  }
  private refusals?: number;

  private fail(err: Error, closeInfo?: { code: number; reason: string }): void {
    if (this.finished) return;
    this.finished = true;
    this.state = 'closed';
    this.error = err;
    this.ac.abort(err);
    if (this.sock && this.sock.readyState <= WS_OPEN) {
      try {
        this.sock.close(1000, err.name === 'AbortError' ? 'client aborted' : 'client error');
      } catch {
        /* ignore */
      }
    }
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.readyD.reject(err);
    this.doneD.reject(err);
    for (const w of this.finalizeWaiters.splice(0)) w.reject(err);
    this.emit('error', err);
    this.emit('close', closeInfo ?? { code: 1000, reason: err.message });
    this.wake?.();
  }
}
