/**
 * Strict SRT and WebVTT parsers for tests: they reject anything not well-formed and check that
 * cue times are monotonic, so the CLI's captions are validated independently of how they were made.
 */
export interface ParsedCue {
  index?: number;
  start: number;
  end: number;
  lines: string[];
}

const SRT_TIME = /^(\d{2,}):([0-5]\d):([0-5]\d),(\d{3})$/;
const VTT_TIME = /^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})$/;

function seconds(m: RegExpExecArray): number {
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
}

function checkTimes(cues: ParsedCue[]): void {
  let prevStart = -1;
  let prevEnd = 0;
  cues.forEach((c, i) => {
    if (!(c.end > c.start)) throw new Error(`cue ${i + 1}: end ${c.end} is not after start ${c.start}`);
    if (c.start < prevStart) throw new Error(`cue ${i + 1}: starts before the previous cue`);
    if (c.start < prevEnd - 1e-9) throw new Error(`cue ${i + 1}: overlaps the previous cue (${c.start} < ${prevEnd})`);
    prevStart = c.start;
    prevEnd = c.end;
  });
}

export function parseSrt(text: string): ParsedCue[] {
  if (text.trim() === '') return [];
  if (text.includes('\r')) throw new Error('unexpected CR');
  if (!text.endsWith('\n')) throw new Error('file must end with a newline');
  const blocks = text.replace(/\n+$/, '').split(/\n\n/);
  const cues = blocks.map((b, i) => {
    const lines = b.split('\n');
    if (lines.length < 3) throw new Error(`block ${i + 1}: needs index, timing and text: ${JSON.stringify(b)}`);
    if (!/^\d+$/.test(lines[0]) || Number(lines[0]) !== i + 1) throw new Error(`block ${i + 1}: bad index ${JSON.stringify(lines[0])}`);
    const parts = lines[1].split(' --> ');
    if (parts.length !== 2) throw new Error(`block ${i + 1}: bad timing line ${JSON.stringify(lines[1])}`);
    const a = SRT_TIME.exec(parts[0]);
    const z = SRT_TIME.exec(parts[1]);
    if (!a || !z) throw new Error(`block ${i + 1}: bad timestamps ${JSON.stringify(lines[1])}`);
    const textLines = lines.slice(2);
    if (textLines.some((l) => l.trim() === '')) throw new Error(`block ${i + 1}: empty text line`);
    return { index: i + 1, start: seconds(a), end: seconds(z), lines: textLines };
  });
  checkTimes(cues);
  return cues;
}

export function parseVtt(text: string): ParsedCue[] {
  if (text.includes('\r')) throw new Error('unexpected CR');
  const [header, ...rest] = text.split('\n\n');
  if (!/^WEBVTT(?:[ \t].*)?(\n|$)/.test(header) || header.split('\n').length > 1) throw new Error(`bad header ${JSON.stringify(header)}`);
  const body = rest.join('\n\n').replace(/\n+$/, '');
  if (!body) return [];
  const cues = body.split(/\n\n/).map((b, i) => {
    const lines = b.split('\n');
    let k = 0;
    if (!lines[0].includes('-->')) k = 1; // optional cue identifier
    const parts = (lines[k] ?? '').split(/ --> /);
    if (parts.length !== 2) throw new Error(`cue ${i + 1}: bad timing line ${JSON.stringify(lines[k])}`);
    const a = VTT_TIME.exec(parts[0]);
    const z = VTT_TIME.exec(parts[1].split(/\s+/)[0]);
    if (!a || !z) throw new Error(`cue ${i + 1}: bad timestamps ${JSON.stringify(lines[k])}`);
    const textLines = lines.slice(k + 1);
    if (textLines.length === 0) throw new Error(`cue ${i + 1}: no text`);
    for (const l of textLines) {
      if (l.includes('-->')) throw new Error(`cue ${i + 1}: "-->" in cue text`);
      if (/[<>]|&(?!amp;|lt;|gt;|nbsp;|lrm;|rlm;)/.test(l)) throw new Error(`cue ${i + 1}: unescaped markup in ${JSON.stringify(l)}`);
    }
    return { start: seconds(a), end: seconds(z), lines: textLines };
  });
  checkTimes(cues);
  return cues;
}
