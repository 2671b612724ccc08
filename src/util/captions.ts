/**
 * Transcripts → SubRip (.srt) and WebVTT (.vtt) captions: the one caption writer, shared by the CLI
 * (`cochlea transcribe -f srt|vtt`, from Pulse JSON) and the server's OpenAI-compatible endpoint
 * (`response_format=srt|vtt`, from a pipeline `Transcript`, see server/openai-format.ts).
 *
 * Cues follow the transcript's utterances (a cue never spans two utterances). Long utterances are
 * split on word boundaries so every cue fits the usual subtitle rules: at most `maxLines` lines
 * (2) of at most `maxLineChars` characters (42, the common broadcast/Netflix limit) and at most
 * `maxCueSeconds` on screen. Cue times come from word timings; times are made monotonic.
 *
 * Written here rather than taken from a library: the subtitle packages on npm either parse only,
 * or segment by characters/time without using word timings and utterance boundaries, which is
 * what makes the cues line up with speech.
 */

export interface CaptionWord {
  word: string;
  start: number;
  end: number;
}

export interface CaptionSource {
  transcription: string;
  words?: CaptionWord[];
  utterances?: { text: string; start: number; end: number }[];
  metadata?: { duration?: number };
}

export interface Cue {
  start: number;
  end: number;
  lines: string[];
}

export interface CaptionOptions {
  maxLineChars?: number;
  maxLines?: number;
  maxCueSeconds?: number;
  /** Short cues are held on screen at least this long when the next cue leaves room (default 0.8 s). */
  minCueSeconds?: number;
}

const DEFAULTS: Required<CaptionOptions> = { maxLineChars: 42, maxLines: 2, maxCueSeconds: 7, minCueSeconds: 0.8 };

/**
 * Wrap words into at most `maxLines` lines of at most `maxChars`, as balanced as possible (two
 * lines of similar length read better than a full line and an orphan). Returns undefined when the
 * words do not fit.
 */
export function wrapLines(words: string[], maxChars: number, maxLines: number): string[] | undefined {
  const text = words.join(' ');
  if (text.length <= maxChars) return [text];
  if (maxLines < 2) return undefined;
  let best: string[] | undefined;
  let bestScore = Infinity;
  for (let i = 1; i < words.length; i++) {
    const first = words.slice(0, i).join(' ');
    if (first.length > maxChars) break;
    const rest = wrapLines(words.slice(i), maxChars, maxLines - 1);
    if (!rest) continue;
    const lens = [first.length, ...rest.map((l) => l.length)];
    const score = Math.max(...lens) - Math.min(...lens);
    if (score < bestScore) {
      bestScore = score;
      best = [first, ...rest];
    }
  }
  return best;
}

/** Hard-split a token longer than a line (URLs, very long compounds). */
function splitLongToken(w: CaptionWord, maxChars: number): CaptionWord[] {
  if (w.word.length <= maxChars) return [w];
  const parts: CaptionWord[] = [];
  const n = Math.ceil(w.word.length / maxChars);
  const dur = (w.end - w.start) / n;
  for (let i = 0; i < n; i++) {
    parts.push({ word: w.word.slice(i * maxChars, (i + 1) * maxChars), start: w.start + i * dur, end: w.start + (i + 1) * dur });
  }
  return parts;
}

/** Words of each utterance: by time when words exist, else the utterance text spread over its span. */
function groupWords(src: CaptionSource): CaptionWord[][] {
  const words = (src.words ?? []).filter((w) => w.word && w.word.trim());
  const utts = src.utterances ?? [];
  if (utts.length === 0) {
    if (words.length) return [words];
    const text = src.transcription.trim();
    if (!text) return [];
    return [spread(text, 0, src.metadata?.duration ?? Math.max(1, text.split(/\s+/).length * 0.4))];
  }
  if (!words.length) return utts.filter((u) => u.text.trim()).map((u) => spread(u.text, u.start, u.end));
  const groups: CaptionWord[][] = utts.map(() => []);
  let u = 0;
  for (const w of words) {
    const mid = (w.start + w.end) / 2;
    // Utterances and words are both in time order: advance to the utterance containing the word.
    while (u < utts.length - 1 && mid > utts[u].end && mid >= (utts[u].end + utts[u + 1].start) / 2) u++;
    groups[u].push(w);
  }
  return groups.filter((g) => g.length);
}

function spread(text: string, start: number, end: number): CaptionWord[] {
  const toks = text.trim().split(/\s+/).filter(Boolean);
  const total = toks.reduce((a, t) => a + t.length + 1, 0);
  const out: CaptionWord[] = [];
  let t = start;
  for (const tok of toks) {
    const d = ((end - start) * (tok.length + 1)) / total;
    out.push({ word: tok, start: t, end: t + d });
    t += d;
  }
  return out;
}

export function buildCues(src: CaptionSource, options: CaptionOptions = {}): Cue[] {
  const o = { ...DEFAULTS, ...options };
  const cues: Cue[] = [];
  for (const group of groupWords(src)) {
    const words = group.flatMap((w) => splitLongToken({ word: w.word.trim(), start: w.start, end: w.end }, o.maxLineChars));
    let cur: CaptionWord[] = [];
    const flush = () => {
      if (!cur.length) return;
      cues.push({ start: cur[0].start, end: cur[cur.length - 1].end, lines: wrapLines(cur.map((w) => w.word), o.maxLineChars, o.maxLines)! });
      cur = [];
    };
    for (const w of words) {
      const next = [...cur, w];
      const fits = wrapLines(next.map((x) => x.word), o.maxLineChars, o.maxLines) !== undefined;
      const tooLong = cur.length > 0 && w.end - cur[0].start > o.maxCueSeconds;
      if (cur.length && (!fits || tooLong)) flush();
      cur.push(w);
    }
    flush();
  }
  // Monotonic, non-overlapping times; short cues held a little longer when there is room.
  for (let i = 0; i < cues.length; i++) {
    const c = cues[i];
    const prevEnd = i > 0 ? cues[i - 1].end : 0;
    c.start = Math.max(c.start, prevEnd, 0);
    c.end = Math.max(c.end, c.start + 0.001);
    const nextStart = i + 1 < cues.length ? cues[i + 1].start : Infinity;
    if (c.end - c.start < o.minCueSeconds) c.end = Math.max(c.end, Math.min(c.start + o.minCueSeconds, nextStart));
  }
  return cues;
}

function stamp(seconds: number, sep: ',' | '.'): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

export function toSrt(cues: Cue[]): string {
  return cues.map((c, i) => `${i + 1}\n${stamp(c.start, ',')} --> ${stamp(c.end, ',')}\n${c.lines.join('\n')}\n`).join('\n');
}

const escapeVtt = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function toVtt(cues: Cue[]): string {
  const body = cues.map((c) => `${stamp(c.start, '.')} --> ${stamp(c.end, '.')}\n${c.lines.map(escapeVtt).join('\n')}\n`).join('\n');
  return `WEBVTT\n\n${body}`;
}
