/**
 * @cochlea/client — typed SDK for Cochlea (and any Pulse-compatible STT server).
 *
 *   import { CochleaClient } from '@cochlea/client';
 *   const cochlea = new CochleaClient({ baseUrl: 'http://localhost:8080', apiKey: process.env.COCHLEA_API_KEY });
 *   const result = await cochlea.transcribe('call.wav', { wordTimestamps: true });
 *   const live = cochlea.stream({ onFinal: (e) => console.log(e.transcript) });
 *
 * Works in Node >= 20 (global fetch; the `ws` package for WebSockets) and in browsers.
 */
import { transcribeWith } from './transcribe.ts';
import { StreamSession } from './stream.ts';
import type { AudioInput, ClientOptions, PulseTranscription, StreamOptions, TranscribeOptions } from './types.ts';
import { defaultBaseUrl, env } from './util.ts';

export * from './types.ts';
export * from './errors.ts';
export { StreamSession, type StreamResult, type StreamEventMap, DEFAULT_STREAM_PATH } from './stream.ts';
export { DEFAULT_BATCH_PATH, contentTypeFor } from './transcribe.ts';

export class CochleaClient {
  readonly options: ClientOptions & { baseUrl: string };

  constructor(options: ClientOptions = {}) {
    this.options = { ...options, baseUrl: options.baseUrl ?? defaultBaseUrl(), apiKey: options.apiKey ?? env('COCHLEA_API_KEY') };
  }

  /** Pre-recorded transcription. `input`: a file path (Node), `{url}`, bytes, Blob/File, or a stream. */
  transcribe(input: AudioInput, options?: TranscribeOptions): Promise<PulseTranscription> {
    return transcribeWith(this.options, input, options);
  }

  /** Start a real-time session (connects in the background; `await session.ready` to wait). */
  stream(options?: StreamOptions): StreamSession {
    return new StreamSession(this.options, options);
  }

  /** Start a real-time session and wait until it is connected. */
  async connect(options?: StreamOptions): Promise<StreamSession> {
    const s = this.stream(options);
    await s.ready;
    return s;
  }
}

type WithClient<T> = T & ClientOptions;

function split<T extends object>(o: WithClient<T> | undefined): [ClientOptions, T] {
  const { baseUrl, apiKey, retry, onRetry, fetch, webSocket, ...rest } = (o ?? {}) as WithClient<T>;
  return [{ baseUrl, apiKey, retry, onRetry, fetch, webSocket }, rest as unknown as T];
}

/** One-off transcription; client settings (`baseUrl`, `apiKey`, `retry`...) may be given inline. */
export function transcribe(input: AudioInput, options?: WithClient<TranscribeOptions>): Promise<PulseTranscription> {
  const [c, o] = split(options);
  return new CochleaClient(c).transcribe(input, o);
}

/** One-off real-time session; client settings may be given inline. */
export function stream(options?: WithClient<StreamOptions>): StreamSession {
  const [c, o] = split(options);
  return new CochleaClient(c).stream(o);
}
