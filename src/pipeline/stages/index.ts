/**
 * The stage list, in processing order. Order matters:
 *   1. diarization    (audio + word times → speaker per word)
 *   2. punctuation    (sentence marks and casing on words)
 *   3. itn            (spoken numbers → written; merges words, keeps times)
 *   4. redaction      (PII/PCI → placeholders; after ITN, as Pulse: ITN → redaction)
 *   5. utterances     (split at pauses, sentence ends and speaker changes; text from final words)
 *   6. gender, emotion (audio analysis, per speaker where diarized)
 * Each stage plugs in here; nothing else in the server knows which stages exist.
 */
import { Pipeline, type RegisteredStage } from '../pipeline.ts';
import { diarizationStage, type DiarizationStageOptions } from './diarization.ts';
import { utteranceStage, type UtteranceOptions } from './utterances.ts';
import { genderStage } from './gender.ts';
import { emotionStage, type EmotionStageOptions } from './emotion.ts';
import { punctuationStage, type PunctuationStageOptions } from './punctuation.ts';
import { itnStage } from './itn.ts';
import { redactionStage } from './redaction.ts';

export interface StagesConfig {
  utterances: UtteranceOptions;
  /** Punctuation models and local thresholds (default: installed catalog models, default rules). */
  punctuation?: PunctuationStageOptions;
  /** Where the emotion stage looks for SenseVoice (default: the models directory). */
  emotion?: EmotionStageOptions;
  /** Diarization: VAD model, neural models when installed, tuning (all optional). */
  diarization?: DiarizationStageOptions;
}

export function defaultStages(cfg: StagesConfig): RegisteredStage[] {
  return [
    diarizationStage(cfg.diarization), // 1.
    punctuationStage(cfg.punctuation), // 2.
    itnStage(), // 3.
    redactionStage(), // 4.
    utteranceStage(cfg.utterances), // 5.
    genderStage(), // 6.
    emotionStage(cfg.emotion),
  ];
}

export function createPipeline(cfg: StagesConfig): Pipeline {
  return new Pipeline(defaultStages(cfg));
}
