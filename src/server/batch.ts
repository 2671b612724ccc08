/**
 * Pre-recorded transcription: POST a raw audio body or JSON `{"url": ...}` to any of Pulse's batch
 * paths. The body is streamed into the audio decoder through a byte counter that fails with 413
 * past the limit, so an oversized upload is never buffered whole.
 */
import { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import type { Engine } from '../engines/types.ts';
import { decodeAudio, AudioDecodeError } from '../audio/index.ts';
import { processAudioBudget } from '../audio/budget.ts'; // harden(item 8)
import { baseTranscript, splitUtterances } from '../pipeline/index.ts';
import { ApiError, INVALID_FORMAT_MESSAGE, badRequest, payloadTooLarge, serviceUnavailable } from './errors.ts';
import { parseBatchQuery, type BatchOptions } from './params.ts';
import { formatBatchResponse } from './pulse-format.ts';
import { limitBytes, type UrlFetcher } from './url-fetch.ts';
import { resolveLanguage } from './languages.ts';
import { EngineError } from '../engines/errors.ts';
import { deliverWebhook } from './webhook.ts';

export const BATCH_PATHS = ['/waves/v1/pulse/get_text', '/api/v1/pulse/get_text', '/waves/v1/stt'] as const;

interface Opts {
  config: Config;
  engine: Engine;
  fetcher: UrlFetcher;
}

function filenameFromHeaders(req: FastifyRequest): string | undefined {
  const cd = req.headers['content-disposition'];
  if (cd) {
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
    if (m) {
      try {
        return decodeURIComponent(m[1]);
      } catch {
        return m[1]; // malformed percent-encoding: keep the name as sent
      }
    }
  }
  const xf = req.headers['x-filename'];
  return typeof xf === 'string' && xf ? xf : undefined;
}

function isJson(req: FastifyRequest): boolean {
  return /^application\/(?:[\w.+-]+\+)?json\b/i.test(req.headers['content-type'] ?? '');
}

/** Engine failures the client can act on get their own status; the rest stay a 500. */
function mapEngineError(e: unknown): unknown {
  if (!(e instanceof EngineError)) return e;
  switch (e.code) {
    case 'queue_full':
      return serviceUnavailable('Server is at capacity; retry shortly');
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

export const batchRoutes: FastifyPluginAsync<Opts> = async (app, { config, engine, fetcher }) => {
  // Every non-JSON body is audio: hand the raw stream to the route untouched. Fastify's own
  // text/plain parser would hand the route a string, so it goes too. JSON with a structured
  // suffix (application/x+json) is JSON: without this parser it reached the route as a raw stream
  // whose `.url` is the request line's URL, which was then fetched as the audio URL.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  app.addContentTypeParser(/^application\/[\w.-]+\+json$/i, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  const handler = async (req: FastifyRequest) => {
    const options: BatchOptions = parseBatchQuery(req.query);
    const language = resolveLanguage(options.language, engine.info);
    if (options.webhookUrl) fetcher.validate(options.webhookUrl);

    const ac = new AbortController();
    const onClose = () => {
      if (!req.raw.complete || !req.raw.socket?.writable) ac.abort();
    };
    req.raw.socket?.once('close', onClose);

    try {
      let source: Readable;
      let filename: string | undefined;
      if (isJson(req)) {
        const body = req.body as { url?: unknown } | null;
        // Only a parsed JSON object's own `url` is ever an audio URL (never a stream's request-line url).
        if (!body || typeof body !== 'object' || body instanceof Readable || !Object.hasOwn(body, 'url') || typeof body.url !== 'string' || !body.url) {
          throw badRequest('JSON body must be {"url": "<http(s) URL of the audio>"}', [{ field: 'url', message: 'required' }]);
        }
        const fetched = await fetcher.fetch(body.url, ac.signal);
        source = fetched.body;
        filename = fetched.filename;
      } else {
        const declared = Number(req.headers['content-length']);
        if (Number.isFinite(declared) && declared > config.limits.maxBodyBytes) throw payloadTooLarge(config.limits.maxBodyBytes);
        source = (req.body as Readable | undefined) ?? req.raw;
        filename = filenameFromHeaders(req);
      }

      const counted = limitBytes(source, config.limits.maxBodyBytes);
      let decoded;
      try {
        decoded = await decodeAudio(counted.stream, {
          encoding: options.encoding,
          sampleRate: options.sampleRate,
          maxDurationSeconds: config.limits.maxAudioSeconds,
          budget: processAudioBudget(config.limits.maxInflightAudioSeconds), // harden(item 8): in-flight decoded-audio cap
          signal: ac.signal,
        });
      } catch (e) {
        if (e instanceof ApiError) throw e;
        // The decoder may report the byte limit as a stream error of its own.
        if (counted.bytes() > config.limits.maxBodyBytes) throw payloadTooLarge(config.limits.maxBodyBytes);
        if (e instanceof AudioDecodeError) {
          if (e.code === 'invalid_format') throw badRequest(INVALID_FORMAT_MESSAGE, [{ field: 'body', message: e.message }]);
          if (e.code === 'too_long') {
            throw badRequest(`Audio is longer than the maximum of ${config.limits.maxAudioSeconds} seconds`, [{ field: 'body', message: e.message }]);
          }
          if (e.code === 'server') throw serviceUnavailable(e.message);
          if (e.code === 'timeout') throw badRequest(`Audio decoding timed out: ${e.message}`, [{ field: 'body', message: 'timeout' }]);
          throw badRequest(e.code === 'empty' ? 'Audio file is empty' : `Could not decode audio: ${e.message}`, [{ field: 'body', message: e.code }]);
        }
        throw e;
      } finally {
        // Drain anything the decoder did not read so the connection stays usable.
        if (!counted.stream.destroyed) counted.stream.resume();
      }

      let result;
      try {
        result = await engine.recognize(decoded.pcm, { language, keywords: options.keywords, signal: ac.signal });
      } catch (e) {
        throw mapEngineError(e);
      } finally { decoded.release(); } // harden(item 8): give the in-flight audio budget back
      // Interim until the server runs the TranscriptionService (pipeline/service.ts).
      const transcript = baseTranscript(result);
      transcript.utterances = splitUtterances(transcript.words, {
        gapSeconds: config.pipeline.utteranceGapSeconds,
        maxSeconds: config.pipeline.maxUtteranceSeconds,
      });
      const response = formatBatchResponse(transcript, { options, requestId: req.id, fileSize: counted.bytes(), filename });
      if (options.webhookUrl) deliverWebhook(fetcher, options.webhookUrl, response, req.log);
      return response;
    } finally {
      req.raw.socket?.off('close', onClose);
    }
  };

  for (const path of BATCH_PATHS) app.post(path, handler);
};
