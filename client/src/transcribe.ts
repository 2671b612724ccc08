/** Pre-recorded transcription over HTTP(S): one POST, typed response, careful retries. */
import { CochleaApiError, CochleaConnectionError, CochleaError, CochleaProtocolError } from './errors.ts';
import type { AudioInput, ClientOptions, PulseErrorBody, PulseTranscription, TranscribeOptions } from './types.ts';
import {
  backoffDelay,
  boolParam,
  buildUrl,
  describeNetworkError,
  errorForAbort,
  isNode,
  linkSignals,
  neverConnected,
  parseRetryAfter,
  resolveRetry,
  sleep,
} from './util.ts';

export const DEFAULT_BATCH_PATH = '/waves/v1/pulse/get_text';

const MIME_BY_EXT: Record<string, string> = {
  wav: 'audio/wav',
  wave: 'audio/wav',
  mp3: 'audio/mpeg',
  flac: 'audio/flac',
  ogg: 'audio/ogg',
  oga: 'audio/ogg',
  opus: 'audio/ogg',
  webm: 'audio/webm',
  m4a: 'audio/mp4',
  mp4: 'audio/mp4',
  aac: 'audio/aac',
  amr: 'audio/amr',
  '3gp': 'audio/3gpp',
  mkv: 'video/x-matroska',
  mov: 'video/quicktime',
};

export function contentTypeFor(name: string | undefined): string | undefined {
  const ext = name ? /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase() : undefined;
  return ext ? MIME_BY_EXT[ext] : undefined;
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() || p;
}

/** A request body that can be produced once per attempt, and knows whether audio left the client. */
interface PreparedBody {
  json: boolean;
  contentType: string;
  filename?: string;
  /** Can the same bytes be sent again (Buffer, Blob, file, URL)? */
  replayable: boolean;
  /** Bytes handed to fetch so far, for one-shot streams (0 means a retry is still safe). */
  pulled(): number;
  make(): { body: BodyInit; duplex?: 'half' };
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array> {
  return typeof x === 'object' && x !== null && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function isReadableStream(x: unknown): x is ReadableStream<Uint8Array> {
  return typeof ReadableStream !== 'undefined' && x instanceof ReadableStream;
}

/**
 * Wrap a one-shot source so each attempt gets a fresh ReadableStream over the same underlying
 * reader, and we can tell whether any byte was pulled (then the audio may have reached the server
 * and the request is never retried).
 */
function oneShot(source: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>): { pulled(): number; make(): ReadableStream<Uint8Array> } {
  let pulled = 0;
  let iter: AsyncIterator<Uint8Array> | undefined;
  const next = async (): Promise<IteratorResult<Uint8Array>> => {
    if (!iter) {
      if (isReadableStream(source)) {
        const reader = source.getReader();
        iter = {
          next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
          return: async () => (reader.releaseLock(), { done: true, value: undefined }),
        };
      } else iter = source[Symbol.asyncIterator]();
    }
    return iter.next();
  };
  return {
    pulled: () => pulled,
    make: () =>
      new ReadableStream<Uint8Array>({
        async pull(ctrl) {
          const r = await next();
          if (r.done) return ctrl.close();
          const chunk = r.value instanceof Uint8Array ? r.value : new Uint8Array(r.value as ArrayBuffer);
          pulled += chunk.byteLength;
          ctrl.enqueue(chunk);
        },
        async cancel(reason) {
          await iter?.return?.(reason);
        },
      }),
  };
}

async function prepareBody(input: AudioInput, o: TranscribeOptions): Promise<PreparedBody> {
  const fixed = (body: BodyInit, contentType: string, filename?: string, json = false): PreparedBody => ({
    json,
    contentType,
    filename,
    replayable: true,
    pulled: () => 0,
    make: () => ({ body }),
  });
  if (typeof input === 'object' && input !== null && 'url' in input && typeof (input as { url: unknown }).url === 'string') {
    return fixed(JSON.stringify({ url: (input as { url: string }).url }), 'application/json', undefined, true);
  }
  const path = typeof input === 'string' ? input : typeof input === 'object' && input !== null && 'path' in input ? (input as { path: string }).path : undefined;
  if (path !== undefined) {
    if (!isNode) throw new TypeError('transcribe(path) needs Node; in a browser pass a File/Blob, bytes, or {url}');
    // A file-backed Blob: streamed by fetch, never read whole into memory, and replayable.
    const fsName = 'node:fs';
    const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsName)) as typeof import('node:fs');
    let blob: Blob;
    try {
      blob = await fs.openAsBlob(path);
    } catch (err) {
      throw new CochleaError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    const filename = o.filename ?? baseName(path);
    return fixed(blob, o.contentType ?? contentTypeFor(filename) ?? 'application/octet-stream', filename);
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) {
    const name = o.filename ?? ((input as File).name || undefined);
    return fixed(input, o.contentType ?? (input.type || contentTypeFor(name) || 'application/octet-stream'), name);
  }
  if (input instanceof ArrayBuffer || ArrayBuffer.isView(input)) {
    const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    return fixed(bytes as unknown as BodyInit, o.contentType ?? contentTypeFor(o.filename) ?? 'application/octet-stream', o.filename);
  }
  if (isReadableStream(input) || isAsyncIterable(input)) {
    const s = oneShot(input);
    return {
      json: false,
      contentType: o.contentType ?? contentTypeFor(o.filename) ?? 'application/octet-stream',
      filename: o.filename,
      replayable: false,
      pulled: s.pulled,
      make: () => ({ body: s.make(), duplex: 'half' }),
    };
  }
  throw new TypeError('transcribe: unsupported input (expected a path, {url}, {path}, bytes, Blob, ReadableStream or async iterable)');
}

export function batchQuery(o: TranscribeOptions): Record<string, string | number | boolean | undefined> {
  return {
    language: o.language ?? 'en',
    word_timestamps: boolParam(o.wordTimestamps),
    diarize: boolParam(o.diarize),
    emotion_detection: boolParam(o.emotionDetection),
    gender_detection: boolParam(o.genderDetection),
    age_detection: boolParam(o.ageDetection),
    numerals: boolParam(o.numerals),
    itn_normalize: boolParam(o.itnNormalize),
    format: boolParam(o.format),
    punctuate: boolParam(o.punctuate),
    capitalize: boolParam(o.capitalize),
    redact_pii: boolParam(o.redactPii),
    redact_pci: boolParam(o.redactPci),
    keywords: o.keywords?.length ? o.keywords.join(',') : undefined,
    webhook_url: o.webhookUrl,
    webhook_method: o.webhookMethod,
    webhook_extra: o.webhookExtra ? Object.entries(o.webhookExtra).map(([k, v]) => `${k}:${v}`).join(',') : undefined,
    encoding: o.encoding,
    sample_rate: o.sampleRate,
    ...o.params,
  };
}

async function readError(res: Response): Promise<CochleaApiError> {
  const text = await res.text().catch(() => '');
  let body: PulseErrorBody | string | undefined = text || undefined;
  try {
    body = JSON.parse(text) as PulseErrorBody;
  } catch {
    /* not JSON: keep the text */
  }
  return new CochleaApiError(res.status, body, {
    requestId: res.headers.get('x-request-id') ?? undefined,
    retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
  });
}

function isTranscription(x: unknown): x is PulseTranscription {
  const o = x as PulseTranscription;
  return typeof o === 'object' && o !== null && o.status === 'success' && typeof o.transcription === 'string';
}

export async function transcribeWith(client: Required<Pick<ClientOptions, 'baseUrl'>> & ClientOptions, input: AudioInput, options: TranscribeOptions = {}): Promise<PulseTranscription> {
  const doFetch = client.fetch ?? globalThis.fetch;
  if (!doFetch) throw new CochleaError('no fetch implementation available');
  const url = buildUrl(client.baseUrl, options.path ?? DEFAULT_BATCH_PATH, batchQuery(options));
  const retry = resolveRetry(client.retry);
  const link = linkSignals(options.signal, options.timeoutMs, 'transcription');
  try {
    const prepared = await prepareBody(input, options);
    const headers: Record<string, string> = { 'content-type': prepared.contentType, accept: 'application/json' };
    if (client.apiKey) headers.authorization = `Bearer ${client.apiKey}`;
    if (prepared.filename) headers['content-disposition'] = `attachment; filename*=UTF-8''${encodeURIComponent(prepared.filename)}`;

    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        const { body, duplex } = prepared.make();
        res = await doFetch(url, { method: 'POST', headers, body, signal: link.signal, ...(duplex ? { duplex } : {}) } as RequestInit);
      } catch (err) {
        if (link.signal.aborted) throw errorForAbort(link.signal);
        const audioSent = !neverConnected(err) || prepared.pulled() > 0;
        const e = new CochleaConnectionError(`cannot reach ${url.origin}: ${describeNetworkError(err)}`, { cause: err, audioSent });
        // Retry only when the connection was never made: not a byte of audio reached the server.
        if (!audioSent && attempt < retry.retries) {
          const delayMs = backoffDelay(attempt + 1, retry);
          client.onRetry?.({ attempt: attempt + 1, delayMs, error: e });
          await sleep(delayMs, link.signal).catch(() => {
            throw errorForAbort(link.signal);
          });
          continue;
        }
        throw e;
      }
      if (res.ok) {
        let json: unknown;
        try {
          json = await res.json();
        } catch (err) {
          if (link.signal.aborted) throw errorForAbort(link.signal);
          throw new CochleaProtocolError(`server sent a ${res.status} response that is not JSON`);
        }
        if (!isTranscription(json)) throw new CochleaProtocolError(`unexpected response: ${JSON.stringify(json).slice(0, 200)}`);
        return json;
      }
      const apiErr = await readError(res);
      // 429/503: the server refused the request without transcribing it. Re-sending the same
      // (replayable) audio is the retry the caller asked for; a one-shot stream that was
      // already read cannot be re-sent, so that error is thrown as is.
      const canResend = prepared.replayable || prepared.pulled() === 0;
      if (apiErr.retryable && canResend && attempt < retry.retries) {
        const delayMs = backoffDelay(attempt + 1, retry, apiErr.retryAfterMs);
        client.onRetry?.({ attempt: attempt + 1, delayMs, error: apiErr });
        await sleep(delayMs, link.signal).catch(() => {
          throw errorForAbort(link.signal);
        });
        continue;
      }
      throw apiErr;
    }
  } catch (err) {
    if (link.signal.aborted && !(err instanceof CochleaError)) throw errorForAbort(link.signal);
    throw err;
  } finally {
    link.dispose();
  }
}
