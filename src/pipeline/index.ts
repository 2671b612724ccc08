/**
 * Words + audio + options → one typed transcript, through ordered stages (see `stages/index.ts`).
 * Batch requests and real-time finals both run here; `server/` only formats the result.
 */
export * from './types.ts';
export { Pipeline, baseTranscript, joinWords, requestedOptions, type RecognizerOutput, type RegisteredStage, type Plan } from './pipeline.ts';
export { createPipeline, defaultStages, type StagesConfig } from './stages/index.ts';
export { splitUtterances, type UtteranceOptions } from './stages/utterances.ts';
export { AnalysisPool, InlineAnalysis } from './analysis/pool.ts';
