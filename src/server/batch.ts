/**
 * Pre-recorded transcription: POST a raw audio body or JSON `{"url": ...}` to any of Pulse's batch
 * paths. Four steps, each its own function:
 *
 *   audioSource()   the request body (raw bytes, or the fetched URL) as a byte stream
 *   decodeBody()    the stream → 16 kHz mono PCM, through a byte counter that fails with 413 past
 *                   the limit (an oversized upload is never buffered whole)
 *   transcribe()    the TranscriptionService: engine + every pipeline stage
 *   formatBatchResponse() (pulse-format.ts) → Pulse's JSON
 * Errors are mapped to Pulse's shapes by `mapDecodeError` / `mapEngineError`.
 */
import path from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { TranscriptionService } from '../pipeline/service.ts';
import type { Transcript } from '../pipeline/types.ts';
import { AudioDecodeError } from '../audio/index.ts';
import { processAudioBudget } from '../audio/budget.ts';
import { ApiError, INVALID_FORMAT_MESSAGE, badRequest, payloadTooLarge, serviceUnavailable } from './errors.ts';
import { parseBatchQuery, type BatchRequest } from './params.ts';
import { formatBatchResponse } from './pulse-format.ts';
import { limitBytes, type UrlFetcher } from './url-fetch.ts';
import { resolveLanguage } from './languages.ts';
import { EngineError } from '../engines/errors.ts';
import { decodeAudioObserved } from './metrics.ts'; // decodeAudio + decode-error metric by format

/** Batch paths; each also answers with a trailing slash (the server ignores trailing slashes). */
export const BATCH_PATHS = ['/waves/v1/pulse/get_text', '/api/v1/pulse/get_text', '/waves/v1/stt'] as const;

/** The legacy batch endpoint defaults to multi-eu when no language is given (pulse-spec §3.2). */
const LEGACY_DEFAULT_LANGUAGE = 'multi-eu';

interface Opts {
  config: Config;
  service: TranscriptionService;
  fetcher: UrlFetcher;
}

/** The upload's file name (Content-Disposition or X-Filename), without any directory part. */
export function filenameFromHeaders(req: FastifyRequest): string | undefined {
  const cd = req.headers['content-disposition'];
  if (cd) {
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
    if (m) {
      try {
        return path.basename(decodeURIComponent(m[1]));
      } catch {
        return path.basename(m[1]); // malformed percent-encoding: keep the name as sent
      }
    }
  }
  const xf = req.headers['x-filename'];
  return typeof xf === 'string' && xf ? path.basename(xf) : undefined;
}

function isJson(req: FastifyRequest): boolean {
  return /^application\/(?:[\w.+-]+\+)?json\b/i.test(req.headers['content-type'] ?? '');
}

interface AudioSource {
  stream: Readable;
  filename?: string;
}

/** The body as audio bytes: a raw body as is, a JSON `{url}` body fetched. */
async function audioSource(req: FastifyRequest, request: BatchRequest, config: Config, fetcher: UrlFetcher, signal: AbortSignal): Promise<AudioSource> {
  if (isJson(req)) {
    const body = req.body as { url?: unknown } | null;
    // Only a parsed JSON object's own `url` is ever an audio URL (never a stream's request-line url).
    if (!body || typeof body !== 'object' || body instanceof Readable || !Object.hasOwn(body, 'url') || typeof body.url !== 'string' || !body.url) {
      throw badRequest('JSON body must be {"url": "<http(s) URL of the audio>"}', [{ field: 'url', message: 'required' }]);
    }
    if (request.model === 'pulse-pro') {
      throw badRequest('model "pulse-pro" takes raw audio bytes only (as on Pulse); send the audio as the request body', [
        { field: 'url', message: 'URL input is not available with pulse-pro' },
      ]);
    }
    const fetched = await fetcher.fetch(body.url, signal);
    return { stream: fetched.body, filename: fetched.filename };
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > config.limits.maxBodyBytes) throw payloadTooLarge(config.limits.maxBodyBytes);
  return { stream: (req.body as Readable | undefined) ?? req.raw, filename: filenameFromHeaders(req) };
}

export function mapDecodeError(e: unknown, config: Config): unknown {
  if (!(e instanceof AudioDecodeError)) return e;
  if (e.code === 'invalid_format') return badRequest(INVALID_FORMAT_MESSAGE, [{ field: 'body', message: e.message }]);
  if (e.code === 'too_long') {
    return badRequest(`Audio is longer than the maximum of ${config.limits.maxAudioSeconds} seconds`, [{ field: 'body', message: e.message }]);
  }
  if (e.code === 'server') return serviceUnavailable(e.message, e.retryAfterSeconds);
  if (e.code === 'timeout') return badRequest(`Audio decoding timed out: ${e.message}`, [{ field: 'body', message: 'timeout' }]);
  return badRequest(e.code === 'empty' ? 'Audio file is empty' : `Could not decode audio: ${e.message}`, [{ field: 'body', message: e.code }]);
}

/** Decode the whole body; returns the PCM and the bytes read. */
async function decodeBody(
  source: AudioSource,
  request: BatchRequest,
  config: Config,
  signal: AbortSignal,
): Promise<{ pcm: Float32Array; bytes: number; release(): void }> {
  const counted = limitBytes(source.stream, config.limits.maxBodyBytes);
  try {
    const decoded = await decodeAudioObserved(counted.stream, {
      encoding: request.encoding,
      sampleRate: request.sampleRate,
      maxDurationSeconds: config.limits.maxAudioSeconds,
      // The process-wide cap on decoded audio held at once (decompression bombs, many long files).
      budget: processAudioBudget(config.limits.maxInflightAudioSeconds),
      signal,
    });
    return { pcm: decoded.pcm, bytes: counted.bytes(), release: () => decoded.release() };
  } catch (e) {
    if (e instanceof ApiError) throw e;
    // The decoder may report the byte limit as a stream error of its own.
    if (counted.bytes() > config.limits.maxBodyBytes) throw payloadTooLarge(config.limits.maxBodyBytes);
    throw mapDecodeError(e, config);
  } finally {
    // Drain anything the decoder did not read so the connection stays usable.
    if (!counted.stream.destroyed) counted.stream.resume();
  }
}

/** Engine failures the client can act on get their own status; the rest stay a 500. */
export function mapEngineError(e: unknown): unknown {
  if (!(e instanceof EngineError)) return e;
  switch (e.code) {
    case 'queue_full':
      return serviceUnavailable('Server is at capacity; retry shortly');
    case 'deadline_exceeded':
      return serviceUnavailable(e.message);
    case 'deadline_exceeded': return serviceUnavailable(e.message); // harden(item 9): job deadline → Pulse-shaped 503
    case 'unsupported_language':
      return badRequest(e.message, [{ field: 'language', message: 'not served by the installed models' }]);
    case 'invalid_audio':
      return badRequest(`Could not decode audio: ${e.message}`, [{ field: 'body', message: 'invalid audio' }]);
    case 'aborted':
      // The client went away; nobody will read this.
      return new ApiError(499, { status: 'error', message: 'Request cancelled', errors: [] });
    default:
      return e;
  }
}

/** Abort when the client goes away before the answer. */
function clientGone(req: FastifyRequest): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onClose = () => {
    if (!req.raw.complete || !req.raw.socket?.writable) ac.abort();
  };
  req.raw.socket?.once('close', onClose);
  return { signal: ac.signal, dispose: () => req.raw.socket?.off('close', onClose) };
}

export const batchRoutes: FastifyPluginAsync<Opts> = async (app, { config, service, fetcher }) => {
  // Every non-JSON body is audio: hand the raw stream to the route untouched. Fastify's own
  // text/plain parser would hand the route a string, so it goes too. JSON with a structured
  // suffix (application/x+json) is JSON: without its parser it reached the route as a raw stream
  // whose `.url` is the request line's URL, which was then fetched as the audio URL.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.addContentTypeParser(/^application\/[\w.-]+\+json$/i, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  const handler = (defaultLanguage: string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const t0 = performance.now();
    const request = parseBatchQuery(req.query, defaultLanguage);
    const lang = resolveLanguage(request.options.language, service.engine.info);
    const options = { ...request.options, language: lang.engine };
    // webhook_url: an asynchronous job (src/jobs); answered at once with {status:"processing"}.
    if (request.webhook) return app.jobs.accept(req, reply);

    const gone = clientGone(req);
    try {
      const source = await audioSource(req, request, config, fetcher, gone.signal);
      const { pcm, bytes, release } = await decodeBody(source, request, config, gone.signal);
      let transcript: Transcript;
      try {
        transcript = await service.transcribe(pcm, options, { signal: gone.signal });
      } catch (e) {
        throw mapEngineError(e);
      } finally {
        release(); // the in-flight audio budget
      }
      if (lang.warning) transcript.warnings = [lang.warning, ...transcript.warnings];
      const response = formatBatchResponse(transcript, {
        options,
        model: request.model,
        requestId: req.id,
        fileSize: bytes,
        filename: source.filename,
        processingMs: performance.now() - t0,
      });
      return response;
    } finally {
      gone.dispose();
    }
  };

  for (const path of BATCH_PATHS) app.post(path, handler(path === '/waves/v1/stt' ? 'en' : LEGACY_DEFAULT_LANGUAGE));
};
