/**
 * Thin koffi binding over Debian's libpocketsphinx.so.3 (pocketsphinx 0.8+5prealpha C API, with
 * sphinxbase's libsphinxbase.so.3 for config, logging and logmath).
 *
 * Only what Cochlea needs is bound: config from an argv (`cmd_ln_parse_r` + `ps_args()`), the
 * decoder life cycle, raw-PCM processing, the hypothesis and the segment iterator (word, frames,
 * posterior). `PocketsphinxDecoder` wraps one `ps_decoder_t` and is NOT thread-safe: use it from
 * one thread only (Cochlea runs it inside worker threads; see ../worker-host.ts).
 *
 * Timing: every decoder is created with `-remove_silence no`. In 5prealpha the front end's VAD
 * drops non-speech frames *before* the search when remove_silence is on, so `ps_seg_frames()`
 * counts only kept frames and word times drift earlier by the length of every removed pause.
 * With it off, frame n of an utterance is exactly n/frate seconds after the first sample fed
 * since `ps_start_utt()`, and the caller (backend.ts) segments long audio itself. The VAD still
 * runs, so `ps_get_in_speech()` remains a usable speech signal.
 */
import koffi, { type LibraryHandle } from 'koffi';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';

export interface PocketsphinxPaths {
  /** Acoustic model directory (-hmm). */
  hmm: string;
  /** Language model (-lm), ARPA or binary. */
  lm: string;
  /** Pronunciation dictionary (-dict). */
  dict: string;
}

export const DEFAULT_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
export const DEFAULT_PATHS: PocketsphinxPaths = {
  hmm: `${DEFAULT_MODEL_DIR}/en-us`,
  lm: `${DEFAULT_MODEL_DIR}/en-us.lm.bin`,
  dict: `${DEFAULT_MODEL_DIR}/cmudict-en-us.dict`,
};

export interface PocketsphinxOptions extends Partial<PocketsphinxPaths> {
  /** Shared library to load. Default: libpocketsphinx.so.3 (found by the dynamic loader). */
  library?: string;
  /** Extra decoder arguments, e.g. { '-beam': '1e-60' }. Applied after Cochlea's defaults. */
  args?: Record<string, string>;
  /**
   * Search this already loaded n-gram LM instead of reading `lm` (see `SharedLm`). Must come
   * from a `SharedLm` of the same thread, loaded with the same -lw/-wip/-uw as these `args`.
   */
  sharedLm?: SharedLm;
}

/** pocketsphinx's name for the search ps_init builds from -lm (PS_DEFAULT_SEARCH). */
const DEFAULT_SEARCH = '_default';

/** The decoder arguments Cochlea uses (model paths, front end, search), with `args` over them. */
function decoderArgs(options: PocketsphinxOptions): Record<string, string> {
  const paths = { ...DEFAULT_PATHS, ...options };
  for (const [k, p] of Object.entries({ hmm: paths.hmm, lm: paths.lm, dict: paths.dict })) {
    if (!fs.existsSync(p)) throw new Error(`pocketsphinx ${k} not found: ${p} (install pocketsphinx-en-us)`);
  }
  const args: Record<string, string> = {
    '-hmm': paths.hmm,
    '-lm': paths.lm,
    '-dict': paths.dict,
    '-samprate': '16000',
    '-frate': String(FRAME_RATE),
    // See the module comment: keep every frame so frame indices are wall-clock times.
    '-remove_silence': 'no',
    // Lattice best path → posteriors for ps_seg_prob (default yes, spelled out on purpose).
    '-bestpath': 'yes',
    // No second (flat-lexicon) pass: ps_end_utt would re-search the whole utterance, ~60 ms
    // per final at the median (a streaming finalize pays it in full). Measured on 747 words of
    // English sets, corpus WER is no worse without it (38.5% vs 39.3%; LibriSpeech 20.8% vs
    // 28.6%, LJSpeech 28.0% vs 26.5%) and batch decoding is ~20% faster.
    '-fwdflat': 'no',
    ...options.args,
  };
  delete args['-logfn']; // see loadPocketsphinx(): unsafe with decoders in several threads
  return args;
}

/** The LM weights ngram_model_read applies from a config: decoders may share an LM only if these match. */
export function lmWeightKey(args: Record<string, string> | undefined): string {
  return ['-lw', '-wip', '-uw', '-lm'].map((k) => args?.[k] ?? '').join('|');
}

/**
 * One n-gram LM read once and searched by many decoders of the same thread. The LM (Debian's
 * en-us.lm.bin: a 27 MB trie read into memory) is otherwise loaded by every ps_init, and is the
 * largest part of a decoder's memory.
 *
 * Safe because: ps_set_lm wraps the model in a per-decoder ngram_model_set, which retains it
 * (ngram_model_set_init: `lms[i] = ngram_model_retain(models[i])`), so freeing this handle or a
 * decoder never frees it under the others; the decoder-specific state (word-id maps, history maps)
 * lives in that per-decoder set. The trie's only mutable state is a history/back-off cache
 * (lm_trie_score) that is checked against the requested history before use, so decoders that
 * interleave calls on one thread only miss the cache, but concurrent calls from two threads would
 * race: share within a worker thread only (each worker builds its own). Weights (-lw, -wip, -uw)
 * are applied to the model itself, so only decoders with the same weights may share one, and
 * nothing may add words to a shared LM (ps_add_word would add them for every decoder).
 */
export class SharedLm {
  private lm: Ptr | null;
  /** The LM keeps a pointer to this log-math table; it lives as long as this object's thread. */
  private readonly lmath: Ptr;

  constructor(options: PocketsphinxOptions = {}) {
    const api = loadPocketsphinx(options.library);
    const args = decoderArgs(options);
    const argv = Object.entries(args).flat();
    // The decoder's own config, so ngram_model_read applies -lw/-wip/-uw exactly as ps_init would.
    const cfg = api.cmd_ln_parse_r(null, api.ps_args(), argv.length, argv, 1);
    if (!cfg) throw new Error(`pocketsphinx: invalid configuration ${JSON.stringify(args)}`);
    try {
      const lmath = api.logmath_init(Number(args['-logbase'] ?? 1.0001), 0, 0);
      if (!lmath) throw new Error('sphinxbase: logmath_init failed');
      this.lmath = lmath;
      const NGRAM_AUTO = 0;
      this.lm = api.ngram_model_read(cfg, args['-lm'], NGRAM_AUTO, lmath);
      if (!this.lm) throw new Error(`pocketsphinx: cannot read language model ${args['-lm']}`);
    } finally {
      api.cmd_ln_free_r(cfg);
    }
    this.key = lmWeightKey(args);
  }

  readonly key: string;

  get handle(): Ptr {
    if (this.lm === null) throw new Error('shared LM already released');
    return this.lm;
  }

  /**
   * Drop this handle's reference; decoders that use the LM keep it alive. The log-math table is
   * deliberately not freed (a few hundred bytes per thread): live decoders' LM may still use it.
   */
  release(): void {
    if (this.lm === null) return;
    loadPocketsphinx().ngram_model_free(this.lm);
    this.lm = null;
  }
}

/** Frames per second of the default front end (-frate 100). */
export const FRAME_RATE = 100;

export interface RawSegment {
  /** Token as the decoder reports it, e.g. "hello", "<sil>", "[NOISE]", "read(2)". */
  word: string;
  startFrame: number;
  /** Inclusive last frame. */
  endFrame: number;
  /** Posterior probability in 0..1 (1 when the decoder has none, e.g. mid-utterance). */
  prob: number;
}

type Ptr = bigint;

interface Api {
  err_set_logfp(fp: Ptr | null): void;
  ps_args(): Ptr;
  cmd_ln_parse_r(inout: Ptr | null, defn: Ptr, argc: number, argv: string[], strict: number): Ptr | null;
  cmd_ln_free_r(cfg: Ptr): number;
  ps_init(cfg: Ptr): Ptr | null;
  ps_free(ps: Ptr): number;
  ps_start_utt(ps: Ptr): number;
  ps_start_stream(ps: Ptr): number;
  ps_end_utt(ps: Ptr): number;
  ps_process_raw(ps: Ptr, data: Int16Array, n: number, noSearch: number, fullUtt: number): number;
  ps_get_hyp(ps: Ptr, outScore: null): string | null;
  ps_get_in_speech(ps: Ptr): number;
  ps_get_n_frames(ps: Ptr): number;
  ps_get_logmath(ps: Ptr): Ptr;
  logmath_exp(lmath: Ptr, logbP: number): number;
  ps_seg_iter(ps: Ptr): Ptr | null;
  ps_seg_next(seg: Ptr): Ptr | null;
  ps_seg_word(seg: Ptr): string | null;
  ps_seg_frames(seg: Ptr, sf: Int32Array, ef: Int32Array): void;
  ps_seg_prob(seg: Ptr, ascr: null, lscr: null, lback: null): number;
  ps_seg_free(seg: Ptr): void;
  ngram_model_read(config: Ptr | null, file: string, type: number, lmath: Ptr): Ptr | null;
  ngram_model_free(lm: Ptr): number;
  ps_set_lm(ps: Ptr, name: string, lm: Ptr): number;
  ps_set_search(ps: Ptr, name: string): number;
  logmath_init(base: number, shift: number, useTable: number): Ptr | null;
  logmath_free(lmath: Ptr): number;
  ngram_model_get_counts(lm: Ptr): Ptr | null;
  ngram_word(lm: Ptr, wid: number): string | null;
  ps_get_feat(ps: Ptr): Ptr | null;
  cmn_live_get(cmn: Ptr, vec: Float32Array): void;
  cmn_live_set(cmn: Ptr, vec: Float32Array): void;
  ps_get_config(ps: Ptr): Ptr;
  fe_init_auto_r(cfg: Ptr): Ptr | null;
  fe_free(fe: Ptr): number;
  fe_start_stream(fe: Ptr): void;
  fe_start_utt(fe: Ptr): number;
  fe_get_output_size(fe: Ptr): number;
  fe_process_utt(fe: Ptr, data: Int16Array, n: number, cepBlock: [Ptr | null], nframes: Int32Array): number;
  fe_end_utt(fe: Ptr, cep: Float32Array, nframes: Int32Array): number;
  fe_free_2d(arr: Ptr): void;
  ps_add_word(ps: Ptr, word: string, phones: string, update: number): number;
  ps_lookup_word(ps: Ptr, word: string): Ptr | null;
  ckd_free(p: Ptr): void;
  ps_get_search(ps: Ptr): string | null;
  ps_get_lm(ps: Ptr, name: string): Ptr | null;
  ngram_model_set_iter(set: Ptr): Ptr | null;
  ngram_model_set_iter_model(itor: Ptr, name: null): Ptr | null;
  ngram_model_set_iter_free(itor: Ptr): void;
  ngram_wid(lm: Ptr, word: string): number;
  ngram_ng_prob(lm: Ptr, wid: number, hist: null, nHist: number, nUsed: Int32Array): number;
  ngram_model_flush(lm: Ptr): void;
  logmath_log10_to_log(lmath: Ptr, x: number): number;
}

let api: Api | null = null;
let loadedFrom: string | null = null;

/**
 * sphinxbase's feat_t (feat.h) up to its `cmn_struct` member, and cmn_t (cmn.h) up to `veclen`:
 * the C API has no accessor for the feature computer's CMN state.
 */
let featStruct: unknown = null;
let cmnStruct: unknown = null;
function cmnOf(api: Api, ps: Ptr): { ptr: Ptr; initial: Float32Array } | null {
  featStruct ??= koffi.struct('cochlea_feat_s', {
    refcount: 'int', name: 'void *', cepsize: 'int32_t', n_stream: 'int32_t', stream_len: 'void *',
    window_size: 'int32_t', n_sv: 'int32_t', sv_len: 'void *', subvecs: 'void *', sv_buf: 'void *',
    sv_dim: 'int32_t', cmn: 'int', varnorm: 'int32_t', agc: 'int', compute_feat: 'void *', cmn_struct: 'void *',
  });
  cmnStruct ??= koffi.struct('cochlea_cmn_t', { cmn_mean: 'void *', cmn_var: 'void *', sum: 'void *', nframe: 'int32_t', veclen: 'int32_t' });
  const feat = api.ps_get_feat(ps);
  if (!feat) return null;
  const f = koffi.decode(feat, featStruct as never) as { cepsize: number; cmn_struct: Ptr | null };
  if (!f.cmn_struct) return null;
  const c = koffi.decode(f.cmn_struct, cmnStruct as never) as { veclen: number };
  // Sanity check on the layout: the CMN vector is one cepstrum long.
  if (c.veclen !== f.cepsize || c.veclen <= 0 || c.veclen > 64) return null;
  return { ptr: f.cmn_struct, initial: new Float32Array(c.veclen) };
}

/** Load the shared libraries once per thread (koffi handles are per isolate). */
export function loadPocketsphinx(library = 'libpocketsphinx.so.3'): Api {
  if (api) {
    if (loadedFrom !== library) throw new Error(`pocketsphinx already loaded from ${loadedFrom}`);
    return api;
  }
  let ps: LibraryHandle;
  let sb: LibraryHandle;
  try {
    ps = koffi.load(library);
    // sphinxbase is a dependency of libpocketsphinx, already mapped; load it by soname to reach its symbols.
    sb = koffi.load('libsphinxbase.so.3');
  } catch (err) {
    throw new Error(
      `cannot load pocketsphinx (${library}): ${(err as Error).message}. ` +
        'Install the Debian packages libpocketsphinx3 and pocketsphinx-en-us.',
    );
  }
  const P = 'void *';
  api = {
    err_set_logfp: sb.func('err_set_logfp', 'void', [P]),
    ps_args: ps.func('ps_args', P, []),
    cmd_ln_parse_r: sb.func('cmd_ln_parse_r', P, [P, P, 'int32_t', 'const char **', 'int32_t']),
    cmd_ln_free_r: sb.func('cmd_ln_free_r', 'int', [P]),
    ps_init: ps.func('ps_init', P, [P]),
    ps_free: ps.func('ps_free', 'int', [P]),
    ps_start_utt: ps.func('ps_start_utt', 'int', [P]),
    ps_start_stream: ps.func('ps_start_stream', 'int', [P]),
    ps_end_utt: ps.func('ps_end_utt', 'int', [P]),
    ps_process_raw: ps.func('ps_process_raw', 'int', [P, 'const int16_t *', 'size_t', 'int', 'int']),
    ps_get_hyp: ps.func('ps_get_hyp', 'const char *', [P, P]),
    ps_get_in_speech: ps.func('ps_get_in_speech', 'uint8_t', [P]),
    ps_get_n_frames: ps.func('ps_get_n_frames', 'int', [P]),
    ps_get_logmath: ps.func('ps_get_logmath', P, [P]),
    ps_get_feat: ps.func('ps_get_feat', P, [P]),
    // mfcc_t is float32 in Debian's (floating-point) build of sphinxbase.
    cmn_live_get: sb.func('cmn_live_get', 'void', [P, koffi.out('float *')]),
    cmn_live_set: sb.func('cmn_live_set', 'void', [P, 'const float *']),
    ps_get_config: ps.func('ps_get_config', P, [P]),
    fe_init_auto_r: sb.func('fe_init_auto_r', P, [P]),
    fe_free: sb.func('fe_free', 'int', [P]),
    fe_start_stream: sb.func('fe_start_stream', 'void', [P]),
    fe_start_utt: sb.func('fe_start_utt', 'int', [P]),
    fe_get_output_size: sb.func('fe_get_output_size', 'int', [P]),
    fe_process_utt: sb.func('fe_process_utt', 'int', [P, 'const int16_t *', 'size_t', koffi.out('void **'), koffi.out('int32_t *')]),
    fe_end_utt: sb.func('fe_end_utt', 'int', [P, koffi.out('float *'), koffi.out('int32_t *')]),
    fe_free_2d: sb.func('fe_free_2d', 'void', [P]),
    logmath_exp: sb.func('logmath_exp', 'double', [P, 'int32_t']),
    ps_seg_iter: ps.func('ps_seg_iter', P, [P]),
    ps_seg_next: ps.func('ps_seg_next', P, [P]),
    ps_seg_word: ps.func('ps_seg_word', 'const char *', [P]),
    ps_seg_frames: ps.func('ps_seg_frames', 'void', [P, koffi.out('int *'), koffi.out('int *')]),
    ps_seg_prob: ps.func('ps_seg_prob', 'int32_t', [P, P, P, P]),
    ps_seg_free: ps.func('ps_seg_free', 'void', [P]),
    ngram_model_read: sb.func('ngram_model_read', P, [P, 'const char *', 'int', P]),
    ngram_model_free: sb.func('ngram_model_free', 'int', [P]),
    ps_set_lm: ps.func('ps_set_lm', 'int', [P, 'const char *', P]),
    ps_set_search: ps.func('ps_set_search', 'int', [P, 'const char *']),
    logmath_init: sb.func('logmath_init', P, ['double', 'int', 'int']),
    logmath_free: sb.func('logmath_free', 'int', [P]),
    ngram_model_get_counts: sb.func('ngram_model_get_counts', P, [P]),
    ngram_word: sb.func('ngram_word', 'const char *', [P, 'int32_t']),
    ps_add_word: ps.func('ps_add_word', 'int', [P, 'const char *', 'const char *', 'int']),
    // Returns a ckd_calloc'ed string the caller frees: keep it a pointer.
    ps_lookup_word: ps.func('ps_lookup_word', P, [P, 'const char *']),
    ckd_free: sb.func('ckd_free', 'void', [P]),
    ps_get_search: ps.func('ps_get_search', 'const char *', [P]),
    ps_get_lm: ps.func('ps_get_lm', P, [P, 'const char *']),
    ngram_model_set_iter: sb.func('ngram_model_set_iter', P, [P]),
    ngram_model_set_iter_model: sb.func('ngram_model_set_iter_model', P, [P, P]),
    ngram_model_set_iter_free: sb.func('ngram_model_set_iter_free', 'void', [P]),
    ngram_wid: sb.func('ngram_wid', 'int32_t', [P, 'const char *']),
    ngram_ng_prob: sb.func('ngram_ng_prob', 'int32_t', [P, 'int32_t', P, 'int32_t', koffi.out('int32_t *')]),
    ngram_model_flush: sb.func('ngram_model_flush', 'void', [P]),
    logmath_log10_to_log: sb.func('logmath_log10_to_log', 'int32_t', [P, 'double']),
  } as unknown as Api;
  // Silence sphinxbase's global logger (it writes to stderr otherwise). Never pass -logfn to a
  // decoder: ps_init then swaps the process-global log FILE (fopen the new one, fclose the old),
  // and two worker threads creating decoders at once fclose the same FILE twice, corrupting the
  // heap; that deadlocked both workers inside glibc's stdio locks.
  api.err_set_logfp(null);
  loadedFrom = library;
  return api;
}

/**
 * Filler / noise / sentence-boundary tokens pocketsphinx emits that are not words:
 * <s>, </s>, <sil>, [NOISE], [BREATH], ++GARBAGE++ ...
 */
export function isFillerToken(word: string): boolean {
  return /^(<.*>|\[.*\]|\+\+.*\+\+)$/.test(word) || word.length === 0;
}

/** "read(2)" → "read": strip the alternate-pronunciation suffix. */
export function baseWord(word: string): string {
  return word.replace(/\(\d+\)$/, '');
}

/** Float32 [-1,1] → int16 with clipping, into `out` (reused to avoid allocations). */
export function floatToInt16(pcm: Float32Array, out?: Int16Array): Int16Array {
  const dst = out && out.length >= pcm.length ? out.subarray(0, pcm.length) : new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i] * 32768;
    dst[i] = s >= 32767 ? 32767 : s <= -32768 ? -32768 : s | 0;
  }
  return dst;
}

/**
 * A standalone sphinxbase front end (fe_init_auto_r over a decoder's configuration, which it
 * retains): cepstra of a stream of audio, with the overflow samples and pre-emphasis carried
 * between calls exactly as one fe_process_utt over the concatenation would.
 */
export class CepstraStream {
  private fe: Ptr | null;
  readonly cepSize: number;

  constructor(
    private readonly api: Api,
    config: Ptr,
  ) {
    const fe = api.fe_init_auto_r(config);
    if (!fe) throw new Error('pocketsphinx: fe_init_auto_r failed');
    this.fe = fe;
    this.cepSize = api.fe_get_output_size(fe);
  }

  private get handle(): Ptr {
    if (this.fe === null) throw new Error('pocketsphinx: cepstra stream already freed');
    return this.fe;
  }

  /** Reset for unrelated audio (noise statistics, overflow samples, pre-emphasis). */
  start(): void {
    this.api.fe_start_stream(this.handle);
    this.api.fe_start_utt(this.handle);
  }

  /** Cepstra of the next samples since start(): frames × cepSize, row-major. */
  process(samples: Int16Array): { frames: Float32Array; cepSize: number } {
    const fe = this.handle;
    const dim = this.cepSize;
    if (samples.length === 0) return { frames: new Float32Array(0), cepSize: dim };
    const block: [Ptr | null] = [null];
    const n = new Int32Array(1);
    const r = this.api.fe_process_utt(fe, samples, samples.length, block, n);
    const cep = block[0];
    try {
      if (r < 0) throw new Error('pocketsphinx: fe_process_utt failed');
      if (!cep || n[0] <= 0) return { frames: new Float32Array(0), cepSize: dim };
      // ckd_calloc_2d: an array of row pointers whose first row starts one contiguous block.
      const row0 = koffi.decode(cep, 'void *') as Ptr;
      const frames = new Float32Array(koffi.view(row0, n[0] * dim * 4).slice(0));
      return { frames, cepSize: dim };
    } finally {
      if (cep) this.api.fe_free_2d(cep);
    }
  }

  /** Drop the per-utterance buffers (the last partial frame). */
  end(): void {
    if (this.fe === null) return;
    this.api.fe_end_utt(this.fe, new Float32Array(this.cepSize), new Int32Array(1));
  }

  free(): void {
    if (this.fe === null) return;
    this.api.fe_free(this.fe);
    this.fe = null;
  }
}

export class PocketsphinxDecoder {
  private ps: Ptr | null;
  private readonly lmath: Ptr;
  /** The feature front end's CMN state and its initial mean (from -cmninit), see startStream(). */
  private readonly cmn: { ptr: Ptr; initial: Float32Array } | null;
  private readonly api: Api;
  private inUtt = false;
  /** Private front end for startCepstra()/cepstra(), created on first use. */
  private fe: CepstraStream | null = null;
  private readonly sf = new Int32Array(1);
  private readonly ef = new Int32Array(1);
  /** Samples fed in the current utterance. */
  samplesInUtt = 0;

  constructor(options: PocketsphinxOptions = {}) {
    this.api = loadPocketsphinx(options.library);
    const args = decoderArgs(options);
    const shared = options.sharedLm;
    if (shared) {
      if (shared.key !== lmWeightKey(args)) throw new Error('pocketsphinx: shared LM was loaded with other LM weights');
      delete args['-lm']; // no search from ps_init: the shared LM's search is set below
    }
    const argv = Object.entries(args).flat();
    const cfg = this.api.cmd_ln_parse_r(null, this.api.ps_args(), argv.length, argv, 1);
    if (!cfg) throw new Error(`pocketsphinx: invalid configuration ${JSON.stringify(args)}`);
    const ps = this.api.ps_init(cfg);
    // ps_init retains the config; drop our reference either way.
    this.api.cmd_ln_free_r(cfg);
    if (!ps) throw new Error('pocketsphinx: ps_init failed (check model paths and arguments)');
    if (shared && (this.api.ps_set_lm(ps, DEFAULT_SEARCH, shared.handle) < 0 || this.api.ps_set_search(ps, DEFAULT_SEARCH) < 0)) {
      this.api.ps_free(ps);
      throw new Error('pocketsphinx: cannot search the shared language model');
    }
    this.ps = ps;
    this.lmath = this.api.ps_get_logmath(ps);
    this.cmn = cmnOf(this.api, ps);
    if (this.cmn) {
      this.api.cmn_live_get(this.cmn.ptr, this.cmn.initial);
    }
  }

  private get handle(): Ptr {
    if (this.ps === null) throw new Error('pocketsphinx decoder already freed');
    return this.ps;
  }

  get inUtterance(): boolean {
    return this.inUtt;
  }

  /**
   * Reset stream-level state for unrelated new audio: frame counter and noise estimate
   * (ps_start_stream), and the live cepstral mean, which ps_start_stream keeps. Without the CMN
   * reset a reused decoder transcribes the same file differently depending on what it heard
   * before, so results would depend on which request ran earlier on the worker. The mean restarts
   * at `cmnMean` when given (batch: the audio's own estimate), else at the model's -cmninit.
   */
  startStream(cmnMean?: Float32Array): void {
    if (this.inUtt) this.endUtt();
    this.api.ps_start_stream(this.handle);
    if (!this.cmn) return;
    if (cmnMean && cmnMean.length !== this.cmn.initial.length) {
      throw new Error(`pocketsphinx: CMN mean has ${cmnMean.length} coefficients, expected ${this.cmn.initial.length}`);
    }
    this.api.cmn_live_set(this.cmn.ptr, cmnMean ?? this.cmn.initial);
  }

  /**
   * Replace the live CMN mean in the middle of an utterance (frames already decoded keep theirs;
   * the next frames are normalised from `cmnMean`, which live CMN then keeps updating).
   */
  setCmnMean(cmnMean: Float32Array): void {
    if (!this.cmn) return;
    if (cmnMean.length !== this.cmn.initial.length) {
      throw new Error(`pocketsphinx: CMN mean has ${cmnMean.length} coefficients, expected ${this.cmn.initial.length}`);
    }
    this.api.cmn_live_set(this.cmn.ptr, cmnMean);
  }

  /**
   * Coefficients per cepstrum when the live CMN state is reachable (startStream can then take a
   * mean), else null.
   */
  get cmnSize(): number | null {
    return this.cmn ? this.cmn.initial.length : null;
  }

  /**
   * Start computing the cepstra (MFCC frames, C0 = log energy) of new audio with this decoder's
   * own `CepstraStream` (see there), so the decoder's front end and search state are untouched.
   * Each call resets that stream, so the cepstra of given audio never depend on earlier calls.
   */
  startCepstra(): void {
    this.fe ??= this.cepstraStream();
    this.fe.start();
  }

  /** Cepstra of the next samples since startCepstra(): frames × cepSize, row-major. */
  cepstra(samples: Int16Array): { frames: Float32Array; cepSize: number } {
    if (!this.fe) throw new Error('pocketsphinx: startCepstra() not called');
    return this.fe.process(samples);
  }

  /** Reset the cepstrum front end's per-utterance buffers (the last partial frame is dropped). */
  endCepstra(): void {
    this.fe?.end();
  }

  /**
   * A front end of its own built from this decoder's configuration (same -samprate, -nfilt,
   * -lowerf/-upperf, noise removal, ... as the model's feat.params), owned by the caller and
   * independent of this decoder afterwards (it keeps its own reference to the configuration), so
   * a streaming session can keep computing cepstra while it holds no decoder.
   */
  cepstraStream(): CepstraStream {
    return new CepstraStream(this.api, this.api.ps_get_config(this.handle));
  }

  startUtt(): void {
    if (this.inUtt) return;
    if (this.api.ps_start_utt(this.handle) < 0) throw new Error('pocketsphinx: ps_start_utt failed');
    this.inUtt = true;
    this.samplesInUtt = 0;
  }

  /** Feed int16 PCM; decodes it (search runs as frames become available). */
  processRaw(samples: Int16Array, fullUtt = false): void {
    if (!this.inUtt) this.startUtt();
    if (samples.length === 0) return;
    const r = this.api.ps_process_raw(this.handle, samples, samples.length, 0, fullUtt ? 1 : 0);
    if (r < 0) throw new Error('pocketsphinx: ps_process_raw failed');
    this.samplesInUtt += samples.length;
  }

  endUtt(): void {
    if (!this.inUtt) return;
    this.inUtt = false;
    if (this.api.ps_end_utt(this.handle) < 0) throw new Error('pocketsphinx: ps_end_utt failed');
  }

  inSpeech(): boolean {
    return this.api.ps_get_in_speech(this.handle) !== 0;
  }

  nFrames(): number {
    return this.api.ps_get_n_frames(this.handle);
  }

  hyp(): string {
    return this.api.ps_get_hyp(this.handle, null) ?? '';
  }

  /**
   * The segments of the current (or just ended) utterance. After `endUtt()` with -bestpath yes
   * these come from the lattice and `prob` is the word posterior; mid-utterance they come from
   * the backpointer table and `prob` is 1 (pocketsphinx reports no posterior there).
   */
  segments(): RawSegment[] {
    const out: RawSegment[] = [];
    let seg = this.api.ps_seg_iter(this.handle);
    while (seg) {
      const word = this.api.ps_seg_word(seg) ?? '';
      this.api.ps_seg_frames(seg, this.sf, this.ef);
      const logp = this.api.ps_seg_prob(seg, null, null, null);
      let prob = this.api.logmath_exp(this.lmath, logp);
      if (!Number.isFinite(prob)) prob = 0;
      prob = Math.min(1, Math.max(0, prob));
      out.push({ word, startFrame: this.sf[0], endFrame: this.ef[0], prob });
      // ps_seg_next frees the iterator when it returns NULL.
      seg = this.api.ps_seg_next(seg);
    }
    return out;
  }

  /**
   * The pronunciation of `word` in the decoder's dictionary ("HH AH L OW"), or null when the
   * dictionary lacks it.
   */
  lookupWord(word: string): string | null {
    const p = this.api.ps_lookup_word(this.handle, word);
    if (!p) return null;
    try {
      return koffi.decode(p, 'char', -1) as string;
    } finally {
      this.api.ckd_free(p);
    }
  }

  /**
   * Add words to the dictionary and to the n-gram LM (ps_add_word: dictionary, dict2pid, LM
   * unigram with probability 1/N and no n-grams), then rebuild the search's lexicon tree once
   * (update=1 on the last word). `phones` are CMU phones of the acoustic model ("D R AH M R AY
   * T"). Only between utterances. Returns the words added (a word the decoder rejects, e.g. for an
   * unknown phone, is skipped); returns [] without touching the decoder when the LM's layout is
   * not the verified one, because of the fix below.
   *
   * 5prealpha bug worked around: the trie LM finds a history word among a word's n-grams by
   * interpolation search bounded by `max_vocab`, the unigram count at load time, and has no
   * guard for larger ids, so once an added word (id ≥ max_vocab) is a history word the search
   * reads past the n-gram arrays (SIGSEGV in bitarr_read_int25, seen after a few sessions).
   * Newer sphinxbase returns "not found" for such keys; here every middle/longest n-gram array's
   * `max_vocab` is raised to the new unigram count (UnigramTable.widenVocabulary), which makes
   * the same search correct: stored ids are all below the old bound, so a larger key is simply
   * not found.
   */
  addWords(entries: { word: string; phones: string }[]): string[] {
    if (this.inUtt) throw new Error('pocketsphinx: addWords during an utterance');
    if (entries.length === 0) return [];
    if (!this.unigramTable()?.canWiden) return [];
    const added: string[] = [];
    entries.forEach(({ word, phones }, i) => {
      if (this.api.ps_add_word(this.handle, word, phones, i === entries.length - 1 ? 1 : 0) >= 0) added.push(word);
    });
    this.unigrams = undefined; // ps_add_word reallocated the unigram array
    const table = this.unigramTable();
    if (!table?.widenVocabulary()) {
      // Cannot happen after the check above; never decode with an unpatched LM.
      this.free();
      throw new Error('pocketsphinx: LM layout changed while adding words; decoder freed');
    }
    return added;
  }

  private unigrams: UnigramTable | null | undefined;

  /**
   * Read/write access to the unigram log-probabilities of the decoder's n-gram LM, or null when
   * the LM's memory layout is not the one checked for (see UnigramTable). Re-fetched after
   * addWords().
   */
  unigramTable(): UnigramTable | null {
    if (this.unigrams === undefined) this.unigrams = UnigramTable.open(this.api, this.handle, this.lmath);
    return this.unigrams;
  }

  free(): void {
    if (this.ps === null) return;
    this.fe?.free();
    this.fe = null;
    this.api.ps_free(this.ps);
    this.ps = null;
  }
}

/**
 * Words of an n-gram LM file (its unigrams), read with sphinxbase's own reader; with `top` > 0 only
 * the `top` most probable ones (by unigram probability; ties by word id).
 */
export function readLmVocabulary(lmPath: string, library?: string, top = 0): Set<string> {
  const api = loadPocketsphinx(library);
  const lmath = api.logmath_init(1.0001, 0, 0); // pocketsphinx's default log base
  if (!lmath) throw new Error('sphinxbase: logmath_init failed');
  const NGRAM_AUTO = 0;
  const lm = api.ngram_model_read(null, lmPath, NGRAM_AUTO, lmath);
  try {
    if (!lm) throw new Error(`pocketsphinx: cannot read language model ${lmPath}`);
    const counts = api.ngram_model_get_counts(lm);
    const n = counts ? (koffi.decode(counts, 'uint32_t') as number) : 0;
    const words: { w: string; p: number }[] = [];
    const used = new Int32Array(1);
    for (let wid = 0; wid < n; wid++) {
      const w = api.ngram_word(lm, wid);
      if (w) words.push({ w, p: top > 0 ? api.ngram_ng_prob(lm, wid, null, 0, used) : 0 });
    }
    if (top > 0) words.sort((a, b) => b.p - a.p);
    return new Set((top > 0 ? words.slice(0, top) : words).map((x) => x.w));
  } finally {
    if (lm) api.ngram_model_free(lm);
    api.logmath_free(lmath);
  }
}

/**
 * A copy of `dict` restricted to the words `lm` can predict, cached in `cacheDir`. The n-gram
 * search never hypothesizes a dictionary word the LM lacks, so recognition is unchanged, but
 * each decoder's lexicon shrinks: with Debian's en-us model (135k-word cmudict, 72k-word LM)
 * a decoder takes ~76 MB and ~0.23 s to create instead of ~88 MB and ~0.33 s, and decodes
 * ~9% faster (measured; transcripts identical on the Debian test clips).
 * Returns the path of the trimmed dictionary.
 */
export function lmTrimmedDictionary(dict: string, lm: string, cacheDir?: string, library?: string): string {
  return restrictedDictionary(dict, lm, 0, cacheDir, library);
}

/**
 * A copy of `dict` restricted to the `words` most probable unigrams of `lm` (all of them when 0),
 * cached in `cacheDir` (see lmTrimmedDictionary). With Debian's en-us model (72,547 LM words), as
 * the streaming vocabulary (`streamVocabulary`, default 50,000): a live decoder takes 36 MB instead
 * of 49 at 50,000 words, 31 MB at 40,000 and 25 MB at 30,000 (figures and their accuracy in the
 * README's *Accuracy*).
 */
export function restrictedDictionary(dict: string, lm: string, words: number, cacheDir?: string, library?: string): string {
  const st = (f: string) => {
    const s = fs.statSync(f);
    return `${path.resolve(f)}:${s.size}:${s.mtimeMs}`;
  };
  const key = crypto.createHash('sha256').update(`v1|${st(dict)}|${st(lm)}${words > 0 ? `|top${words}` : ''}`).digest('hex').slice(0, 16);
  const dir = cacheDir ?? path.join(os.tmpdir(), 'cochlea-pocketsphinx');
  const out = path.join(dir, `${path.basename(dict, path.extname(dict))}.${key}.dict`);
  if (fs.existsSync(out)) return out;
  const vocab = readLmVocabulary(lm, library, words);
  const kept: string[] = [];
  for (const line of fs.readFileSync(dict, 'utf8').split('\n')) {
    const head = line.split(/\s/, 1)[0];
    if (head && vocab.has(baseWord(head))) kept.push(line);
  }
  if (kept.length === 0) throw new Error(`pocketsphinx: no word of ${dict} is in ${lm}`);
  fs.mkdirSync(dir, { recursive: true });
  // Several workers may race here: write privately, then rename atomically.
  const tmp = `${out}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(tmp, kept.join('\n') + '\n');
  fs.renameSync(tmp, out);
  return out;
}

/**
 * Unigram log-probabilities of a decoder's trie n-gram LM, read and written in place.
 *
 * Why memory access: sphinxbase 5prealpha has no API to change a word's probability (only
 * `ngram_model_add_word` for new words, which cannot be undone) and no way to remove a word, yet
 * keyword boosts must be per session on pooled decoders. The search reads
 * `trie->unigrams[wid].prob` (a float in the decoder's log base) on every LM lookup, so boosting
 * means raising that value and restoring it afterwards. The layout (ngram_model_trie_t = an
 * ngram_model_t of 96 bytes followed by `lm_trie_t *trie`; lm_trie_t's `unigrams` at offset 16;
 * unigram_t = {float prob; float bo; uint32 next}) is sphinxbase's (ngram_model_internal.h,
 * lm_trie.h) and is verified before use: the n_counts pointer must equal
 * ngram_model_get_counts() and the floats read must equal ngram_ng_prob() of the same words;
 * otherwise `open` returns null and the caller runs without LM boosts.
 */
const MIDDLE_SIZE = 48;

export class UnigramTable {
  private constructor(
    private readonly api: Api,
    /** The trie n-gram model inside the search's model set. */
    readonly model: Ptr,
    private readonly lmset: Ptr,
    private readonly counts: Ptr,
    /** Decoder log units per log10 unit. */
    readonly perLog10: number,
  ) {}

  static open(api: Api, ps: Ptr, lmath: Ptr): UnigramTable | null {
    const name = api.ps_get_search(ps);
    if (!name) return null;
    const set = api.ps_get_lm(ps, name);
    if (!set) return null;
    const it = api.ngram_model_set_iter(set);
    if (!it) return null;
    const lm = api.ngram_model_set_iter_model(it, null);
    api.ngram_model_set_iter_free(it);
    if (!lm) return null;
    const counts = api.ngram_model_get_counts(lm);
    if (!counts) return null;
    try {
      const nCountsField = koffi.decode(lm, 8, 'void *') as Ptr;
      if (koffi.address(nCountsField) !== koffi.address(counts)) return null;
    } catch {
      return null;
    }
    const t = new UnigramTable(api, lm, set, counts, api.logmath_log10_to_log(lmath, 1000) / 1000);
    const n = koffi.decode(counts, 'uint32_t') as number;
    if (!(n > 10)) return null;
    const used = new Int32Array(1);
    for (const wid of [0, 1, Math.floor(n / 3), Math.floor(n / 2), n - 1]) {
      const expect = api.ngram_ng_prob(lm, wid, null, 0, used);
      const got = t.readRaw(wid);
      if (got === null || Math.trunc(got) !== expect) return null;
    }
    return t;
  }

  private base(): Ptr | null {
    const trie = koffi.decode(this.model, 96, 'void *') as Ptr | null;
    if (!trie) return null;
    return koffi.decode(trie, 16, 'void *') as Ptr | null;
  }

  private readRaw(wid: number): number | null {
    const u = this.base();
    return u ? (koffi.decode(u, wid * 12, 'float') as number) : null;
  }

  /** The LM's word id of `word` (the trie's own ids), or -1 when the LM lacks it. */
  wid(word: string): number {
    const w = this.api.ngram_wid(this.model, word);
    if (w < 0) return -1;
    // ngram_wid answers unknown words with <UNK>'s id when the LM has one.
    const back = this.api.ngram_word(this.model, w);
    return back === word ? w : -1;
  }

  /** log10 unigram probability of a word id. */
  get(wid: number): number {
    const raw = this.readRaw(wid);
    if (raw === null) throw new Error('pocketsphinx: unigram table unavailable');
    return raw / this.perLog10;
  }

  /** Set a word id's log10 unigram probability. Call flush() after a batch of changes. */
  set(wid: number, log10: number): void {
    const u = this.base();
    if (!u) throw new Error('pocketsphinx: unigram table unavailable');
    koffi.encode(u, wid * 12, 'float', log10 * this.perLog10);
  }

  /**
   * The trie's n-gram arrays (middle orders, then the longest), each as the base_t at `off` in
   * the block `ptr` points to: {uint8 word_bits; uint8 total_bits; uint32 word_mask; uint8 *base;
   * uint32 insert_index; uint32 max_vocab} (lm_trie.h), middle_t being 48 bytes. Null when the
   * layout does not check out (mask consistent with the bit count, bound near the unigram count).
   */
  private ngramArrays(): { ptr: Ptr; off: number }[] | null {
    const trie = koffi.decode(this.model, 96, 'void *') as Ptr | null;
    if (!trie) return null;
    const begin = koffi.decode(trie, 24, 'void *') as Ptr | null;
    const end = koffi.decode(trie, 32, 'void *') as Ptr | null;
    const longest = koffi.decode(trie, 40, 'void *') as Ptr | null;
    if (!begin || !end || !longest) return null;
    const nMiddle = (Number(koffi.address(end)) - Number(koffi.address(begin))) / MIDDLE_SIZE;
    if (!Number.isInteger(nMiddle) || nMiddle < 0 || nMiddle > 3) return null;
    const arrays = [...Array.from({ length: nMiddle }, (_, i) => ({ ptr: begin, off: i * MIDDLE_SIZE })), { ptr: longest, off: 0 }];
    const n = this.unigramCount();
    for (const a of arrays) {
      const bits = koffi.decode(a.ptr, a.off, 'uint8_t') as number;
      const mask = koffi.decode(a.ptr, a.off + 4, 'uint32_t') as number;
      const maxVocab = koffi.decode(a.ptr, a.off + 20, 'uint32_t') as number;
      if (!(bits >= 1 && bits <= 25) || mask !== 2 ** bits - 1) return null;
      if (!(maxVocab <= n && maxVocab > n / 2 && n < 2 ** bits)) return null;
    }
    return arrays;
  }

  private unigramCount(): number {
    return koffi.decode(this.counts, 'uint32_t') as number;
  }

  /** Whether widenVocabulary() can work (so words may be added safely). */
  get canWiden(): boolean {
    return this.ngramArrays() !== null;
  }

  /** The unigram count and every n-gram array's max_vocab (for tests of the addWords fix). */
  vocabularyBounds(): { unigrams: number; maxVocab: number[] } | null {
    const arrays = this.ngramArrays();
    if (!arrays) return null;
    return { unigrams: this.unigramCount(), maxVocab: arrays.map((a) => koffi.decode(a.ptr, a.off + 20, 'uint32_t') as number) };
  }

  /** Raise every n-gram array's max_vocab to the current unigram count (see addWords). */
  widenVocabulary(): boolean {
    const arrays = this.ngramArrays();
    if (!arrays) return false;
    const n = this.unigramCount();
    for (const a of arrays) koffi.encode(a.ptr, a.off + 20, 'uint32_t', n);
    return true;
  }

  /** log10(1/N) for the LM's N unigrams: what ps_add_word gives a new word. */
  oovLog10(): number {
    const n = koffi.decode(this.counts, 'uint32_t') as number;
    return -Math.log10(Math.max(1, n));
  }

  /** Drop the LM's cached scores (sphinxbase caches backoffs of recent histories). */
  flush(): void {
    this.api.ngram_model_flush(this.lmset);
  }
}
