/**
 * The one place the job system touches the Pulse batch surface (params, formatter, pipeline): parse
 * a stored request exactly as the sync route does, run it through `app.transcription`, and format
 * the Pulse response. When the batch route's parsing or formatting changes, only this file follows.
 */
import { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import { decodeAudio, AudioDecodeError } from '../audio/index.ts';
import { EngineError } from '../engines/errors.ts';
import type { TranscriptionService } from '../pipeline/service.ts';
import { DEFAULT_OPTIONS, type TranscriptionOptions } from '../pipeline/types.ts';
import { ApiError, INTERNAL_ERROR_BODY, INVALID_FORMAT_MESSAGE, badRequest, payloadTooLarge, serviceUnavailable } from '../server/errors.ts';
import { parseBatchQuery, type BatchOptions } from '../server/params.ts';
import { formatBatchResponse } from '../server/pulse-format.ts';
import { resolveLanguage } from '../server/languages.ts';
import { limitBytes, type UrlFetcher } from '../server/url-fetch.ts';
import type { JobOutcome, JobRunner, JobSpec, WebhookTarget } from './types.ts';

export interface ParsedJobRequest {
  batch: BatchOptions;
  options: TranscriptionOptions;
}

/** Validate a batch request's query as the sync route does (throws the same 400s). */
export function parseJobRequest(query: unknown, service: TranscriptionService): ParsedJobRequest {
  const batch = parseBatchQuery(query);
  const language = resolveLanguage(batch.language, service.engine.info);
  const options: TranscriptionOptions = {
    ...DEFAULT_OPTIONS,
    language,
    wordTimestamps: batch.wordTimestamps,
    utterances: batch.wordTimestamps,
    diarize: batch.diarize,
    genderDetection: batch.genderDetection,
    emotionDetection: batch.emotionDetection,
    ageDetection: batch.ageDetection,
    itn: batch.numerals === 'true',
    redactPii: batch.redactPii,
    redactPci: batch.redactPci,
    keywords: batch.keywords.map((k) => {
      const m = /^(.+?)(?::(-?[0-9]+(?:\.[0-9]+)?))?$/.exec(k)!;
      return { phrase: m[1], intensity: m[2] === undefined ? 1 : Number(m[2]) };
    }),
  };
  return { batch, options };
}

/** `webhook_url`, `webhook_method` (GET/POST, default POST) and `webhook_extra` (`k:v,k2:v2`). */
export function parseWebhook(query: Record<string, unknown>): WebhookTarget | undefined {
  const url = query.webhook_url;
  if (url === undefined || url === '') return undefined;
  if (typeof url !== 'string') throw badRequest('webhook_url must be a URL', [{ field: 'webhook_url', message: 'not a string' }]);
  const rawMethod = query.webhook_method ?? 'POST';
  const method = typeof rawMethod === 'string' ? rawMethod.toUpperCase() : '';
  if (method !== 'GET' && method !== 'POST') {
    throw badRequest('webhook_method must be GET or POST', [{ field: 'webhook_method', message: 'must be GET or POST' }]);
  }
  const extra: Record<string, string> = {};
  const rawExtra = query.webhook_extra;
  if (rawExtra !== undefined && rawExtra !== '') {
    if (typeof rawExtra !== 'string' || rawExtra.length > 4096) {
      throw badRequest('webhook_extra must be comma-separated key:value pairs (at most 4096 characters)', [{ field: 'webhook_extra', message: 'invalid' }]);
    }
    for (const pair of rawExtra.split(',')) {
      const i = pair.indexOf(':');
      const k = i > 0 ? pair.slice(0, i).trim() : '';
      if (!k) throw badRequest(`webhook_extra entry "${pair}" is not key:value`, [{ field: 'webhook_extra', message: 'expected key:value pairs' }]);
      extra[k] = pair.slice(i + 1).trim();
    }
  }
  return { url, method, extra };
}

function toOutcome(e: unknown, config: Config): Pick<JobOutcome, 'httpStatus' | 'body'> {
  if (e instanceof ApiError) return { httpStatus: e.statusCode, body: e.body };
  if (e instanceof AudioDecodeError) {
    const err =
      e.code === 'invalid_format'
        ? badRequest(INVALID_FORMAT_MESSAGE, [{ field: 'body', message: e.message }])
        : e.code === 'too_long'
          ? badRequest(`Audio is longer than the maximum of ${config.limits.maxAudioSeconds} seconds`, [{ field: 'body', message: e.message }])
          : e.code === 'server'
            ? serviceUnavailable(e.message)
            : badRequest(e.code === 'empty' ? 'Audio file is empty' : `Could not decode audio: ${e.message}`, [{ field: 'body', message: e.code }]);
    return { httpStatus: err.statusCode, body: err.body };
  }
  if (e instanceof EngineError) {
    if (e.code === 'unsupported_language') return { httpStatus: 400, body: badRequest(e.message, [{ field: 'language', message: 'not served' }]).body };
    if (e.code === 'invalid_audio') return { httpStatus: 400, body: badRequest(`Could not decode audio: ${e.message}`).body };
  }
  return { httpStatus: 500, body: { ...INTERNAL_ERROR_BODY } };
}

/** Errors that another attempt may not hit (engine queue full, shutdown abort): retried by the queue. */
export class TransientJobError extends Error {}

export class PulseJobRunner implements JobRunner {
  constructor(
    private readonly config: Config,
    private readonly service: TranscriptionService,
    private readonly fetcher: UrlFetcher,
  ) {}

  async run(spec: JobSpec, audio: Buffer | undefined, signal: AbortSignal): Promise<JobOutcome> {
    const startedAt = Date.now();
    try {
      const { batch, options } = parseJobRequest(spec.query, this.service);
      let stream: Readable;
      let filename: string | undefined;
      if (spec.source.kind === 'url') {
        const fetched = await this.fetcher.fetch(spec.source.url, signal);
        stream = fetched.body;
        filename = fetched.filename;
      } else {
        if (!audio) throw new Error(`audio of job ${spec.id} is missing`);
        stream = Readable.from([audio]);
        filename = spec.source.filename;
      }
      const counted = limitBytes(stream, this.config.limits.maxBodyBytes);
      let pcm: Float32Array;
      try {
        pcm = (await decodeAudio(counted.stream, { encoding: batch.encoding, sampleRate: batch.sampleRate, maxDurationSeconds: this.config.limits.maxAudioSeconds, signal })).pcm;
      } catch (e) {
        if (counted.bytes() > this.config.limits.maxBodyBytes) throw payloadTooLarge(this.config.limits.maxBodyBytes);
        throw e;
      } finally {
        if (!counted.stream.destroyed) counted.stream.resume();
      }
      const transcript = await this.service.transcribe(pcm, options, { signal });
      const body = formatBatchResponse(transcript, { options: batch, requestId: spec.id, fileSize: counted.bytes(), filename });
      return { ok: true, httpStatus: 200, body, startedAt, finishedAt: Date.now() };
    } catch (e) {
      if (signal.aborted || (e instanceof EngineError && ['queue_full', 'aborted', 'closed', 'worker_crashed'].includes(e.code))) throw new TransientJobError((e as Error).message);
      return { ok: false, ...toOutcome(e, this.config), startedAt, finishedAt: Date.now() };
    }
  }
}
