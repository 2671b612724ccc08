/**
 * The OpenAI-compatible audio API, so every OpenAI client (the `openai` npm and Python packages,
 * LangChain, LiteLLM, Open WebUI, n8n) can use Cochlea by changing its base URL to `<server>/v1`:
 *
 *   POST /v1/audio/transcriptions   multipart: file, model, language, prompt, response_format
 *                                   (json | text | srt | vtt | verbose_json), temperature,
 *                                   timestamp_granularities[] (word | segment), stream
 *   GET  /v1/models, /v1/models/:id what is served
 *
 * An encapsulated plugin: its own auth hook (same keys, `Authorization: Bearer`), multipart
 * parser and error handler, so errors here are OpenAI's `{"error":{message,type,param,code}}`
 * and the Pulse routes keep theirs.
 *
 * The upload is streamed from the multipart parser through the byte limit into the audio decoder
 * (never buffered whole); transcription goes through `app.transcription`, the pipeline the Pulse
 * routes use; every response shape comes from openai-format.ts.
 *
 * `prompt`: its content words (nouns, names, verbs, numbers; function words dropped) become
 * keyword boosts on engines that report keyword support (`EngineInfo.keywords`); elsewhere the
 * response carries a warning that the prompt was not used.
 *
 * `stream=true`: the decoded file is fed through the engine's streaming session (the same one
 * real-time WebSocket sessions use) and each final becomes a `transcript.text.delta` as soon as the
 * engine emits it, then `transcript.text.done` carries the whole text. Finals come out while later
 * audio is still being decoded, so the first text arrives after the first pause in the speech, not
 * after the whole file (transcribing first and replaying segments would only simulate a stream).
 */
import { processAudioBudget } from '../audio/budget.ts';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import multipart from '@fastify/multipart';
import nlp from 'compromise';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.ts';
import { AudioDecodeError, type DecodedAudio } from '../audio/index.ts';
import { EngineError } from '../engines/errors.ts';
import type { Engine } from '../engines/types.ts';
import { DEFAULT_OPTIONS, type Keyword, type Transcript, type TranscriptionOptions, type Warning } from '../pipeline/index.ts';
import type { TranscriptionService } from '../pipeline/service.ts';
import { ApiError } from './errors.ts';
import { checkAuth, extractKey, type KeyRing } from './auth.ts';
import { resolveLanguage } from './languages.ts';
import { limitBytes } from './url-fetch.ts';
import { decodeAudioObserved } from './metrics.ts';
import {
  OPENAI_RESPONSE_FORMATS,
  OpenAiError,
  deltaEvent,
  doneEvent,
  formatJson,
  formatSrt,
  formatText,
  formatVerbose,
  formatVtt,
  sse,
  warningsHeader,
  type Granularity,
  type OpenAiResponseFormat,
} from './openai-format.ts';

interface Opts {
  config: Config;
  ring?: KeyRing;
}

/**
 * OpenAI model names accepted as aliases of the running engine: clients hard-code them
 * (`whisper-1` is the default of most tools; the SDK documents streaming with gpt-4o-*).
 */
export const MODEL_ALIASES = ['whisper-1', 'gpt-4o-transcribe', 'gpt-4o-mini-transcribe'] as const;

export function servedModels(engine: Engine): string[] {
  return [engine.info.name, ...MODEL_ALIASES];
}

/** Fixed "created" time of the model list (the server's start). */
const CREATED = Math.floor(Date.now() / 1000);

export interface OpenAiParams {
  model: string;
  language?: string;
  prompt?: string;
  responseFormat: OpenAiResponseFormat;
  temperature: number;
  granularities: Granularity[];
  stream: boolean;
  warnings: Warning[];
}

type Fields = Record<string, string[]>;

const one = (f: Fields, name: string): string | undefined => f[name]?.[f[name].length - 1];

/** Validate the form fields seen so far; `complete` once every part has been read. */
export function parseParams(f: Fields, engine: Engine, complete: boolean): OpenAiParams {
  const warnings: Warning[] = [];
  const model = one(f, 'model');
  if (model === undefined || model === '') {
    if (complete) throw new OpenAiError(400, 'you must provide a model parameter', 'invalid_request_error', 'model', null);
  } else if (!servedModels(engine).includes(model)) {
    throw new OpenAiError(404, `The model \`${model}\` does not exist on this server. Served: ${servedModels(engine).join(', ')}`, 'invalid_request_error', 'model', 'model_not_found');
  }
  const rf = (one(f, 'response_format') || 'json') as OpenAiResponseFormat;
  if (!OPENAI_RESPONSE_FORMATS.includes(rf)) {
    throw new OpenAiError(400, `Unsupported response_format "${rf}". Supported: ${OPENAI_RESPONSE_FORMATS.join(', ')}`, 'invalid_request_error', 'response_format', 'invalid_value');
  }
  const tRaw = one(f, 'temperature');
  const temperature = tRaw === undefined || tRaw === '' ? 0 : Number(tRaw);
  if (!Number.isFinite(temperature) || temperature < 0 || temperature > 1) {
    throw new OpenAiError(400, `temperature must be a number between 0 and 1, got "${tRaw}"`, 'invalid_request_error', 'temperature', 'invalid_value');
  }
  if (temperature > 0) warnings.push({ option: 'temperature', message: 'decoding is deterministic on this server; temperature was ignored' });
  const granularities: Granularity[] = [];
  for (const g of [...(f['timestamp_granularities[]'] ?? []), ...(f['timestamp_granularities'] ?? [])]) {
    if (g !== 'word' && g !== 'segment') {
      throw new OpenAiError(400, `timestamp_granularities[] values must be "word" or "segment", got "${g}"`, 'invalid_request_error', 'timestamp_granularities', 'invalid_value');
    }
    if (!granularities.includes(g)) granularities.push(g);
  }
  if (granularities.length && rf !== 'verbose_json') {
    warnings.push({ option: 'timestamp_granularities', message: 'timestamp granularities apply to response_format=verbose_json only' });
  }
  const sRaw = one(f, 'stream');
  if (sRaw !== undefined && !/^(true|false)$/.test(sRaw)) {
    throw new OpenAiError(400, `stream must be true or false, got "${sRaw}"`, 'invalid_request_error', 'stream', 'invalid_value');
  }
  const stream = sRaw === 'true';
  if (stream && rf !== 'json' && rf !== 'text') {
    throw new OpenAiError(400, `stream=true returns transcript.text events; use response_format json or text (got ${rf})`, 'invalid_request_error', 'response_format', 'unsupported_value');
  }
  const include = [...(f['include[]'] ?? []), ...(f['include'] ?? [])];
  if (include.includes('logprobs')) warnings.push({ option: 'include', message: 'logprobs are not available from this server; not included' });
  const chunking = one(f, 'chunking_strategy');
  if (chunking && chunking !== 'auto') {
    warnings.push({ option: 'chunking_strategy', message: 'custom server_vad chunking is not applied; audio is segmented at pauses by the server' });
  }
  if (f['known_speaker_names[]'] || f['known_speaker_references[]']) {
    warnings.push({ option: 'known_speaker_names', message: 'known speaker references are not supported; ignored' });
  }
  const language = one(f, 'language') || undefined;
  return { model: model ?? '', language, prompt: one(f, 'prompt'), responseFormat: rf, temperature, granularities, stream, warnings };
}

const FUNCTION_WORDS = '(#Pronoun|#Auxiliary|#Copula|#Determiner|#Preposition|#Conjunction|#Modal|#Expression)';

/**
 * The prompt's content words as keyword boosts: nouns (names, acronyms), verbs, adjectives and
 * numbers, tagged by `compromise`; function words ("the", "is", "about") are dropped because
 * boosting them only shifts the recognizer towards filler. Unique, first 100, intensity 1.
 */
export function promptKeywords(prompt: string | undefined, max = 100): Keyword[] {
  if (!prompt?.trim()) return [];
  const terms = nlp(prompt).match('(#Noun|#Adjective|#Verb|#Value|#Acronym)').not(FUNCTION_WORDS).terms().json() as {
    terms: { text: string }[];
  }[];
  const seen = new Set<string>();
  const out: Keyword[] = [];
  for (const t of terms) {
    const word = (t.terms[0]?.text ?? '').replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
    if (!word || seen.has(word.toLowerCase())) continue;
    seen.add(word.toLowerCase());
    out.push({ phrase: word, intensity: 1 });
    if (out.length >= max) break;
  }
  return out;
}

/** Stage options: what OpenAI's output has (punctuated, cased, written numbers) where a stage serves it. */
function transcriptionOptions(service: TranscriptionService, language: string, keywords: Keyword[], needTimes: boolean): TranscriptionOptions {
  const served = new Set(service.pipeline.stages.flatMap((s) => s.serves));
  return {
    ...DEFAULT_OPTIONS,
    language,
    wordTimestamps: needTimes,
    utterances: true,
    // Asked for only where a stage serves them: OpenAI clients do not request these, so their
    // absence is the server's formatting, not an unhonoured option.
    punctuate: served.has('punctuate'),
    capitalize: served.has('capitalize'),
    itn: served.has('itn_normalize'),
    keywords,
  };
}

/** Shared-code errors (Pulse-shaped ApiError) in OpenAI's shape. */
function fromApiError(e: ApiError): OpenAiError {
  const body = e.body as { message?: unknown; error?: unknown; errors?: { field?: string }[] };
  const message = String(body.message ?? body.error ?? e.message);
  let param = body.errors?.[0]?.field ?? null;
  if (param === 'body') param = 'file';
  const code = e.statusCode === 413 ? 'file_too_large' : e.statusCode === 401 ? 'invalid_api_key' : null;
  return new OpenAiError(e.statusCode, message, e.statusCode >= 500 ? 'server_error' : 'invalid_request_error', param, code);
}

function decodeFailure(e: unknown, maxAudioSeconds: number): OpenAiError | unknown {
  if (e instanceof ApiError) return fromApiError(e);
  if (!(e instanceof AudioDecodeError)) return e;
  switch (e.code) {
    case 'invalid_format':
      return new OpenAiError(400, 'Invalid file format. Supported formats: any audio file (wav, mp3, flac, ogg, opus, webm, m4a, mp4, ...)', 'invalid_request_error', 'file', 'invalid_value');
    case 'too_long':
      return new OpenAiError(400, `Audio is longer than the maximum of ${maxAudioSeconds} seconds`, 'invalid_request_error', 'file', 'audio_too_long');
    case 'empty':
      return new OpenAiError(400, 'Audio file is empty', 'invalid_request_error', 'file', 'invalid_value');
    case 'aborted':
      return new OpenAiError(499, 'Request cancelled', 'invalid_request_error', null, 'cancelled');
    default:
      return new OpenAiError(400, `Could not decode audio: ${e.message}`, 'invalid_request_error', 'file', 'invalid_value');
  }
}

function engineFailure(e: unknown): unknown {
  if (!(e instanceof EngineError)) return e instanceof ApiError ? fromApiError(e) : e;
  switch (e.code) {
    case 'queue_full':
      return new OpenAiError(503, 'The server is at capacity; retry shortly', 'server_error', null, 'server_overloaded');
    case 'unsupported_language':
      return new OpenAiError(400, e.message, 'invalid_request_error', 'language', 'unsupported_language');
    case 'invalid_audio':
      return new OpenAiError(400, `Could not decode audio: ${e.message}`, 'invalid_request_error', 'file', 'invalid_value');
    case 'aborted':
      return new OpenAiError(499, 'Request cancelled', 'invalid_request_error', null, 'cancelled');
    default:
      return e;
  }
}

/** The service's warnings, phrased for this API (keywords here come from `prompt`). */
function surfaceWarnings(ws: Warning[]): Warning[] {
  return ws.map((w) => (w.option === 'keywords' ? { ...w, option: 'prompt', message: `prompt words are used as keyword boosts: ${w.message}` } : w));
}

interface Upload {
  decoded?: DecodedAudio;
  fields: Fields;
  error?: unknown;
}

/** Read every part: fields into `fields`, the `file` part streamed through the byte limit into the decoder. */
async function readUpload(req: FastifyRequest, config: Config, engine: Engine, signal: AbortSignal): Promise<Upload> {
  const up: Upload = { fields: {} };
  const max = config.limits.maxBodyBytes;
  for await (const part of req.parts()) {
    if (part.type === 'field') {
      if (part.valueTruncated || part.fieldnameTruncated) {
        up.error ??= new OpenAiError(400, `Form field "${part.fieldname}" is too long`, 'invalid_request_error', part.fieldname, 'invalid_value');
        continue;
      }
      (up.fields[part.fieldname] ??= []).push(String(part.value));
      continue;
    }
    const file = part.file as Readable;
    if (part.fieldname !== 'file' || up.decoded || up.error) {
      if (!up.error && part.fieldname !== 'file') {
        up.error = new OpenAiError(400, `Unexpected file field "${part.fieldname}"; send the audio as "file"`, 'invalid_request_error', part.fieldname, 'invalid_value');
      } else if (!up.error) {
        up.error = new OpenAiError(400, 'Send exactly one file', 'invalid_request_error', 'file', 'invalid_value');
      }
      file.resume();
      continue;
    }
    try {
      // Fields sent before the file are checked before any decoding.
      parseParams(up.fields, engine, false);
    } catch (e) {
      up.error = e;
      file.resume();
      continue;
    }
    const counted = limitBytes(file, max);
    try {
      up.decoded = await decodeAudioObserved(counted.stream, { maxDurationSeconds: config.limits.maxAudioSeconds, budget: processAudioBudget(config.limits.maxInflightAudioSeconds), signal });
    } catch (e) {
      up.error = counted.bytes() > max ? new OpenAiError(413, `File too large. Maximum allowed size is ${Math.round((max / 2 ** 20) * 10) / 10} MB`, 'invalid_request_error', 'file', 'file_too_large') : decodeFailure(e, config.limits.maxAudioSeconds);
    } finally {
      // Whatever the decoder did not read is drained so the parser reaches the next part.
      if (!counted.stream.destroyed) counted.stream.resume();
      file.resume();
    }
  }
  return up;
}

export const openAiRoutes: FastifyPluginAsync<Opts> = async (app, { config, ring }) => {
  await app.register(multipart, {
    // One byte over the limit reaches limitBytes, which answers 413 (busboy would just truncate).
    limits: { fileSize: config.limits.maxBodyBytes + 1, files: 1, fields: 64, fieldSize: 64 * 1024, parts: 80 },
    throwFileSizeLimit: false,
  });

  app.setErrorHandler((err: FastifyError | OpenAiError | ApiError, req, reply) => {
    let e: unknown = err;
    if (err instanceof ApiError) e = fromApiError(err);
    if (!(e instanceof OpenAiError)) {
      const fe = err as FastifyError;
      const status = fe.statusCode;
      if (fe.code === 'FST_REQ_FILE_TOO_LARGE') e = new OpenAiError(413, fe.message, 'invalid_request_error', 'file', 'file_too_large');
      else if (fe.code === 'FST_INVALID_MULTIPART_CONTENT_TYPE') e = new OpenAiError(400, 'The request must be multipart/form-data', 'invalid_request_error', null, 'invalid_value');
      else if (fe.code === 'FST_FILES_LIMIT') e = new OpenAiError(400, 'Send exactly one file', 'invalid_request_error', 'file', 'invalid_value');
      else if (status && status >= 400 && status < 500) e = new OpenAiError(status, fe.message, 'invalid_request_error', null, fe.code ?? null);
    }
    if (e instanceof OpenAiError) {
      if (e.statusCode >= 500) req.log.error({ err }, 'request failed');
      return reply.code(e.statusCode).send(e.body);
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send(new OpenAiError(500, 'The server had an error while processing your request', 'server_error').body);
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new OpenAiError(404, `Invalid URL (${req.method} ${req.url.split('?')[0]})`, 'invalid_request_error', null, 'unknown_url');
    reply.code(404).send(e.body);
  });

  app.addHook('onRequest', async (req, reply) => {
    const err = checkAuth(ring, req.headers, req.query);
    if (!err) return;
    const missing = extractKey(req.headers, req.query) === undefined;
    const e = missing
      ? new OpenAiError(401, "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", 'invalid_request_error', null, null)
      : new OpenAiError(401, 'Incorrect API key provided.', 'invalid_request_error', null, 'invalid_api_key');
    return reply.code(401).send(e.body);
  });

  const model = (id: string) => ({ id, object: 'model', created: CREATED, owned_by: 'cochlea' });

  app.get('/models', async () => ({ object: 'list', data: servedModels(app.transcription.engine).map(model) }));

  app.get<{ Params: { model: string } }>('/models/:model', async (req) => {
    if (!servedModels(app.transcription.engine).includes(req.params.model)) {
      throw new OpenAiError(404, `The model '${req.params.model}' does not exist`, 'invalid_request_error', 'model', 'model_not_found');
    }
    return model(req.params.model);
  });

  app.post('/audio/transcriptions', async (req, reply) => {
    const service = app.transcription;
    const engine = service.engine;
    if (!req.isMultipart()) {
      throw new OpenAiError(400, 'The request must be multipart/form-data with the audio in a "file" part', 'invalid_request_error', 'file', 'invalid_value');
    }
    const declared = Number(req.headers['content-length']);
    // Form fields and boundaries add a little to the file itself.
    if (Number.isFinite(declared) && declared > config.limits.maxBodyBytes + 1024 * 1024) {
      throw new OpenAiError(413, `File too large. Maximum allowed size is ${Math.round((config.limits.maxBodyBytes / 2 ** 20) * 10) / 10} MB`, 'invalid_request_error', 'file', 'file_too_large');
    }

    const ac = new AbortController();
    const onClose = () => {
      if (!req.raw.complete || !reply.raw.writableEnded) ac.abort();
    };
    req.raw.socket?.once('close', onClose);
    let streaming = false;
    let up: Upload | undefined;
    try {
      up = await readUpload(req, config, engine, ac.signal);
      if (up.error) throw up.error;
      const params = parseParams(up.fields, engine, true);
      if (!up.decoded) throw new OpenAiError(400, 'you must provide a file', 'invalid_request_error', 'file', null);
      const resolved = resolveLanguage(params.language ?? 'multi', engine.info);
      const language = resolved.engine;
      const warnings = [...params.warnings, ...(resolved.warning ? [resolved.warning] : [])];
      let keywords: Keyword[] = [];
      if (params.prompt?.trim()) {
        if (engine.info.keywords === true) keywords = promptKeywords(params.prompt);
        else warnings.push({ option: 'prompt', message: `prompt words are used as keyword boosts, which the ${engine.info.name} engine does not support; the prompt was not used` });
      }
      const needTimes = params.responseFormat !== 'json' && params.responseFormat !== 'text';
      const options = transcriptionOptions(service, language, keywords, needTimes);

      if (params.stream) {
        streaming = true;
        const decoded = up.decoded;
        return streamTranscript(req, reply, service, decoded.pcm, options, warnings, ac, () => {
          req.raw.socket?.off('close', onClose);
          decoded.release(); // the in-flight audio budget
        });
      }

      let t: Transcript;
      try {
        t = await service.transcribe(up.decoded.pcm, options, { signal: ac.signal });
      } catch (e) {
        throw engineFailure(e);
      }
      const all = [...warnings, ...surfaceWarnings(t.warnings)];
      const header = warningsHeader(all);
      if (header) reply.header('x-cochlea-warnings', header);
      switch (params.responseFormat) {
        case 'json':
          return formatJson(t, all);
        case 'verbose_json':
          return formatVerbose(t, params.granularities, all);
        case 'text':
          return reply.type('text/plain; charset=utf-8').send(formatText(t));
        case 'srt':
          return reply.type('application/x-subrip; charset=utf-8').send(formatSrt(t));
        case 'vtt':
          return reply.type('text/vtt; charset=utf-8').send(formatVtt(t));
      }
    } finally {
      if (!streaming) {
        req.raw.socket?.off('close', onClose);
        up?.decoded?.release(); // the in-flight audio budget
      }
    }
  });
};

/**
 * `stream=true`: server-sent events. The PCM goes through the engine's streaming session in
 * chunks (kept at most a few seconds ahead of the decoder); each final runs the real-time
 * pipeline stages (TranscriptSession) and is sent as a delta the moment it exists.
 */
async function streamTranscript(
  req: FastifyRequest,
  reply: FastifyReply,
  service: TranscriptionService,
  pcm: Float32Array,
  options: TranscriptionOptions,
  warnings: Warning[],
  ac: AbortController,
  done: () => void,
): Promise<FastifyReply> {
  const session = service.session(options);
  const stream = service.engine.stream({
    language: options.language,
    keywords: options.keywords.map((k) => `${k.phrase}:${k.intensity}`),
    signal: ac.signal,
  });
  const out = new PassThrough();
  const send = (obj: Record<string, unknown>) => {
    if (out.destroyed || out.writableEnded) return;
    out.write(sse(obj));
    req.server.metrics?.eventsSent.inc({ transport: 'sse', type: String(obj.type) });
  };
  out.on('close', () => {
    if (!reply.raw.writableFinished) ac.abort();
  });

  const texts: string[] = [];
  let failed = false;
  const run = async () => {
    const sessionWarnings: Warning[] = [];
    const consume = (async () => {
      for await (const ev of stream) {
        if (ev.type === 'error') throw new EngineError('backend_error', ev.message);
        if (ev.type !== 'final') continue;
        const t = await session.final(ev, options.language);
        sessionWarnings.push(...t.warnings);
        if (t.text) {
          send(deltaEvent((texts.length ? ' ' : '') + t.text));
          texts.push(t.text);
        }
        if (ev.isLast) break;
      }
    })();
    // Stop feeding at once if decoding fails (the error is reported when `consume` is awaited).
    consume.catch(() => {
      failed = true;
    });
    // Feed the decoder in 1 s chunks, never more than 5 s ahead of it.
    const CHUNK = 16000;
    for (let i = 0; i < pcm.length && !ac.signal.aborted && !failed; i += CHUNK) {
      const chunk = pcm.subarray(i, Math.min(pcm.length, i + CHUNK));
      session.pushAudio(chunk);
      stream.pushAudio(chunk);
      while (stream.pendingSeconds > 5 && !ac.signal.aborted && !failed) await sleep(5);
    }
    if (!ac.signal.aborted && !failed) stream.end();
    await consume;
    if (ac.signal.aborted) return;
    send(doneEvent(texts.join(' '), [...warnings, ...surfaceWarnings(sessionWarnings)]));
  };
  void run()
    .catch((err) => {
      if (ac.signal.aborted) return;
      req.log.error({ err }, 'streamed transcription failed');
      const e = engineFailure(err);
      const body = e instanceof OpenAiError ? e.body : new OpenAiError(500, 'The server had an error while processing your request', 'server_error').body;
      send({ type: 'error', ...body });
    })
    .finally(() => {
      stream.abort();
      out.end();
      done();
    });

  const header = warningsHeader(warnings);
  if (header) reply.header('x-cochlea-warnings', header);
  return reply.code(200).header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache').send(out);
}
