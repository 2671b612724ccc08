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
import { utteranceStage, type UtteranceOptions } from './utterances.ts';
import { redactionStage } from './redaction.ts';

export interface StagesConfig {
  utterances: UtteranceOptions;
}

export function defaultStages(cfg: StagesConfig): RegisteredStage[] {
  return [
    // diarization, punctuation, itn go here, in that order
    redactionStage(),
    utteranceStage(cfg.utterances),
  ];
}

export function createPipeline(cfg: StagesConfig): Pipeline {
  return new Pipeline(defaultStages(cfg));
}
