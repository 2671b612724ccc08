/**
 * PII/PCI redaction (`redact_pii`, `redact_pci`). Runs after ITN, as Pulse does (ITN → redaction),
 * on batch transcripts, real-time finals AND partials: with redaction on, no detected entity reaches
 * the client in any field or event. Fail-closed: if detection throws, the pipeline withholds the text.
 *
 * Placeholders are Pulse's: `[TYPE_N]`, N sequential from 1 per type, the same entity value keeping
 * its number for the whole request or real-time session (numbering lives in `ctx.state`). A redacted
 * span becomes one word carrying the span's start/end; its `word` is the uppercase placeholder (the
 * formatter lowercases it for `words[]`, per Pulse), `entity` is the type, and `spoken` is the
 * placeholder too: the raw words are never kept in the transcript.
 *
 * Partials are redacted with the same detector (numbering is only peeked, not committed), and a
 * partial's trailing digit run, or a trailing spoken email in progress, is held back until the next
 * hypothesis or the final decides what it is: "my card is four one one one" shows as "my card is".
 */
import type { RedactedEntity, StageContext, Transcript, Utterance, Word } from '../types.ts';
import type { RegisteredStage } from '../pipeline.ts';
import { joinWords } from '../pipeline.ts';
import { detect, isNumeric, PCI_TYPES, PII_TYPES, tokenize, type EntityType, type Span, type Token } from '../redact/detect.ts';

export interface RedactionState {
  /** Last number given per type. */
  counters: Map<string, number>;
  /** type + key → number. */
  ids: Map<string, number>;
  /** The previous final's last tokens: context for the next final (cue words like "card number is"). */
  tail: Token[];
  /** The previous final ended inside a card-context digit run. */
  cardContinues: boolean;
}

const TAIL = 10;
const STATE_KEY = 'redaction';

export function newRedactionState(): RedactionState {
  return { counters: new Map(), ids: new Map(), tail: [], cardContinues: false };
}

interface Piece {
  tok: Token;
  /** Word index. */
  w: number;
}

export interface RedactResult {
  words: Word[];
  redacted: RedactedEntity[];
}

/**
 * Redact a word list. `commit` = false (partials): numbering is looked up but not advanced, the
 * previous-final context is read but not updated, and trailing unfinished digit runs are held back.
 */
export function redactWords(
  words: Word[],
  opts: { pii: boolean; pci: boolean; state: RedactionState; commit: boolean; cased?: boolean; realtime?: boolean },
): RedactResult {
  const pieces: Piece[] = [];
  words.forEach((w, wi) => {
    for (const part of w.word.split(/\s+/)) if (part) pieces.push({ tok: tokenize(part), w: wi });
  });
  const toks = pieces.map((p) => p.tok);
  const cased = opts.cased ?? toks.some((t) => /\p{Lu}/u.test(t.raw));
  const spans = detect(toks, { context: opts.state.tail, cased, cardContinues: opts.state.cardContinues, realtime: opts.realtime }).filter(
    (s) => (opts.pii && PII_TYPES.has(s.type)) || (opts.pci && PCI_TYPES.has(s.type)),
  );

  // Numbering.
  const counters = opts.commit ? opts.state.counters : new Map(opts.state.counters);
  const ids = opts.commit ? opts.state.ids : new Map(opts.state.ids);
  const placeholder = (s: Span) => {
    const k = `${s.type}\u0000${s.key}`;
    let n = ids.get(k);
    if (n === undefined) {
      n = (counters.get(s.type) ?? 0) + 1;
      counters.set(s.type, n);
      ids.set(k, n);
    }
    return `[${s.type}_${n}]`;
  };

  // Word ranges per span (a span that covers part of a word takes the whole word).
  const out: Word[] = [];
  const redacted: RedactedEntity[] = [];
  const seen = new Set<string>();
  let wi = 0;
  for (const s of spans) {
    const w1 = pieces[s.end - 1].w;
    if (w1 < wi) continue; // inside a word the previous span already replaced
    // A span that shares its first word with the previous span starts after it (never leaves a word out).
    const w0 = Math.max(pieces[s.start].w, wi);
    for (; wi < w0; wi++) out.push(words[wi]);
    const ph = placeholder(s);
    const first = words[w0];
    const last = words[w1];
    const lead = /^[^\p{L}\p{N}[(+]*/u.exec(first.word)?.[0] ?? '';
    const trail = /[^\p{L}\p{N})]*$/u.exec(last.word)?.[0] ?? '';
    const span = words.slice(w0, w1 + 1);
    const word: Word = {
      word: `${lead}${ph}${trail}`,
      start: first.start,
      end: last.end,
      confidence: Math.max(...span.map((x) => x.confidence)),
      entity: s.type,
      spoken: ph,
    };
    if (first.speaker !== undefined) word.speaker = first.speaker;
    if (first.speakerConfidence !== undefined) word.speakerConfidence = first.speakerConfidence;
    out.push(word);
    if (!seen.has(ph)) {
      seen.add(ph);
      redacted.push({ placeholder: ph, type: s.type, start: word.start, end: word.end });
    }
    wi = w1 + 1;
  }
  for (; wi < words.length; wi++) out.push(words[wi]);

  if (opts.commit) {
    // Context for the next final of the session.
    opts.state.tail = [...opts.state.tail, ...toks].slice(-TAIL);
    const lastSpan = spans[spans.length - 1];
    opts.state.cardContinues = !!lastSpan && lastSpan.end === toks.length && lastSpan.type === 'CREDITCARDNUMBER' && lastSpan.key.length < 16;
  } else {
    holdBack(out);
  }
  return { words: out, redacted };
}

/**
 * Partials: drop a trailing digit run (it may still grow into a card or phone number, and its cue
 * may still come) and a trailing spoken email in progress ("john dot smith at gmail").
 */
function holdBack(words: Word[]): void {
  const ws = words.map((w) => (w.entity ? '' : tokenize(w.word.split(/\s+/).pop() ?? '').norm));
  let cut = words.length;
  while (cut > 0 && !words[cut - 1].entity && (isNumeric(ws, cut - 1) || /\d/.test(ws[cut - 1]) || ws[cut - 1] === 'double' || ws[cut - 1] === 'triple' || ws[cut - 1] === 'oh')) cut--;
  // Email in progress: "dot"/"underscore" among the last words, or "at" near the end. Hold back
  // from the start of the local part ("john dot smith at gmail" → nothing of it).
  const joiner = (w: string) => ['dot', 'underscore', 'dash', 'hyphen'].includes(w);
  for (let k = Math.max(0, cut - 5); k < cut; k++) {
    if (joiner(ws[k]) || /@/.test(ws[k]) || (ws[k] === 'at' && k >= cut - 3)) {
      let s = k - 1;
      while (s - 2 >= 0 && joiner(ws[s - 1])) s -= 2;
      cut = Math.max(0, s);
      break;
    }
  }
  words.length = cut;
}

function redactUtterances(utts: Utterance[], words: Word[]): Utterance[] {
  return utts.map((u) => {
    const inside = words.filter((w) => w.start >= u.start - 1e-6 && w.end <= u.end + 1e-6 && (u.speaker === undefined || w.speaker === undefined || w.speaker === u.speaker));
    return { ...u, text: joinWords(inside) };
  });
}

export function redactionStage(): RegisteredStage {
  return {
    name: 'redaction',
    serves: ['redact_pii', 'redact_pci'],
    enabled: (o) => o.redactPii || o.redactPci,
    partials: true,
    failClosed: true,
    run(t: Transcript, ctx: StageContext): Transcript {
      const state = ctx.state.get<RedactionState>(STATE_KEY, newRedactionState);
      // An engine that gives only text: redact its whitespace tokens as words spread over the piece.
      const words: Word[] = t.words.length
        ? t.words
        : t.text
          ? t.text.split(/\s+/).filter(Boolean).map((word) => ({ word, start: t.start, end: t.end, confidence: 0 }))
          : [];
      const r = redactWords(words, {
        pii: ctx.options.redactPii,
        pci: ctx.options.redactPci,
        state,
        commit: !ctx.partial,
        realtime: ctx.mode === 'realtime',
        cased: ctx.options.capitalize && words.some((w) => /\p{Lu}/u.test(w.word)) ? true : undefined,
      });
      const warnings = [...t.warnings];
      if (!ctx.partial && !/^en\b/i.test(t.language || ctx.options.language)) {
        if (!warnings.some((w) => w.option === 'redact_pii' && /English/.test(w.message))) {
          warnings.push({
            option: ctx.options.redactPii ? 'redact_pii' : 'redact_pci',
            message: `redaction detects names, addresses and spoken numbers in English only; for language "${t.language || ctx.options.language}" only digit strings, emails and written formats are redacted`,
          });
        }
      }
      return {
        ...t,
        text: joinWords(r.words),
        words: t.words.length ? r.words : [],
        utterances: t.utterances.length ? redactUtterances(t.utterances, r.words) : t.utterances,
        redacted: [...(t.redacted ?? []), ...r.redacted],
        warnings,
      };
    },
  };
}

export type { EntityType };
