/** Engine-neutral transcripts → Pulse's JSON response shapes. */
import type { Transcript } from '../pipeline/index.ts';
import type { BatchOptions } from './params.ts';

export interface BatchResponseContext {
  options: BatchOptions;
  requestId: string;
  fileSize: number;
  filename?: string;
}

export function formatBatchResponse(t: Transcript, ctx: BatchResponseContext): Record<string, unknown> {
  const body: Record<string, unknown> = {
    status: 'success',
    transcription: t.text,
  };
  if (ctx.options.wordTimestamps) {
    body.words = t.words.map((w) => {
      const o: Record<string, unknown> = { word: w.word, start: w.start, end: w.end, confidence: w.confidence };
      if (w.speaker !== undefined) o.speaker = w.speaker;
      if (w.speakerConfidence !== undefined) o.speaker_confidence = w.speakerConfidence;
      return o;
    });
    body.utterances = t.utterances.map((u) => {
      const o: Record<string, unknown> = { text: u.text, start: u.start, end: u.end };
      if (u.speaker !== undefined) o.speaker = u.speaker;
      return o;
    });
  }
  body.language = t.language;
  const metadata: Record<string, unknown> = {
    duration: Math.round(t.duration * 1000) / 1000,
    fileSize: ctx.fileSize,
  };
  if (ctx.filename) metadata.filename = ctx.filename;
  body.metadata = metadata;
  body.request_id = ctx.requestId;
  return body;
}
