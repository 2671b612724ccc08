/**
 * The one place the job system touches the Pulse batch surface (params, formatter, pipeline): parse
 * a stored request exactly as the sync route does, run it through `app.transcription`, and format
 * the Pulse response. When the batch route's parsing or formatting changes, only this file follows.
 */
import { Readable } from 'node:stream';
import type { Config } from '../config.ts';
import { decodeAudio } from '../audio/index.ts';
import { processAudioBudget } from '../audio/budget.ts';
import { EngineError } from '../engines/errors.ts';
import type { TranscriptionService } from '../pipeline/service.ts';
import type { TranscriptionOptions } from '../pipeline/types.ts';
import { ApiError, INTERNAL_ERROR_BODY, payloadTooLarge } from '../server/errors.ts';
import { parseBatchQuery, type BatchRequest } from '../server/params.ts';
import { mapDecodeError, mapEngineError } from '../server/batch.ts';
import { formatBatchResponse } from '../server/pulse-format.ts';
import { resolveLanguage } from '../server/languages.ts';
import { limitBytes, type UrlFetcher } from '../server/url-fetch.ts';
import type { JobOutcome, JobRunner, JobSpec, WebhookTarget } from './types.ts';

export interface ParsedJobRequest {
  batch: BatchRequest;
  options: TranscriptionOptions;
}

/** The legacy batch paths default to multi-eu, /waves/v1/stt to en (as the sync route). */
export function defaultLanguageFor(path: string): string {
  return path.replace(/\/+$/, '') === '/waves/v1/stt' ? 'en' : 'multi-eu';
}

/** Validate a batch request's query as the sync route does (throws the same 400s). */
export function parseJobRequest(query: unknown, service: TranscriptionService, path: string): ParsedJobRequest {
  const batch = parseBatchQuery(query, defaultLanguageFor(path));
  const lang = resolveLanguage(batch.options.language, service.engine.info);
  return { batch, options: { ...batch.options, language: lang.engine } };
}

/** `webhook_url`, `webhook_method` (GET/POST, default POST) and `webhook_extra` (`k:v,k2:v2`), as parsed by the batch route's query parser. */
export function parseWebhook(query: Record<string, unknown>, path = '/waves/v1/stt'): WebhookTarget | undefined {
  return parseBatchQuery(query, defaultLanguageFor(path)).webhook;
}

function toOutcome(e: unknown, config: Config): Pick<JobOutcome, 'httpStatus' | 'body'> {
  const mapped = mapEngineError(mapDecodeError(e, config));
  if (mapped instanceof ApiError) return { httpStatus: mapped.statusCode, body: mapped.body };
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
      const { batch, options } = parseJobRequest(spec.query, this.service, spec.path);
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
      let decoded: Awaited<ReturnType<typeof decodeAudio>>;
      try {
        decoded = await decodeAudio(counted.stream, {
          encoding: batch.encoding,
          sampleRate: batch.sampleRate,
          maxDurationSeconds: this.config.limits.maxAudioSeconds,
          budget: processAudioBudget(this.config.limits.maxInflightAudioSeconds),
          signal,
        });
      } catch (e) {
        if (counted.bytes() > this.config.limits.maxBodyBytes) throw payloadTooLarge(this.config.limits.maxBodyBytes);
        throw e;
      } finally {
        if (!counted.stream.destroyed) counted.stream.resume();
      }
      let transcript;
      try {
        transcript = await this.service.transcribe(decoded.pcm, options, { signal });
      } finally {
        decoded.release();
      }
      const body = formatBatchResponse(transcript, {
        options,
        model: batch.model,
        requestId: spec.id,
        fileSize: counted.bytes(),
        filename,
        processingMs: Date.now() - startedAt,
      });
      return { ok: true, httpStatus: 200, body: body as unknown as Record<string, unknown>, startedAt, finishedAt: Date.now() };
    } catch (e) {
      if (signal.aborted || (e instanceof EngineError && ['queue_full', 'aborted', 'closed', 'worker_crashed'].includes(e.code))) throw new TransientJobError((e as Error).message);
      return { ok: false, ...toOutcome(e, this.config), startedAt, finishedAt: Date.now() };
    }
  }
}
