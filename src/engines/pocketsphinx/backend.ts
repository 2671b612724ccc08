/**
 * Pocketsphinx as a Cochlea `Backend` (runs inside a worker thread; see ../backend.ts).
 *
 * One `ps_decoder_t` costs ~0.23 s to create and ~76 MB of memory (acoustic model, ~33 MB of
 * LM, lexicon tree of the LM-trimmed dictionary), so decoders are pooled per worker: a finished streaming session
 * gives its decoder back (`ps_end_utt`) and the next session reuses it after `ps_start_stream`.
 * Keywords (keywords.ts) are applied when a session takes a decoder and undone in release()
 * before the decoder goes back to the pool: boosted LM unigrams are written back, words added
 * for the session stay in that decoder's dictionary at a negligible probability.
 *
 * Segmentation: decoders run with `-remove_silence no` (see binding.ts) so frame indices are true
 * wall-clock times. Long audio is cut into utterances by the recognizer itself, the way Kaldi /
 * sherpa-onnx endpointing rules do: once an utterance is `minSegmentSeconds` long, it is cut
 * 0.1 s after its last word as soon as its best path shows `pauseSeconds` of trailing non-word
 * frames (audio after the cut is decoded again as the next utterance); at
 * `maxSegmentSeconds` it is cut at the widest inter-word gap and the tail is decoded again as the
 * start of the next utterance. Search memory is thus bounded by one utterance whatever the input
 * length, and word times are offset by the exact sample position where each utterance began.
 *
 * CMN: each batch utterance starts live CMN from the mean cepstrum of the request's own audio
 * (`CmnEstimate`, a separate front-end pass costing ~0.2% of decode time), not from the model's
 * -cmninit. Streaming sessions do the same causally: every accepted sample also goes through the
 * running estimate; the first segment's decoding is held until `streamCmnWarmupSeconds` of audio
 * (or finalize/end) and starts from the mean of that audio; at `streamCmnRefineSeconds` the
 * segment in progress is decoded once more from the better mean; every later segment starts from
 * the mean of the session's last `cmnWindowSeconds` of audio.
 */
import fs from 'node:fs';
import type { Backend, Hypothesis, StreamingDecoder, StreamingDecoderOptions } from '../backend.ts';
import type { EngineInfo, EngineSegment, EngineWord, RecognitionResult, RecognizeOptions } from '../types.ts';
import { ENGINE_SAMPLE_RATE } from '../types.ts';
import { EngineError } from '../errors.ts';
import { concatFloat32 } from '../../util/pcm.ts';
import { KeywordBooster, KeywordPlan, parseKeywords } from './keywords.ts';
import { SpeechGate } from './speech-gate.ts';
import {
  type CepstraStream,
  DEFAULT_PATHS,
  FRAME_RATE,
  lmTrimmedDictionary,
  restrictedDictionary,
  PocketsphinxDecoder,
  SharedLm,
  lmWeightKey,
  baseWord,
  floatToInt16,
  isFillerToken,
  type PocketsphinxOptions,
  type RawSegment,
} from './binding.ts';

export interface PocketsphinxBackendConfig extends PocketsphinxOptions {
  /**
   * Restrict the dictionary to the LM's words (cached copy; same recognition, ~14% less memory
   * and ~30% less init time per decoder). Default true.
   */
  trimDictionary?: boolean;
  /** Where the trimmed dictionary is cached. Default <os.tmpdir()>/cochlea-pocketsphinx. */
  cacheDir?: string;
  /**
   * Idle decoders kept per worker for reuse, the batch and streaming pools together, besides each
   * pool's `warmDecoders` (a batch decoder holds ~49 MB beside the shared LM, a streaming one
   * ~36 MB). Default 2.
   */
  maxIdleDecoders?: number;
  /** Decoders created at init so the first request does not pay ps_init. Default 1. */
  warmDecoders?: number;
  /** Batch: end an utterance at a pause of this many seconds... Default 0.5. */
  pauseSeconds?: number;
  /** ...once it is at least this long. Default 4. */
  minSegmentSeconds?: number;
  /** Batch: hard cap on one utterance (cut at the widest inter-word gap). Default 25. */
  maxSegmentSeconds?: number;
  /** Batch: audio fed per ps_process_raw call, seconds. Default 0.25. */
  chunkSeconds?: number;
  /** Batch: yield to the worker's event loop after this much decoding (ms). Default 50. */
  yieldEveryMs?: number;
  /**
   * Start every utterance's cepstral mean normalization from the mean cepstrum of the audio's
   * own (see `CmnEstimate`) instead of the model's -cmninit: batch from the request, streaming
   * from the session's audio so far (see `streamCmnWarmupSeconds`). Default true.
   */
  cmnEstimate?: boolean;
  /**
   * The CMN estimate averages this much audio (whole seconds). Batch: from the utterance start
   * (near the end of the request the window slides back to keep its length). Streaming: the
   * session's most recent audio when a segment starts. Default 60.
   */
  cmnWindowSeconds?: number;
  /**
   * Streaming (with cmnEstimate): hold off decoding a session's first audio until this many
   * seconds have arrived (or finalize/end forces it), so its first segment starts from the mean
   * of that audio rather than -cmninit. Partials of the first segment come that much later.
   * 0 = no hold (first segment from -cmninit; later segments still use the running estimate).
   * Default 0.5 (with the 2 s re-decode below, as accurate as 1 s and half the decode burst).
   */
  streamCmnWarmupSeconds?: number;
  /**
   * Streaming (with cmnEstimate): when the session's audio reaches this many seconds, the segment
   * in progress is decoded again once from its start with the better CMN estimate (partials may
   * be revised); its audio is kept until then. 0 (or ≤ the warm-up) = never. Default 2: on the
   * 15-clip English corpus streamed finals go from 3.5 WER points behind batch to level with it
   * (a mean over the first second or less is a noisy estimate); the price is one re-decode of at
   * most 2 s of audio at that moment, once per session (0.5–0.8 s of CPU on speech).
   */
  streamCmnRefineSeconds?: number;
  /**
   * Streaming: a CMN mark's re-decode of the segment so far (up to `streamCmnRefineSeconds` of
   * audio, 0.3–0.6 s of CPU) is spread over the worker's next passes, at most this many seconds of
   * the backlog per pass on top of the pass's new audio, so it never holds up the other sessions
   * of the worker (their partials and finalize) for its whole length. Partials keep the last
   * hypothesis until the backlog is decoded; a finalize decodes the rest at once. 0 = decode the
   * backlog in one go. Default 0 (off): same-run A/B capacity benches with 0.5 were mixed (finalize
   * p95 at 4 streams 260 → 194 and 221 → 201 ms; at 6 streams 2 of 5 paired runs better, 3 with lag
   * p95 of 1.4–1.8 s against 0.26–0.64 s); workers counted only 5% more decode calls and 3% more
   * partials with it, so the bad runs are not explained yet (see README, Accuracy).
   */
  streamCatchUpSeconds?: number;
  /**
   * Streaming inSpeech(): the best path counts as "in speech" while its last real word ended
   * less than this many seconds before the newest frame. Default 0.3.
   */
  speechHangoverSeconds?: number;
  /**
   * Keyword boosting (`keywords`): add missing keyword words to the decoder's dictionary with a
   * cmudict or espeak-ng pronunciation and raise their LM unigram, per session (see
   * keywords.ts). Default true; false ignores keywords (and the engine info says so).
   */
  keywordBoost?: boolean;
  /**
   * Extra decoder arguments for streaming sessions only, applied over `args` (e.g. a real-time
   * search profile with tighter beams). Streaming decoders then come from their own idle pool.
   * Merged over STREAM_ARGS (`-maxwpf 10`; `{"-maxwpf":"-1"}` undoes it); `streamVocabulary` (on
   * by default) sets its `-dict` here at init.
   */
  streamArgs?: Record<string, string>;
  /**
   * Streaming sessions search only this many words: the LM's most probable unigrams (their
   * dictionary entries, with `trimDictionary`'s other rules). Less memory and CPU per live session
   * for some accuracy past a point. Debian's en-us LM has 72,547 words; the default, 50,000, cost
   * no accuracy measured (streamed WER over 1,023 words of the shared English sets 46.1% vs 46.7%
   * with the whole vocabulary; the references' out-of-vocabulary rate 2.6% vs 2.5%) and makes a
   * live decoder 36 MB instead of 49 (32 vs 43 MB per session in use with 16 open) and ~20% cheaper
   * to run. 40,000: 31 MB (27 per session), but +0.6 points over those 1,023 words and, on the
   * LibriSpeech and Debian clips whose rarer words it lacks, 23.7% streamed vs 20.8% batch (over
   * the 2-point bound of test/server/wer.test.ts). Batch keeps the whole vocabulary, and so do
   * streaming sessions when the LM has no more words than this. 0: the whole vocabulary.
   */
  streamVocabulary?: number;
  /**
   * Streaming (with cmnEstimate and a warm-up): once earlier sessions of this worker have given
   * their CMN estimate (the mean of their first `streamCmnRefineSeconds`, averaged over the last 8
   * sessions), a new session does not hold its first audio for the warm-up: it decodes at once
   * from that server-wide prior; at the warm-up mark live CMN switches to the session's own mean
   * (no re-decode), and at the refine mark the audio so far is decoded again from the session's
   * own mean (as without the prior). A segment ended within the warm-up is decoded again at its
   * end from the mean of all its audio (as a finalize during the hold); one ended between the
   * warm-up and the refine mark keeps its decode (its first `streamCmnWarmupSeconds` normalised
   * from the prior: the only finals that depend on it). Segments that reach the refine mark, and
   * those ended within the warm-up, decode exactly as without the prior. First partials come up
   * to `streamCmnWarmupSeconds` earlier, no re-decode happens at the warm-up mark, and no finalize
   * waits for a re-decode of more than the warm-up's audio. The first session of a worker still
   * holds. Default true.
   */
  streamCmnPrior?: boolean;
  /**
   * Decoders of a worker search one n-gram LM loaded once per worker (see `SharedLm`) instead of
   * each loading its own copy (33 MB each with Debian's en-us LM). test/engines/shared-lm.slow.ts
   * checks that words, times and confidences are identical (two decoders interleaved chunk by
   * chunk with utterance ends in between, and concurrent batch requests taking turns after every
   * chunk); early on 2026-12-07 a few in-process comparisons differed and the cause was not found
   * (README, Accuracy).
   * The trie LM's only mutable state is a backoff cache keyed by the whole history, i.e. a pure
   * function of its key: 200,000 random bigram/trigram queries scored the same with and without
   * flushing it before each. Sharing was opt-in from 2026-11-29 after a raw mu-law vs WAV
   * comparison differed with it (that comparison's cause, found minutes later, was PCM rounding
   * that differed between the two paths); see the README's Accuracy section for what was
   * measured since.
   * Keyword-boosted sessions (which add words and raise unigrams) always get a decoder with a
   * private LM. Default true.
   */
  shareLm?: boolean;
  /**
   * Streaming: a session hands its decoder back to the worker's pool when a segment ends (once
   * its CMN warm-up and refine marks are behind it, and unless it boosts keywords), and watches
   * its audio with a `SpeechGate` instead of decoding it until speech may have started again;
   * then it takes a decoder and decodes from `streamGatePrerollSeconds` before that onset. A
   * session in silence (listening to the other side of a call) then holds ~1 MB instead of a
   * decoder (~50 MB: the search over the 79k-word lexicon), and its silence costs no decoding.
   * Default true.
   */
  streamReleaseDecoders?: boolean;
  /** See `streamReleaseDecoders`: onset threshold over the session's noise floor. Default 10 dB. */
  streamGateDb?: number;
  /** See `streamReleaseDecoders`: audio decoded before a detected onset. Default 0.5 s. */
  streamGatePrerollSeconds?: number;
  /**
   * Idle decoders beyond `warmDecoders` are freed once unused for this long; decoders handed back
   * between segments (`streamReleaseDecoders`) are kept that long even beyond `maxIdleDecoders`, so
   * sessions taking turns do not pay ps_init (0.3–0.45 s of worker time) at every speech onset.
   * Default 20 s.
   */
  idleDecoderSeconds?: number;
}

const SAMPLES_PER_FRAME = ENGINE_SAMPLE_RATE / FRAME_RATE;
/** Where a pause cut goes: this many frames after the last word's end. */
const CUT_MARGIN_FRAMES = 10;
const LANGUAGES = ['en'];

/** `keywords`: whether `keywords` are honoured (read by the pipeline to warn when not). */
export const POCKETSPHINX_INFO: EngineInfo & { keywords: boolean } = {
  name: 'pocketsphinx',
  languages: LANGUAGES,
  streaming: true,
  wordTimestamps: true,
  wordConfidence: true,
  keywords: true,
};

/** Throws EngineError('unsupported_language') unless the language is English or auto. */
export function checkLanguage(language: string | undefined): void {
  if (language === undefined || language === 'multi') return;
  const base = language.toLowerCase().split(/[-_]/)[0];
  if (!LANGUAGES.includes(base)) {
    throw new EngineError('unsupported_language', `pocketsphinx engine supports only English, not "${language}"`);
  }
}

/** Real words of a decoder segment list, with times relative to the utterance start. */
function toWords(segs: RawSegment[], offsetSeconds: number): EngineWord[] {
  const words: EngineWord[] = [];
  for (const s of segs) {
    if (isFillerToken(s.word)) continue;
    const start = s.startFrame / FRAME_RATE + offsetSeconds;
    const end = (s.endFrame + 1) / FRAME_RATE + offsetSeconds;
    words.push({ word: baseWord(s.word), start: round3(start), end: round3(end), confidence: round3(s.prob) });
  }
  return words;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** End (in frames, exclusive) of the last real word of a best path, or 0 if none. */
function lastWordEndFrame(segs: RawSegment[]): number {
  for (let i = segs.length - 1; i >= 0; i--) {
    if (!isFillerToken(segs[i].word)) return segs[i].endFrame + 1;
  }
  return 0;
}

function hasWords(segs: RawSegment[]): boolean {
  return segs.some((s) => !isFillerToken(s.word));
}

/**
 * Where to cut an over-long utterance: the middle of the widest gap between consecutive real
 * words in its second half (or the start of its last word), in frames from the utterance start.
 */
function cutFrame(segs: RawSegment[], totalFrames: number): number {
  const words = segs.filter((s) => !isFillerToken(s.word));
  let best = -1;
  let bestGap = -1;
  for (let i = 1; i < words.length; i++) {
    const gapStart = words[i - 1].endFrame + 1;
    const gapEnd = words[i].startFrame;
    if (gapEnd < totalFrames / 2) continue;
    const gap = gapEnd - gapStart;
    if (gap > bestGap) {
      bestGap = gap;
      best = Math.floor((gapStart + gapEnd) / 2);
    }
  }
  if (best > 0) return best;
  if (words.length > 1) return words[words.length - 1].startFrame;
  return totalFrames; // one endless word or nothing: no better place than here
}

function joinText(words: EngineWord[]): string {
  return words.map((w) => w.word).join(' ');
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The streaming search profile's defaults. `-maxwpf 10`: at most 10 distinct words end per frame
 * in the backpointer table (pocketsphinx's default: no limit). The lattice a final's best path and
 * word posteriors are computed over is built from that table, so this is what a `finalize` waits
 * for: in-process over 1,023 words of the English sets, the final's own work (ps_end_utt, best
 * path, posteriors) took p50 14 vs 36 ms, p90 27 vs 116 ms, max 101 vs 251 ms, for 46.6% vs 46.1%
 * streamed WER (the LibriSpeech and Debian clips: 20.2% both) and ~9% less CPU.
 */
const STREAM_ARGS: Readonly<Record<string, string>> = { '-maxwpf': '10' };
/** pocketsphinx's own defaults for the flags STREAM_ARGS sets. */
const PS_DEFAULTS: Readonly<Record<string, string>> = { '-maxwpf': '-1' };

export class PocketsphinxBackend implements Backend {
  readonly info: EngineInfo & { keywords: boolean };
  private readonly cfg: Required<Omit<PocketsphinxBackendConfig, keyof PocketsphinxOptions | 'cacheDir'>> &
    PocketsphinxOptions & { cacheDir?: string };
  private readonly idle: PocketsphinxDecoder[] = [];
  /** Idle streaming decoders when `streamArgs` gives them a profile of their own. */
  private readonly idleStream: PocketsphinxDecoder[] = [];
  private readonly streamDecoders = new WeakSet<PocketsphinxDecoder>();
  /** Decoders with an LM of their own (the only ones keyword boosts may change). */
  private readonly privateLm = new WeakSet<PocketsphinxDecoder>();
  /** Recent streaming sessions' CMN estimates (see `streamCmnPrior`), oldest first. */
  private readonly cmnPriors: Float32Array[] = [];
  /** LMs shared by this worker's decoders, by LM weights (`lmWeightKey`). */
  private readonly sharedLms = new Map<string, SharedLm>();
  /** When each idle decoder was released (see trimIdle). */
  private readonly idleSince = new WeakMap<PocketsphinxDecoder, number>();
  private created = 0;
  private live = 0;
  private disposed = false;
  private dictTrimmed = false;
  /** Applies / undoes per-session keyword boosts on pooled decoders (null: keywords ignored). */
  readonly keywords: KeywordBooster | null;

  constructor(config: PocketsphinxBackendConfig = {}) {
    this.cfg = {
      trimDictionary: true,
      maxIdleDecoders: 2,
      warmDecoders: 1,
      pauseSeconds: 0.5,
      minSegmentSeconds: 4,
      maxSegmentSeconds: 25,
      chunkSeconds: 0.25,
      yieldEveryMs: 50,
      speechHangoverSeconds: 0.3,
      cmnEstimate: true,
      cmnWindowSeconds: 60,
      streamCmnWarmupSeconds: 0.5,
      streamCmnRefineSeconds: 2,
      streamCatchUpSeconds: 0,
      keywordBoost: true,
      streamVocabulary: 50000,
      shareLm: true,
      streamCmnPrior: true,
      streamReleaseDecoders: true,
      streamGateDb: 10,
      streamGatePrerollSeconds: 0.5,
      idleDecoderSeconds: 20,
      ...config,
      // Merged, not replaced: a streamArgs of the caller's keeps this default unless it sets it.
      streamArgs: { ...STREAM_ARGS, ...config.streamArgs },
    };
    this.info = { ...POCKETSPHINX_INFO, keywords: this.cfg.keywordBoost };
    // Keyword words outside the (LM-trimmed) dictionary are looked up in the full one first.
    this.keywords = this.cfg.keywordBoost ? new KeywordBooster(config.dict ?? DEFAULT_PATHS.dict) : null;
    if (!(this.cfg.maxSegmentSeconds > this.cfg.minSegmentSeconds)) {
      throw new Error('pocketsphinx: maxSegmentSeconds must be greater than minSegmentSeconds');
    }
    if (this.cfg.cmnEstimate && !(this.cfg.cmnWindowSeconds > 0)) {
      throw new Error('pocketsphinx: cmnWindowSeconds must be positive (or set cmnEstimate false)');
    }
    if (!(this.cfg.streamCmnWarmupSeconds >= 0) || !Number.isFinite(this.cfg.streamCmnWarmupSeconds)) {
      throw new Error('pocketsphinx: streamCmnWarmupSeconds must be a finite number ≥ 0');
    }
    if (!(this.cfg.streamCmnRefineSeconds >= 0) || !Number.isFinite(this.cfg.streamCmnRefineSeconds)) {
      throw new Error('pocketsphinx: streamCmnRefineSeconds must be a finite number ≥ 0');
    }
    if (!Number.isInteger(this.cfg.streamVocabulary) || this.cfg.streamVocabulary < 0) {
      throw new Error('pocketsphinx: streamVocabulary must be a whole number of words ≥ 0 (0: the whole vocabulary)');
    }
  }

  async init(): Promise<void> {
    const paths = { ...DEFAULT_PATHS, ...this.cfg };
    // Needed by both steps below: looked up (cache path, or written) once.
    let trimmed: string | undefined;
    const lmTrimmed = () => (trimmed ??= lmTrimmedDictionary(paths.dict, paths.lm, this.cfg.cacheDir, this.cfg.library));
    if (this.cfg.trimDictionary && !this.dictTrimmed) {
      this.cfg.dict = lmTrimmed();
      this.dictTrimmed = true;
    }
    if (this.cfg.streamVocabulary > 0 && !this.cfg.streamArgs['-dict']) {
      // Streaming decoders come from their own pool (see streamArgs); the LM stays shared. Both
      // files are cached and filtered the same way from the same dictionary, so equal sizes mean
      // the LM has no more words than streamVocabulary: streaming keeps the batch dictionary.
      const dict = restrictedDictionary(paths.dict, paths.lm, this.cfg.streamVocabulary, this.cfg.cacheDir, this.cfg.library);
      if (fs.statSync(dict).size < fs.statSync(lmTrimmed()).size) this.cfg.streamArgs = { ...this.cfg.streamArgs, '-dict': dict };
    }
    for (let i = this.idle.length; i < this.cfg.warmDecoders; i++) this.idle.push(this.newDecoder());
    if (this.streamProfile) {
      for (let i = this.idleStream.length; i < this.cfg.warmDecoders; i++) this.idleStream.push(this.newDecoder(true));
    }
  }

  /** Decoder accounting, for tests and metrics. */
  stats(): { created: number; live: number; idle: number } {
    return { created: this.created, live: this.live, idle: this.idle.length + this.idleStream.length };
  }

  /**
   * True when streaming decoders use a search profile of their own: a `streamArgs` value other
   * than what batch decoders run with (their `args`, else pocketsphinx's own default).
   */
  private get streamProfile(): boolean {
    return Object.entries(this.cfg.streamArgs).some(([k, v]) => (this.cfg.args?.[k] ?? PS_DEFAULTS[k]) !== v);
  }

  /** `privateLm`: load an LM of its own even with `shareLm` (for keyword-boosted sessions). */
  private newDecoder(stream = false, privateLm = false): PocketsphinxDecoder {
    const opts: PocketsphinxOptions = stream ? { ...this.cfg, args: { ...this.cfg.args, ...this.cfg.streamArgs } } : { ...this.cfg };
    if (this.cfg.shareLm && !privateLm) opts.sharedLm = this.sharedLm(opts);
    const d = new PocketsphinxDecoder(opts);
    if (stream) this.streamDecoders.add(d);
    if (!opts.sharedLm) this.privateLm.add(d);
    this.created++;
    return d;
  }

  /** Server-wide (per worker) starting CMN mean for new streaming sessions, or null. */
  cmnPrior(): Float32Array | null {
    const n = this.cmnPriors.length;
    if (!this.cfg.streamCmnPrior || n === 0) return null;
    const out = new Float32Array(this.cmnPriors[0].length);
    for (const m of this.cmnPriors) for (let j = 0; j < out.length; j++) out[j] += m[j] / n;
    return out;
  }

  /** A streaming session's CMN estimate of its first seconds, for later sessions' prior. */
  addCmnPrior(mean: Float32Array): void {
    if (!this.cfg.streamCmnPrior || !mean.every(Number.isFinite)) return;
    if (this.cmnPriors.length > 0 && this.cmnPriors[0].length !== mean.length) this.cmnPriors.length = 0;
    this.cmnPriors.push(Float32Array.from(mean));
    if (this.cmnPriors.length > 8) this.cmnPriors.shift();
  }

  /** The worker's LM for decoders with these options' LM weights, loaded on first use. */
  private sharedLm(opts: PocketsphinxOptions): SharedLm {
    const key = lmWeightKey({ '-lm': opts.lm ?? DEFAULT_PATHS.lm, ...opts.args });
    let lm = this.sharedLms.get(key);
    if (!lm) {
      lm = new SharedLm(opts);
      this.sharedLms.set(key, lm);
    }
    return lm;
  }

  /**
   * Take a decoder from the idle pool (or create one), reset for unrelated audio, with the
   * session's keywords applied (undone by release()). `stream`: for a streaming session (its own
   * pool when `streamArgs` sets a streaming profile). Keyword boosts change the LM (new words,
   * raised unigrams), so with `shareLm` a boosted session gets a decoder with an LM of its own,
   * never one that searches the worker's shared LM.
   */
  acquire(plan?: KeywordPlan, stream = false): PocketsphinxDecoder {
    if (this.disposed) throw new Error('pocketsphinx backend disposed');
    const own = stream && this.streamProfile;
    const pool = own ? this.idleStream : this.idle;
    const boosted = !!plan && !plan.empty && !!this.keywords;
    let d: PocketsphinxDecoder;
    if (boosted && this.cfg.shareLm) {
      const i = pool.findIndex((x) => this.privateLm.has(x));
      d = i >= 0 ? pool.splice(i, 1)[0] : this.newDecoder(own, true);
    } else {
      d = pool.pop() ?? this.newDecoder(own);
    }
    this.live++;
    if (plan && !plan.empty && this.keywords) {
      try {
        this.keywords.apply(d, plan);
      } catch (err) {
        this.release(d);
        throw err;
      }
    }
    return d;
  }

  /**
   * `linger`: a streaming session handing its decoder back between segments (it will want one
   * again soon): the decoder stays idle for `idleDecoderSeconds` even beyond `maxIdleDecoders`.
   */
  release(d: PocketsphinxDecoder, linger = false): void {
    this.live--;
    let reusable = true;
    try {
      if (d.inUtterance) d.endUtt();
      // Undo the session's keyword boosts before anyone else decodes with this decoder.
      if (this.keywords) reusable = this.keywords.restore(d);
    } catch {
      reusable = false;
    }
    const pool = this.streamDecoders.has(d) ? this.idleStream : this.idle;
    // Kept up to `warmDecoders` in its own pool, beyond that while both pools together hold fewer
    // than `maxIdleDecoders` (one pool's warm decoders never make the other's be freed at once).
    const idle = this.idle.length + this.idleStream.length;
    if (reusable && !this.disposed && (linger || pool.length < this.cfg.warmDecoders || idle < this.cfg.maxIdleDecoders)) {
      pool.push(d);
      this.idleSince.set(d, performance.now());
    } else {
      d.free();
    }
    this.trimIdle();
  }

  /**
   * Free idle decoders beyond `warmDecoders` that have not been used for `idleDecoderSeconds`
   * (decoders released beyond `maxIdleDecoders` without `linger` were freed at once).
   */
  trimIdle(): void {
    const now = performance.now();
    for (const pool of [this.idle, this.idleStream]) {
      // Pools are stacks (acquire pops the most recently released): the front idled longest.
      while (pool.length > this.cfg.warmDecoders) {
        const since = this.idleSince.get(pool[0]) ?? 0;
        if (now - since < this.cfg.idleDecoderSeconds * 1000) break;
        pool.shift()!.free();
      }
    }
  }

  /** The session's keyword plan (empty when boosting is off or no keyword is usable). */
  keywordPlan(keywords: readonly string[] | undefined): KeywordPlan {
    return new KeywordPlan(this.keywords ? parseKeywords(keywords) : []);
  }

  async recognize(pcm: Float32Array, options: RecognizeOptions): Promise<RecognitionResult> {
    checkLanguage(options.language);
    const t0 = performance.now();
    const plan = this.keywordPlan(options.keywords);
    const dec = this.acquire(plan);
    try {
      const decoded = await this.decodeLong(dec, pcm, options.signal);
      const words = plan.applyCasing(decoded.words);
      const segments = plan.empty
        ? decoded.segments
        : decoded.segments.map((s) => {
            const w = plan.applyCasing(s.words);
            return { ...s, words: w, text: joinText(w) };
          });
      return {
        text: joinText(words),
        words,
        segments,
        language: 'en',
        duration: pcm.length / ENGINE_SAMPLE_RATE,
        decodeSeconds: (performance.now() - t0) / 1000,
      };
    } finally {
      this.release(dec);
    }
  }

  private async decodeLong(
    dec: PocketsphinxDecoder,
    pcm: Float32Array,
    signal: AbortSignal | undefined,
  ): Promise<{ words: EngineWord[]; segments: EngineSegment[] }> {
    const sr = ENGINE_SAMPLE_RATE;
    const chunk = Math.max(SAMPLES_PER_FRAME, Math.round(this.cfg.chunkSeconds * sr));
    const minSeg = this.cfg.minSegmentSeconds * sr;
    const maxSeg = this.cfg.maxSegmentSeconds * sr;
    const pauseFrames = this.cfg.pauseSeconds * FRAME_RATE;
    const buf = new Int16Array(chunk);
    const words: EngineWord[] = [];
    const segments: EngineSegment[] = [];

    let uttStart = 0;
    let pos = 0;
    let sliceStart = performance.now();

    const finishUtt = (keepBeforeFrame = Infinity) => {
      dec.endUtt();
      const offset = uttStart / sr;
      const segWords = toWords(
        dec.segments().filter((s) => (s.startFrame + s.endFrame + 1) / 2 < keepBeforeFrame),
        offset,
      );
      if (segWords.length > 0) {
        words.push(...segWords);
        segments.push({
          text: joinText(segWords),
          start: segWords[0].start,
          end: segWords[segWords.length - 1].end,
          words: segWords,
        });
      }
    };
    const cmn = this.cfg.cmnEstimate ? await this.estimateCmn(dec, pcm, signal) : null;
    const startUtt = (at: number) => {
      uttStart = at;
      pos = at;
      // A fresh stream per utterance resets the frame counter, so ps_seg_frames are relative
      // to `at` (otherwise 5prealpha keeps counting across utterances).
      dec.startStream(cmn?.meanAt(at) ?? undefined);
      dec.startUtt();
    };

    startUtt(0);
    while (pos < pcm.length) {
      const end = Math.min(pcm.length, pos + chunk);
      dec.processRaw(floatToInt16(pcm.subarray(pos, end), buf));
      pos = end;
      if (pos >= pcm.length) break;

      const len = pos - uttStart;
      if (len >= minSeg) {
        const segs = dec.segments();
        const frames = Math.floor(len / SAMPLES_PER_FRAME);
        const lastEnd = lastWordEndFrame(segs);
        if (hasWords(segs) && frames - lastEnd >= pauseFrames) {
          // The partial best path lags behind a word still being spoken (it only shows words
          // that have exited), so the "pause" may end in speech. Cut just after the last word
          // and decode the rest again as the next utterance.
          const cut = Math.min(frames, lastEnd + CUT_MARGIN_FRAMES);
          finishUtt(cut);
          startUtt(uttStart + cut * SAMPLES_PER_FRAME);
        } else if (len >= maxSeg) {
          const cut = cutFrame(segs, frames);
          finishUtt(cut);
          startUtt(uttStart + cut * SAMPLES_PER_FRAME);
        }
      }
      if (performance.now() - sliceStart >= this.cfg.yieldEveryMs) {
        // Let the worker serve streaming passes and control messages between slices.
        await yieldToLoop();
        if (signal?.aborted) throw new EngineError('aborted', 'recognition aborted');
        sliceStart = performance.now();
      }
    }
    finishUtt();
    return { words, segments };
  }

  /**
   * Cepstra of the whole request (the decoder's own front-end parameters, a separate fe_t), for
   * per-utterance CMN starting points. Runs in blocks and yields like the decode loop.
   */
  private async estimateCmn(
    dec: PocketsphinxDecoder,
    pcm: Float32Array,
    signal: AbortSignal | undefined,
  ): Promise<CmnEstimate | null> {
    const cepSize = dec.cmnSize;
    if (cepSize === null) return null; // CMN state unreachable: keep -cmninit
    const block = 10 * ENGINE_SAMPLE_RATE;
    const buf = new Int16Array(block);
    const est = new CmnEstimate(cepSize, Math.ceil(this.cfg.cmnWindowSeconds));
    let sliceStart = performance.now();
    dec.startCepstra();
    try {
      for (let pos = 0; pos < pcm.length; pos += block) {
        const c = dec.cepstra(floatToInt16(pcm.subarray(pos, Math.min(pcm.length, pos + block)), buf));
        if (c.cepSize !== cepSize) return null; // a front end unlike the one CMN normalizes
        est.add(c.frames);
        if (performance.now() - sliceStart >= this.cfg.yieldEveryMs) {
          await yieldToLoop();
          if (signal?.aborted) throw new EngineError('aborted', 'recognition aborted');
          sliceStart = performance.now();
        }
      }
    } finally {
      dec.endCepstra();
    }
    return est;
  }

  createDecoder(options: StreamingDecoderOptions): StreamingDecoder {
    checkLanguage(options.language);
    return new PocketsphinxStreamingDecoder(this, this.keywordPlan(options.keywords), {
      hangoverSeconds: this.cfg.speechHangoverSeconds,
      cmnWindowSeconds: this.cfg.cmnEstimate ? this.cfg.cmnWindowSeconds : 0,
      cmnWarmupSeconds: this.cfg.streamCmnWarmupSeconds,
      cmnRefineSeconds: this.cfg.streamCmnRefineSeconds,
      catchUpSeconds: this.cfg.streamCatchUpSeconds,
      pauseSeconds: this.cfg.pauseSeconds,
      minSegmentSeconds: this.cfg.minSegmentSeconds,
      maxSegmentSeconds: this.cfg.maxSegmentSeconds,
      chunkSeconds: this.cfg.chunkSeconds,
      releaseBetweenSegments: this.cfg.streamReleaseDecoders,
      gateDb: this.cfg.streamGateDb,
      gatePrerollSeconds: this.cfg.streamGatePrerollSeconds,
    });
  }

  /** Each decoder decodes on its own: the worker may serve messages between them. */
  readonly independentDecoders = true;

  decodeReady(decoders: StreamingDecoder[]): void {
    for (const d of decoders) (d as PocketsphinxStreamingDecoder).decode();
    this.trimIdle();
  }

  dispose(): void {
    this.disposed = true;
    for (const d of this.idle.splice(0)) d.free();
    for (const d of this.idleStream.splice(0)) d.free();
    for (const lm of this.sharedLms.values()) lm.release(); // live decoders keep their reference
    this.sharedLms.clear();
  }
}

/**
 * Batch cepstral mean of a request's audio. Sphinx models are trained with per-utterance batch
 * CMN (feat.params -cmn batch), but 5prealpha only applies batch CMN when a whole utterance is
 * given in one ps_process_raw call and otherwise switches to live CMN, which starts from
 * -cmninit and moves only every few seconds. On audio whose mean is far from -cmninit
 * (band-limited telephony: C1 ≈ +34 against -5) the first seconds, i.e. all of a short clip,
 * are decoded with the wrong normalization. Starting live CMN from this estimate gives the search
 * batch-normalized features from the first frame while live CMN still adapts within long
 * utterances. Written here because pocketsphinx exposes no batch-CMN entry point for chunked input.
 */
export class CmnEstimate {
  /** Per-second sums of cepstra (FRAME_RATE frames a block): O(13 doubles) per second of audio. */
  private sums: Float64Array;
  private counts: Int32Array;
  private nFrames = 0;
  private readonly cache = new Map<number, Float32Array | null>();

  constructor(
    private readonly cepSize: number,
    /** Window length in blocks (seconds). */
    private readonly windowBlocks: number,
  ) {
    this.sums = new Float64Array(64 * cepSize);
    this.counts = new Int32Array(64);
  }

  /** Append consecutive frames (row-major, cepSize each). */
  add(frames: Float32Array): void {
    const d = this.cepSize;
    const n = Math.floor(frames.length / d);
    for (let i = 0; i < n; i++) {
      const b = Math.floor(this.nFrames / FRAME_RATE);
      if (b >= this.counts.length) this.grow();
      for (let j = 0; j < d; j++) this.sums[b * d + j] += frames[i * d + j];
      this.counts[b]++;
      this.nFrames++;
    }
    this.cache.clear();
  }

  private grow(): void {
    const sums = new Float64Array(this.sums.length * 2);
    sums.set(this.sums);
    const counts = new Int32Array(this.counts.length * 2);
    counts.set(this.counts);
    this.sums = sums;
    this.counts = counts;
  }

  /** Mean cepstrum for an utterance starting at `sample` (16 kHz), or null without frames. */
  meanAt(sample: number): Float32Array | null {
    const nBlocks = Math.ceil(this.nFrames / FRAME_RATE);
    if (nBlocks === 0) return null;
    const w = Math.max(1, this.windowBlocks);
    const from = Math.max(0, Math.min(Math.floor(sample / SAMPLES_PER_FRAME / FRAME_RATE), nBlocks - w));
    if (this.cache.has(from)) return this.cache.get(from)!;
    const d = this.cepSize;
    const sum = new Float64Array(d);
    let n = 0;
    for (let b = from; b < Math.min(nBlocks, from + w); b++) {
      for (let j = 0; j < d; j++) sum[j] += this.sums[b * d + j];
      n += this.counts[b];
    }
    const mean = n > 0 ? Float32Array.from(sum, (x) => x / n) : null;
    this.cache.set(from, mean);
    return mean;
  }
}

const EMPTY: Hypothesis = { text: '', words: [] };

export interface StreamingDecoderConfig {
  /** See `speechHangoverSeconds`. */
  hangoverSeconds: number;
  /** Running CMN estimate window (seconds); 0 = no estimate, every segment starts at -cmninit. */
  cmnWindowSeconds: number;
  /** See `streamCmnWarmupSeconds`. */
  cmnWarmupSeconds: number;
  /** See `streamCmnRefineSeconds`. */
  cmnRefineSeconds: number;
  /** See `streamCatchUpSeconds`. */
  catchUpSeconds: number;
  /** Utterance cuts inside a segment, as in batch: see the backend options of the same names. */
  pauseSeconds: number;
  minSegmentSeconds: number;
  maxSegmentSeconds: number;
  chunkSeconds: number;
  /** See `streamReleaseDecoders` / `streamGateDb` / `streamGatePrerollSeconds`. */
  releaseBetweenSegments: boolean;
  gateDb: number;
  gatePrerollSeconds: number;
}

/**
 * One streaming segment decoder over a pooled ps_decoder_t. Word times are relative to the first
 * sample accepted since creation / the last endSegment(). Mid-utterance hypotheses come from the
 * backpointer table, whose words carry no posterior (confidence 1); final words get lattice
 * posteriors.
 *
 * Inside one segment (the host's endpointing decides segments), long audio is cut into
 * pocketsphinx utterances exactly like batch `decodeLong` does (pause / max-length cuts checked
 * every `chunkSeconds` from the utterance start, the audio after a cut decoded again), so a
 * streamed final is decoded like the batch transcript of the same audio.
 *
 * CMN, causally: every accepted sample also goes through the session's own front end into a
 * running `CmnEstimate`. The session's first audio is held (not decoded) until `cmnWarmupSeconds`
 * of it have arrived, or endSegment() forces it; decoding then starts live CMN from the mean of
 * exactly that audio. When the session's audio reaches `cmnRefineSeconds`, the segment in
 * progress is decoded again from its start with the better mean (partials may be revised); a
 * segment ended before that keeps its decode, so finalize never waits for a re-decode of decoded
 * audio. Every later utterance starts from the mean of the session's most recent
 * `cmnWindowSeconds` of audio. All decisions depend on sample counts only
 * (chunks are split at the exact sample of each mark), never on how the audio was chunked.
 *
 * Between segments (`releaseBetweenSegments`, once the marks are behind): the decoder goes back to
 * the pool at endSegment(); the audio is only observed (CMN estimate, `SpeechGate`) and the last
 * `gatePrerollSeconds` of it held until an onset, when a pooled decoder decodes the pre-roll and
 * what follows; `segSkip` counts the samples of the segment never decoded, for word times.
 */
export class PocketsphinxStreamingDecoder implements StreamingDecoder {
  /**
   * Taken from the backend's pool at the first audio, so idle sessions hold no decoder; with
   * `releaseBetweenSegments`, handed back when a segment ends and taken again at the next
   * speech onset (null meanwhile: the session is "gated").
   */
  private dec: PocketsphinxDecoder | null = null;
  /** True once the first decoder was taken (CMN estimate, marks and front end set up). */
  private initialized = false;
  /** The session's own front end for the CMN estimate (outlives the decoders it borrows). */
  private fe: CepstraStream | null = null;
  /** Coefficients per cepstrum of the decoders' live CMN (the estimate's size). */
  private cmnDim = 0;
  /** Watches the audio while gated (null when decoders are never released). */
  private readonly gate: SpeechGate | null;
  /** Audio held while gated, at most `gatePrerollSeconds` of it (decoded when speech starts). */
  private preroll: Float32Array[] = [];
  private prerollLen = 0;
  /** Samples at the start of the current segment never given to a decoder (gated silence). */
  private segSkip = 0;
  private freed = false;
  private pending: Float32Array[] = [];
  private buf = new Int16Array(4096);
  private hyp: Hypothesis = EMPTY;
  /** Best path of the current utterance (frames relative to `uttStart`). */
  private segs: RawSegment[] = [];
  private readonly hangoverFrames: number;
  /** Running cepstral mean of the session's audio; null when disabled or unavailable. */
  private est: CmnEstimate | null = null;
  /** Session samples fed to the estimate. */
  private observed = 0;
  /** Session sample counts at which the estimate is applied: warm-up end, then refinements. */
  private marks: number[] = [];
  /** False while the first audio is held for the warm-up. */
  private started = false;
  /** Until this session sample count, decoding runs from the worker's CMN prior (see constructor). */
  private provisionalUntil = 0;
  /** Session sample count at which live CMN switches from the prior to the session's own mean (0 = none). */
  private switchAt = 0;
  /** Session sample count at which its CMN estimate goes into the worker's prior (0 = done/never). */
  private priorAt = 0;
  /** Samples of the current segment decoded (or held) so far. */
  private segPos = 0;
  /** Where the current pocketsphinx utterance starts in the segment, and its audio since. */
  private uttStart = 0;
  private uttAudio: Float32Array[] = [];
  /** Words of the segment's earlier utterances (times relative to the segment start). */
  private committed: EngineWord[] = [];
  /** The whole segment's audio, kept while a CMN mark may still re-decode it (else null). */
  private segAudio: Float32Array[] | null = null;
  /**
   * Observed audio (and live-CMN switches, in stream order) not yet fed to the decoder: a CMN
   * mark's re-decode is worked off over several passes (see `streamCatchUpSeconds`).
   */
  private backlog: (Float32Array | { cmn: Float32Array })[] = [];
  private readonly sr = ENGINE_SAMPLE_RATE;

  constructor(
    private readonly backend: PocketsphinxBackend,
    /** The session's keywords, applied when the decoder is taken from the pool. */
    private readonly plan: KeywordPlan,
    private readonly cfg: StreamingDecoderConfig,
  ) {
    this.hangoverFrames = cfg.hangoverSeconds * FRAME_RATE;
    // Keyword-boosted sessions keep their decoder: boosts are applied per acquire (a lexicon rebuild).
    this.gate =
      cfg.releaseBetweenSegments && plan.empty
        ? new SpeechGate({ thresholdDb: cfg.gateDb, floorSeconds: 3, minDbfs: -70 })
        : null;
  }

  private get d(): PocketsphinxDecoder {
    if (this.freed) throw new Error('streaming decoder already freed');
    if (!this.dec) {
      const d = this.backend.acquire(this.plan, true);
      this.dec = d;
      if (this.initialized) {
        // Back from the gate: live CMN from the session's recent audio.
        d.startStream(this.recentMean());
        return d;
      }
      this.initialized = true;
      const cepSize = this.cfg.cmnWindowSeconds > 0 ? d.cmnSize : null;
      if (cepSize !== null) {
        this.est = new CmnEstimate(cepSize, Math.ceil(this.cfg.cmnWindowSeconds));
        this.cmnDim = cepSize;
        this.fe = d.cepstraStream();
        this.fe.start();
        const warm = Math.round(this.cfg.cmnWarmupSeconds * this.sr);
        const refine = Math.round(this.cfg.cmnRefineSeconds * this.sr);
        // With a prior from this worker's recent sessions, no hold: decode from it at once.
        // The warm-up mark stays: there the audio so far is decoded again from the session's own
        // mean exactly as after a hold, so finals never depend on the prior (or on earlier sessions).
        const prior = warm > 0 ? this.backend.cmnPrior() : null;
        if (prior && prior.length === cepSize) {
          // No re-decode at the warm-up mark (it cost 140–200 ms of worker time right at a typical
          // speech onset and delayed the first partial): there the live CMN switches to the
          // session's own mean, and the refine mark decodes everything again from it. A segment
          // ended within the warm-up is decoded again at its end from the mean of all its audio
          // (≤ the warm-up's worth: cheap), as after a forced end of the hold; one ended between
          // the warm-up and the refine mark keeps its decode, so a short first turn's finalize
          // never waits for a re-decode.
          this.started = true;
          this.provisionalUntil = warm;
          if (refine > warm) this.switchAt = warm;
          d.startStream(prior);
          this.marks.push(Math.max(warm, refine));
        } else {
          if (warm > 0) this.marks.push(warm);
          if (refine > warm) this.marks.push(refine);
        }
        this.priorAt = Math.max(warm, refine);
      }
      if (this.marks.length > 0) this.segAudio = [];
      if (!this.started && !(this.est && this.cfg.cmnWarmupSeconds > 0)) {
        this.started = true;
        d.startStream();
      }
    }
    return this.dec;
  }

  accept(pcm: Float32Array): void {
    if (this.freed) throw new Error('streaming decoder already freed');
    if (pcm.length > 0) this.pending.push(pcm);
  }

  private int16(pcm: Float32Array): Int16Array {
    if (this.buf.length < pcm.length) this.buf = new Int16Array(pcm.length);
    return floatToInt16(pcm, this.buf);
  }

  /** Add audio to the running CMN estimate. */
  private observe(pcm: Float32Array): void {
    this.observed += pcm.length;
    if (!this.est || !this.fe) return;
    const c = this.fe.process(this.int16(pcm));
    if (c.cepSize !== this.cmnDim) {
      this.est = null; // a front end unlike the one CMN normalizes: keep -cmninit
      return;
    }
    this.est.add(c.frames);
  }

  /** Mean of the most recent window of the session's audio (everything observed so far). */
  private recentMean(): Float32Array | undefined {
    // meanAt() of a position past the end slides the window back to the last cmnWindowSeconds.
    return this.est?.meanAt(Number.MAX_SAFE_INTEGER) ?? undefined;
  }

  /** Decode audio of the current utterance, checking for cuts every chunkSeconds (as batch). */
  private feed(d: PocketsphinxDecoder, pcm: Float32Array): void {
    const chunk = Math.max(SAMPLES_PER_FRAME, Math.round(this.cfg.chunkSeconds * this.sr));
    let p = pcm;
    while (p.length > 0) {
      const rel = this.segPos - this.uttStart;
      const head = p.subarray(0, Math.min(p.length, (Math.floor(rel / chunk) + 1) * chunk - rel));
      p = p.subarray(head.length);
      this.uttAudio.push(head);
      if (!d.inUtterance) d.startUtt();
      d.processRaw(this.int16(head));
      this.segPos += head.length;
      if ((this.segPos - this.uttStart) % chunk === 0) this.maybeCut(d);
    }
  }

  /** Batch decodeLong's cut rules, at a chunk boundary of the current utterance. */
  private maybeCut(d: PocketsphinxDecoder): void {
    const len = this.segPos - this.uttStart;
    if (len < this.cfg.minSegmentSeconds * this.sr) return;
    const segs = d.segments();
    const frames = Math.floor(len / SAMPLES_PER_FRAME);
    const lastEnd = lastWordEndFrame(segs);
    let cut: number;
    if (hasWords(segs) && frames - lastEnd >= this.cfg.pauseSeconds * FRAME_RATE) {
      cut = Math.min(frames, lastEnd + CUT_MARGIN_FRAMES);
    } else if (len >= this.cfg.maxSegmentSeconds * this.sr) {
      cut = cutFrame(segs, frames);
    } else {
      return;
    }
    d.endUtt();
    this.committed.push(
      ...toWords(
        d.segments().filter((s) => (s.startFrame + s.endFrame + 1) / 2 < cut),
        (this.segSkip + this.uttStart) / this.sr,
      ),
    );
    this.restartUtt(d, cut * SAMPLES_PER_FRAME);
  }

  /**
   * Start a fresh utterance `skip` samples into the current one's audio, from the current CMN
   * estimate, and decode the audio from there on again.
   */
  private restartUtt(d: PocketsphinxDecoder, skip: number): void {
    const audio = concatFloat32(this.uttAudio).subarray(skip);
    this.uttStart += skip;
    this.segPos = this.uttStart;
    this.uttAudio = [];
    d.startStream(this.recentMean());
    this.feed(d, audio);
  }

  /**
   * Decode the whole current segment again from its start (its audio is kept while CMN marks
   * remain), from the current estimate.
   */
  private restartSegment(d: PocketsphinxDecoder): void {
    this.started = true;
    const audio = concatFloat32(this.segAudio ?? []);
    if (this.marks.length === 0) this.segAudio = null;
    else this.segAudio = audio.length > 0 ? [audio] : [];
    this.committed = [];
    this.uttStart = 0;
    this.segPos = 0;
    this.uttAudio = [];
    d.startStream(this.recentMean());
    // Everything observed in the segment is in `audio`: queued audio and CMN switches are superseded.
    this.backlog = audio.length > 0 ? [audio] : [];
  }

  /** Feed up to `budget` samples of the backlog to the decoder; true when none is left. */
  private drain(d: PocketsphinxDecoder, budget: number): boolean {
    while (this.backlog.length > 0) {
      const item = this.backlog[0];
      if (!(item instanceof Float32Array)) {
        this.backlog.shift();
        d.setCmnMean(item.cmn);
        continue;
      }
      if (budget <= 0) return false;
      const part = item.length <= budget ? item : item.subarray(0, budget);
      if (part === item) this.backlog.shift();
      else this.backlog[0] = item.subarray(budget);
      budget -= part.length;
      this.feed(d, part);
    }
    return true;
  }

  /** True while a re-decode backlog is waiting for the next pass (the host schedules one). */
  hasBacklog(): boolean {
    return this.backlog.length > 0;
  }

  /**
   * Feed everything accepted so far (and, unless `all`, at most `catchUpSeconds` of a re-decode
   * backlog on top); called from Backend.decodeReady.
   */
  decode(all = false): void {
    if (this.pending.length === 0 && this.backlog.length === 0) return;
    if (!this.initialized) void this.d; // the session's first audio: take a decoder, set up CMN
    let fresh = 0;
    for (let p of this.pending) {
      while (p.length > 0) {
        const mark = this.marks.length > 0 ? this.marks[0] : Infinity;
        const head = p.subarray(0, Math.min(p.length, mark - this.observed, this.switchAt > 0 ? this.switchAt - this.observed : Infinity));
        p = p.subarray(head.length);
        this.observe(head);
        const onset = this.gate ? this.gate.push(head) : -1;
        this.segAudio?.push(head);
        if (this.started && !this.dec) {
          // Gated: hold a pre-roll until speech may have started, then decode from there.
          if (onset < 0) {
            this.hold(head);
          } else {
            this.hold(head.subarray(0, onset));
            void this.d;
            this.backlog.push(...this.preroll, head.subarray(onset));
            fresh += this.prerollLen + head.length - onset;
            this.preroll = [];
            this.prerollLen = 0;
          }
        } else if (this.started) {
          this.backlog.push(head);
          fresh += head.length;
        }
        if (this.observed >= mark) {
          this.marks.shift();
          this.restartSegment(this.d);
        }
        if (this.switchAt > 0 && this.observed >= this.switchAt) {
          this.switchAt = 0;
          const m = this.recentMean();
          if (m) this.backlog.push({ cmn: m });
        }
        if (this.priorAt > 0 && this.observed >= this.priorAt) {
          this.priorAt = 0;
          const m = this.recentMean();
          if (m) this.backend.addCmnPrior(m);
        }
      }
    }
    this.pending = [];
    if (!this.started) return; // still warming up: nothing decoded yet
    const d = this.dec;
    if (!d) return; // gated: nothing to decode
    const catchUp = Math.round(this.cfg.catchUpSeconds * this.sr);
    // Until the backlog is worked off, partials keep the last hypothesis (the decoder's is of
    // the re-decode's first part only).
    if (!this.drain(d, all || catchUp <= 0 ? Infinity : fresh + catchUp)) return;
    this.segs = d.segments();
    const words = this.plan.applyCasing([...this.committed, ...toWords(this.segs, (this.segSkip + this.uttStart) / this.sr)]);
    this.hyp = { text: joinText(words), words };
  }

  /** Keep gated audio as pre-roll; what falls out of it is skipped (never decoded). */
  private hold(pcm: Float32Array): void {
    if (pcm.length > 0) {
      this.preroll.push(pcm);
      this.prerollLen += pcm.length;
    }
    let excess = this.prerollLen - Math.round(this.cfg.gatePrerollSeconds * this.sr);
    while (excess > 0) {
      const a = this.preroll[0];
      const drop = Math.min(a.length, excess);
      if (drop === a.length) this.preroll.shift();
      else this.preroll[0] = a.subarray(drop);
      this.prerollLen -= drop;
      this.segSkip += drop;
      excess -= drop;
    }
  }

  hypothesis(): Hypothesis {
    return this.hyp;
  }

  inSpeech(): boolean {
    if (!this.dec) return false; // gated (or nothing decoded yet)
    // Behind on a re-decode: the speech state is not known yet; never let it end the segment.
    if (this.backlog.length > 0) return true;
    const frames = Math.floor((this.segPos - this.uttStart) / SAMPLES_PER_FRAME);
    if (!hasWords(this.segs)) {
      // Just after an internal cut the new utterance shows no word yet even if the "pause" it
      // was cut at ended in speech (partial paths lag); report speech for as long as a pause
      // plus the hangover so the host's endpointer does not end the segment inside that word.
      return this.uttStart > 0 && frames < this.cfg.pauseSeconds * FRAME_RATE + this.hangoverFrames;
    }
    return frames - lastWordEndFrame(this.segs) < this.hangoverFrames;
  }

  endSegment(): Hypothesis {
    if (this.freed) throw new Error('streaming decoder already freed');
    this.decode(true);
    const d = this.dec;
    if (!d) {
      // No audio ever arrived, or gated all segment long: its audio was never speech.
      this.preroll = [];
      this.prerollLen = 0;
      this.segSkip = 0;
      return EMPTY;
    }
    // finalize/end before the warm-up completed: decode the held audio from the mean of all of it.
    // (also when decoding so far ran from the worker's prior: the final comes from the session's own mean.)
    if (!this.started || this.observed < this.provisionalUntil) {
      this.provisionalUntil = 0; // from here on exactly as after a forced end of the hold
      this.switchAt = 0;
      this.restartSegment(d);
    }
    this.drain(d, Infinity);
    let words = this.committed;
    if (d.inUtterance) {
      d.endUtt();
      words = [...words, ...toWords(d.segments(), (this.segSkip + this.uttStart) / this.sr)];
    }
    words = this.plan.applyCasing(words);
    const result = words.length > 0 ? { text: joinText(words), words } : EMPTY;
    this.hyp = EMPTY;
    this.segs = [];
    this.committed = [];
    this.segPos = 0;
    this.uttStart = 0;
    this.uttAudio = [];
    this.segAudio = this.marks.length > 0 ? [] : null;
    this.segSkip = 0;
    if (this.gate && this.marks.length === 0 && this.switchAt === 0 && this.priorAt === 0 && this.backlog.length === 0) {
      // Between segments the session needs no decoder: back to the pool until speech starts.
      this.dec = null;
      this.backend.release(d, true);
    } else {
      // Next segment's frames count from 0 again (see binding.ts on 5prealpha frame numbering);
      // its live CMN starts from the session's recent audio.
      d.startStream(this.recentMean());
    }
    return result;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.pending = [];
    this.backlog = [];
    this.uttAudio = [];
    this.segAudio = null;
    this.preroll = [];
    this.fe?.free();
    this.fe = null;
    const d = this.dec;
    this.dec = null;
    if (!d) return;
    this.backend.release(d);
  }
}

export function createBackend(config: unknown): Backend {
  return new PocketsphinxBackend((config ?? {}) as PocketsphinxBackendConfig);
}
