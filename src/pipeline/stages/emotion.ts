/**
 * Emotion detection (`emotion_detection`): Pulse's five scores from SenseVoice's emotion tags (see
 * pipeline/voice/emotion.ts for the model and the tag → score mapping), decoded in the analysis
 * worker. Needs the SenseVoice model installed (`cochlea models pull
 * sense-voice-zh-en-ja-ko-yue-2024-07-17`); without it the request gets a warning naming that
 * command and no `emotions` (scores are never made up). Pre-recorded only, as Pulse (§3.7).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RegisteredStage } from '../pipeline.ts';
import type { Capability, StageContext, Transcript } from '../types.ts';
import { findModel } from '../../models/catalog.ts';
import { defaultModelsDir, modelDir } from '../../models/paths.ts';
import { CHUNK_MARGIN_SECONDS, EMOTION_MODEL, emotionChunks, scoresFromTags, type EmotionModelFiles, type EmotionTaskInput, type EmotionTaskOutput } from '../voice/emotion.ts';

export interface EmotionStageOptions {
  /** Where installed models live (default: COCHLEA_MODELS_DIR / the XDG cache). */
  modelsDir?: string;
  /** Explicit SenseVoice files (tests, custom installs); overrides the catalog lookup. */
  model?: EmotionModelFiles;
  /** ONNX threads per decode in the analysis worker. Default 1. */
  numThreads?: number;
}

/** The installed SenseVoice files, or null when not installed. */
export function findEmotionModel(opts: EmotionStageOptions = {}): EmotionModelFiles | null {
  if (opts.model) return fs.existsSync(opts.model.model) && fs.existsSync(opts.model.tokens) ? opts.model : null;
  const entry = findModel(EMOTION_MODEL);
  const files = entry?.sherpa.files ?? { model: 'model.int8.onnx', tokens: 'tokens.txt' };
  const dir = modelDir(opts.modelsDir ?? defaultModelsDir(), EMOTION_MODEL);
  const m = { model: path.join(dir, files.model), tokens: path.join(dir, files.tokens) };
  return fs.existsSync(m.model) && fs.existsSync(m.tokens) ? m : null;
}

export function emotionStage(opts: EmotionStageOptions = {}): RegisteredStage {
  // Looked up per request (cheap stat calls) so a model pulled while the server runs is picked up.
  const missing = (): Capability => ({
    ok: false,
    warning: {
      option: 'emotion_detection',
      message: `emotion detection needs the SenseVoice model (${EMOTION_MODEL}), which is not installed; the response does not include emotions`,
      fix: `cochlea models pull ${EMOTION_MODEL}`,
    },
  });
  return {
    name: 'emotion',
    serves: ['emotion_detection'],
    enabled: (o, mode) => o.emotionDetection && mode === 'batch',
    capability: () => (findEmotionModel(opts) ? { ok: true } : missing()),
    needsAudio: true,
    partials: false,
    async run(t: Transcript, ctx: StageContext): Promise<Transcript> {
      const model = findEmotionModel(opts);
      if (!model) return { ...t, warnings: [...t.warnings, (missing() as { warning: Transcript['warnings'][number] }).warning] };
      const audio = ctx.audio!;
      const dur = audio.pcm.length / audio.sampleRate;
      const spans = (t.utterances.length ? t.utterances : t.words).map((u) => ({
        start: Math.max(0, u.start - audio.offset),
        end: Math.min(dur, u.end - audio.offset),
        speaker: u.speaker,
      }));
      const chunks = emotionChunks(spans.filter((s) => s.end > s.start), dur);
      // Each chunk's audio (with a little context) is copied and transferred to the worker.
      const sr = audio.sampleRate;
      const segments = chunks.map(([a, b]) => audio.pcm.slice(Math.max(0, Math.floor((a - CHUNK_MARGIN_SECONDS) * sr)), Math.ceil((b + CHUNK_MARGIN_SECONDS) * sr)));
      const out = await ctx.analysis.run<EmotionTaskInput, EmotionTaskOutput>(
        'emotion',
        { segments, model, numThreads: opts.numThreads ?? 1 },
        { transfer: segments.map((x) => x.buffer as ArrayBuffer), signal: ctx.signal },
      );
      const emotions = scoresFromTags(chunks.map(([a, b], i) => ({ tag: out.tags[i] ?? '', seconds: b - a })));
      if (!emotions) {
        return { ...t, warnings: [...t.warnings, { option: 'emotion_detection', message: 'emotion detection: no speech long enough to analyse; the response does not include emotions' }] };
      }
      return { ...t, emotions };
    },
  };
}
