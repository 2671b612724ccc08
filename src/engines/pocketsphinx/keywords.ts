/**
 * Keyword boosting for pocketsphinx (Pulse `keywords=phrase:intensity,...`), per session on
 * pooled decoders.
 *
 * 1. Parse: "Jensen Huang:2" → phrase words ["jensen", "huang"] (dictionary form: lower case),
 *    display forms ["Jensen", "Huang"], intensity 2 (default 1, ≥ 0, capped at MAX_INTENSITY).
 *    At most MAX_KEYWORDS entries are used (Pulse ignores entries after the 100th; the server
 *    answers 400 before it gets here); malformed entries are dropped.
 * 2. Dictionary: a word the decoder lacks gets a pronunciation from cmudict (Debian's full
 *    dictionary, when the word is there but outside the LM-trimmed one) or else from espeak-ng
 *    (../g2p/espeak.ts), and is added with ps_add_word (dictionary + LM unigram, one lexicon-tree
 *    rebuild per batch of words). Added words stay in that decoder's dictionary: 5prealpha cannot
 *    remove words. Between sessions their unigram probability is set to 10^DISABLED_LOG10, so a
 *    later session that did not ask for them cannot recognize them; a later session asking for
 *    the same word skips the rebuild.
 * 3. Boost: the unigram log10 probability of every keyword word is raised to
 *    min(CAP_LOG10, base + intensity × STEP_LOG10), never lowered, where base is the word's own
 *    unigram (words in the LM) or log10(1/N) (added words, what ps_add_word gives them). A
 *    unigram counts wherever the LM backs off to it, i.e. everywhere for added words (they have no
 *    n-grams) and in unseen contexts for LM words. The old values are saved.
 * 4. Restore: when the decoder goes back to the pool (batch request done, streaming session
 *    freed) every saved unigram is written back and the LM's caches flushed (tested: values
 *    identical). The LM is then exactly as before; the lexicon tree is not: added words stay in
 *    it, and since pocketsphinx applies LM scores only at word ends, a disabled word's HMMs can
 *    still set a frame's best score and so shift the beam. On audio that does not contain the word
 *    this changed no transcript (bench: 8 real clips after 20 words were added); on a clip that
 *    says the disabled name itself, a later plain decode differed from a fresh decoder's in one
 *    word. Without a verified unigram table (see binding.ts) no word is added at all.
 * 5. Output: recognized keyword words take the keyword's casing: words of single-word keywords
 *    and words added for a keyword wherever they occur, words of multi-word phrases where the
 *    whole phrase was recognized in sequence.
 */
import fs from 'node:fs';
import type { EngineWord } from '../types.ts';
import { EspeakG2P, CMU_PHONES, G2PError } from '../g2p/espeak.ts';
import type { PocketsphinxDecoder } from './binding.ts';

/** Pulse's limit per session/request. */
export const MAX_KEYWORDS = 100;
/** Intensities above this are treated as this (Pulse: above 5 risks hallucinations). */
export const MAX_INTENSITY = 10;
/** Words per phrase kept. */
const MAX_PHRASE_WORDS = 8;
/** Longest keyword word (characters). */
const MAX_WORD_CHARS = 48;

/**
 * log10 unigram boost per unit of intensity: intensity 2 lifts an added name from a rare word's
 * 1/N (10^-4.9) to 10^-3.4, 4 to 10^-1.9 (a common word's), 5+ to the cap. Chosen so Pulse's
 * "1–3 normal, 4–5 aggressive" spans rare → common; bench/keywords-eval.ts measures the effect.
 */
export const STEP_LOG10 = 0.75;
/** Highest boosted unigram log10 probability (about that of "and"/"to"). */
export const CAP_LOG10 = -1.5;
/**
 * Resting unigram (log10) of words added for an earlier session. It must beat any acoustic
 * evidence: at -20 a clip spoken exactly like the G2P pronunciation still produced the word
 * (bench: the name recognized in sessions without keywords), since -20 log10 × lw 6.5 is only
 * ~300 nats. -150 costs ~2.2e7 log units per word at -lw 6.5 (3.3e7 at -bestpathlw 9.5), far
 * beyond acoustic differences yet 16 such words short of pocketsphinx's WORST_SCORE floor
 * (-5.4e8), so int32 path scores cannot overflow.
 */
export const DISABLED_LOG10 = -150;
/** Decoders that accumulated more added words than this are freed instead of pooled. */
export const MAX_ADDED_WORDS_PER_DECODER = 2000;

export interface KeywordSpec {
  phrase: string;
  intensity: number;
  /** Dictionary forms (lower case) of the phrase's words. */
  words: string[];
  /** The words as the keyword writes them (output casing). */
  display: string[];
}

/** "phrase" or "phrase:intensity" → spec, or null when unusable. */
export function parseKeyword(raw: string): KeywordSpec | null {
  if (typeof raw !== 'string') return null;
  let phrase = raw.trim();
  let intensity = 1;
  const colon = phrase.lastIndexOf(':');
  if (colon >= 0) {
    const tail = phrase.slice(colon + 1).trim();
    if (/^[+-]?(\d+\.?\d*|\.\d+)$/.test(tail)) {
      intensity = Number(tail);
      phrase = phrase.slice(0, colon).trim();
    }
  }
  if (!Number.isFinite(intensity) || intensity < 0) return null;
  intensity = Math.min(intensity, MAX_INTENSITY);
  const display: string[] = [];
  for (const tok of phrase.split(/\s+/)) {
    // Keep letters, digits and inner ' - . ; drop surrounding punctuation and brackets (the
    // dictionary uses "word(2)" for alternates).
    const t = tok.replace(/[()\[\]{}<>"]/g, '').replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
    if (t && t.length <= MAX_WORD_CHARS && /[\p{L}\p{N}]/u.test(t)) display.push(t);
  }
  if (display.length === 0 || display.length > MAX_PHRASE_WORDS) return null;
  return { phrase, intensity, display, words: display.map((w) => w.toLowerCase()) };
}

/** The keyword list that reaches the engine → at most MAX_KEYWORDS usable specs. */
export function parseKeywords(raw: readonly string[] | undefined): KeywordSpec[] {
  if (!raw || !Array.isArray(raw)) return [];
  const out: KeywordSpec[] = [];
  for (const k of raw.slice(0, MAX_KEYWORDS)) {
    const s = parseKeyword(k);
    if (s) out.push(s);
  }
  return out;
}

/** What one session asks of a decoder: word → intensity and display form; casing rules. */
export class KeywordPlan {
  /** Dictionary word → highest intensity asked for it. */
  readonly intensity = new Map<string, number>();
  /** Dictionary word → display form (first keyword that names it wins). */
  private readonly display = new Map<string, string>();
  /** Words cased wherever they occur (single-word keywords; added words are added later). */
  private readonly anywhere = new Set<string>();
  private readonly phrases: KeywordSpec[];

  constructor(readonly specs: KeywordSpec[]) {
    this.phrases = specs.filter((s) => s.words.length > 1);
    for (const s of specs) {
      s.words.forEach((w, i) => {
        this.intensity.set(w, Math.max(this.intensity.get(w) ?? 0, s.intensity));
        if (!this.display.has(w)) this.display.set(w, s.display[i]);
      });
      if (s.words.length === 1) this.anywhere.add(s.words[0]);
    }
  }

  get empty(): boolean {
    return this.specs.length === 0;
  }

  /** Mark a word as existing only because of the keywords (cased wherever recognized). */
  markAdded(word: string): void {
    this.anywhere.add(word);
  }

  /** Words with the keywords' casing (new objects; input untouched). */
  applyCasing(words: EngineWord[]): EngineWord[] {
    if (this.empty || words.length === 0) return words;
    const out = words.map((w) => ({ ...w }));
    const lower = words.map((w) => w.word.toLowerCase());
    for (let i = 0; i < out.length; i++) {
      if (this.anywhere.has(lower[i])) out[i].word = this.display.get(lower[i]) ?? out[i].word;
    }
    for (const p of this.phrases) {
      const n = p.words.length;
      for (let i = 0; i + n <= lower.length; i++) {
        let ok = true;
        for (let j = 0; j < n && ok; j++) ok = lower[i + j] === p.words[j];
        if (!ok) continue;
        for (let j = 0; j < n; j++) out[i + j].word = p.display[j];
      }
    }
    return out;
  }
}

/** Per-decoder keyword state (lives as long as the decoder). */
interface DecoderState {
  /** Words this code added to the decoder (resting at DISABLED_LOG10 between sessions). */
  added: Set<string>;
  /** LM word id → log10 unigram to restore, for the session in progress. */
  saved: Map<number, number>;
  /** Added words could not be disabled again (no unigram table): never pool this decoder. */
  tainted: boolean;
}

export interface KeywordStats {
  /** Words added to dictionaries (ps_add_word). */
  wordsAdded: number;
  /** Lexicon rebuilds (one per session that added words). */
  rebuilds: number;
  /** Time spent applying keywords (G2P, adds, boosts), ms. */
  applyMs: number;
  /** Words dropped because no pronunciation could be made. */
  unpronounceable: number;
  /** espeak-ng failures (missing binary, timeout). */
  g2pErrors: number;
}

/**
 * Applies and undoes keyword plans on pocketsphinx decoders. One per backend (worker thread);
 * holds the G2P cache shared by all its decoders.
 */
export class KeywordBooster {
  private readonly states = new WeakMap<PocketsphinxDecoder, DecoderState>();
  private readonly g2p: EspeakG2P;
  /** cmudict pronunciations found (or not: null) for words outside the trimmed dictionary. */
  private readonly cmudict = new Map<string, string[] | null>();
  readonly stats: KeywordStats = { wordsAdded: 0, rebuilds: 0, applyMs: 0, unpronounceable: 0, g2pErrors: 0 };
  lastG2PError: string | null = null;

  constructor(
    /** Debian's full cmudict (the decoder's dictionary may be an LM-trimmed copy). */
    private readonly fullDict: string | null,
    g2p?: EspeakG2P,
  ) {
    this.g2p = g2p ?? new EspeakG2P();
  }

  private state(dec: PocketsphinxDecoder): DecoderState {
    let s = this.states.get(dec);
    if (!s) {
      s = { added: new Set(), saved: new Map(), tainted: false };
      this.states.set(dec, s);
    }
    return s;
  }

  /** cmudict entries (base + alternates) of words, by scanning the dictionary file once per batch. */
  private cmudictLookup(words: string[]): void {
    const todo = new Set(words.filter((w) => !this.cmudict.has(w)));
    if (todo.size === 0) return;
    const found = new Map<string, string[]>();
    if (this.fullDict && fs.existsSync(this.fullDict)) {
      for (const line of fs.readFileSync(this.fullDict, 'utf8').split('\n')) {
        const sp = line.indexOf(' ');
        if (sp <= 0) continue;
        const base = line.slice(0, sp).replace(/\(\d+\)$/, '');
        if (!todo.has(base)) continue;
        const phones = line.slice(sp + 1).trim().replace(/\s*#.*$/, '');
        if (phones) found.set(base, [...(found.get(base) ?? []), phones]);
      }
    }
    for (const w of todo) this.cmudict.set(w, found.get(w) ?? null);
  }

  /**
   * Make the decoder's dictionary hold every plan word and boost them. Call between utterances,
   * before decoding a session's audio; `restore` undoes it.
   */
  apply(dec: PocketsphinxDecoder, plan: KeywordPlan): void {
    if (plan.empty) return;
    const t0 = performance.now();
    const st = this.state(dec);
    if (st.saved.size > 0) this.restore(dec); // a previous session's boosts, defensively
    const words = [...plan.intensity.keys()];
    const missing = words.filter((w) => dec.lookupWord(w) === null);
    if (missing.length > 0) {
      this.cmudictLookup(missing);
      const needG2P = missing.filter((w) => !this.cmudict.get(w));
      // G2P reads the word as the keyword writes it (all-caps acronyms are spelled out).
      const displayOf = new Map(plan.specs.flatMap((s) => s.words.map((w, i) => [w, s.display[i]] as const)));
      let g2p = new Map<string, string | null>();
      try {
        if (needG2P.length > 0) g2p = this.g2p.phonemize(needG2P.map((w) => displayOf.get(w) ?? w));
      } catch (err) {
        // espeak-ng missing or failing: those words cannot be added; LM words are still boosted.
        if (!(err instanceof G2PError)) throw err;
        this.stats.g2pErrors++;
        this.lastG2PError = err.message;
      }
      const entries: { word: string; phones: string }[] = [];
      for (const w of missing) {
        const prons = this.cmudict.get(w) ?? [g2p.get(displayOf.get(w) ?? w)].filter((p): p is string => !!p);
        const valid = prons.filter((p) => p.split(' ').every((ph) => CMU_PHONES.has(ph)));
        if (valid.length === 0) {
          this.stats.unpronounceable++;
          continue;
        }
        valid.forEach((p, i) => entries.push({ word: i === 0 ? w : `${w}(${i + 1})`, phones: p }));
      }
      if (entries.length > 0) {
        const added = dec.addWords(entries);
        this.stats.rebuilds++;
        const table = dec.unigramTable();
        for (const w of added) {
          if (/\(\d+\)$/.test(w)) continue;
          st.added.add(w);
          this.stats.wordsAdded++;
          if (table) {
            const wid = table.wid(w);
            if (wid >= 0) table.set(wid, DISABLED_LOG10);
          } else {
            st.tainted = true;
          }
        }
      }
    }
    const table = dec.unigramTable();
    if (table) {
      const base1N = table.oovLog10();
      for (const [w, intensity] of plan.intensity) {
        const wid = table.wid(w);
        if (wid < 0) continue;
        const cur = table.get(wid);
        const isAdded = st.added.has(w);
        if (isAdded) plan.markAdded(w);
        const base = isAdded ? base1N : cur;
        const target = Math.max(cur, Math.min(CAP_LOG10, base + intensity * STEP_LOG10));
        if (!st.saved.has(wid)) st.saved.set(wid, cur);
        table.set(wid, target);
      }
      table.flush();
    } else {
      for (const w of words) if (st.added.has(w)) plan.markAdded(w);
    }
    this.stats.applyMs += performance.now() - t0;
  }

  /** Undo the session's boosts. Returns false when the decoder must not be reused. */
  restore(dec: PocketsphinxDecoder): boolean {
    const st = this.states.get(dec);
    if (!st) return true;
    if (st.saved.size > 0) {
      const table = dec.unigramTable();
      if (!table) return false;
      for (const [wid, v] of st.saved) table.set(wid, v);
      st.saved.clear();
      table.flush();
    }
    return !st.tainted && st.added.size <= MAX_ADDED_WORDS_PER_DECODER;
  }

  /** Words added to this decoder so far (for tests). */
  addedWords(dec: PocketsphinxDecoder): string[] {
    return [...(this.states.get(dec)?.added ?? [])];
  }
}
