/**
 * `cochlea transcribe <files|dirs|urls...>`: pre-recorded transcription of many inputs through
 * the server's public API (the SDK in client/), with a progress bar on a terminal, bounded
 * concurrency, and json / text / srt / vtt output.
 */
import fs from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { InvalidArgumentError, type Command } from 'commander';
import { CochleaClient, type PulseTranscription } from '../../client/src/index.ts';
import { buildCues, toSrt, toVtt } from '../util/captions.ts';
import {
  CONNECTION_HELP,
  EXIT,
  EXIT_CODES_HELP,
  addConnectionOptions,
  defaultIO,
  describeError,
  intOption,
  isFatalForRun,
  languageOption,
  resolveConnection,
  type CliIO,
} from './client-common.ts';

export type OutputFormat = 'json' | 'text' | 'srt' | 'vtt';
const EXT: Record<OutputFormat, string> = { json: 'json', text: 'txt', srt: 'srt', vtt: 'vtt' };

/** Extensions picked up when a directory is given (the server sniffs the actual format). */
export const AUDIO_EXTENSIONS = new Set([
  'wav', 'wave', 'mp3', 'flac', 'ogg', 'oga', 'opus', 'webm', 'm4a', 'mp4', 'aac', 'amr', '3gp', 'mkv', 'mov', 'wma', 'aiff', 'aif', 'caf',
]);

interface TranscribeCliOptions {
  url?: string;
  key?: string;
  language: string;
  format: OutputFormat[];
  outputDir?: string;
  concurrency: number;
  wordTimestamps?: boolean;
  progress: boolean;
  maxLineChars: number;
  retries: number;
  timeout?: number;
}

const FORMATS: OutputFormat[] = ['json', 'text', 'srt', 'vtt'];

function parseFormats(v: string): OutputFormat[] {
  const list = [...new Set(v.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean))];
  const bad = list.filter((f) => !FORMATS.includes(f as OutputFormat));
  if (!list.length || bad.length) throw new InvalidArgumentError(`format must be one of ${FORMATS.join(', ')} (or a comma list of them)`);
  return list as OutputFormat[];
}

export interface InputItem {
  /** As given / found (path or URL). */
  label: string;
  kind: 'file' | 'url';
  /** Error found while resolving (missing path...). */
  error?: string;
}

/** Expand the arguments: URLs as-is, files, and audio files found (recursively, sorted) in directories. */
export function resolveInputs(args: string[]): InputItem[] {
  const out: InputItem[] = [];
  const walk = (dir: string) => {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = fs.statSync(p, { throwIfNoEntry: false });
        isDir = !!st?.isDirectory();
        isFile = !!st?.isFile();
      }
      if (isDir) walk(p);
      else if (isFile && AUDIO_EXTENSIONS.has(path.extname(e.name).slice(1).toLowerCase())) out.push({ label: p, kind: 'file' });
    }
  };
  for (const a of args) {
    if (/^https?:\/\//i.test(a)) {
      out.push({ label: a, kind: 'url' });
      continue;
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(a);
    } catch (e) {
      out.push({ label: a, kind: 'file', error: (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message });
      continue;
    }
    if (st.isDirectory()) walk(a);
    else out.push({ label: a, kind: 'file' });
  }
  return out;
}

/** Output file names: base name + format extension, de-duplicated (a.wav and x/a.mp3 → a.srt, a-2.srt). */
export function outputNames(items: InputItem[], format: OutputFormat): string[] {
  const used = new Map<string, number>();
  return items.map((it, i) => {
    let base = it.kind === 'url' ? decodeURIComponent(new URL(it.label).pathname.split('/').pop() || '') : path.basename(it.label);
    base = base.replace(/\.[^.]+$/, '').replace(/[^\w.-]+/g, '_') || `input-${i + 1}`;
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return `${n === 1 ? base : `${base}-${n}`}.${EXT[format]}`;
  });
}

export function render(result: PulseTranscription, format: OutputFormat, maxLineChars = 42): string {
  switch (format) {
    case 'json':
      return JSON.stringify(result, null, 2) + '\n';
    case 'text':
      return result.transcription + '\n';
    case 'srt':
      return toSrt(buildCues(result, { maxLineChars }));
    case 'vtt':
      return toVtt(buildCues(result, { maxLineChars }));
  }
}

export function registerTranscribeCommand(program: Command, io: CliIO = defaultIO()): Command {
  const cmd = program
    .command('transcribe')
    .description('transcribe audio files, directories of audio files, or URLs (fetched by the server)')
    .argument('<inputs...>', 'files, directories (searched recursively for audio) or http(s) URLs');
  addConnectionOptions(cmd)
    .addOption(languageOption())
    .option('-f, --format <formats>', 'output format: json, text, srt or vtt; with --output-dir a comma list (e.g. srt,vtt,json) writes each from one transcription', parseFormats, ['text'] as OutputFormat[])
    .option('-o, --output-dir <dir>', 'write one file per input there (<name>.json/.txt/.srt/.vtt) instead of stdout')
    .option('-c, --concurrency <n>', 'requests in flight at once', intOption('--concurrency', 1, 64), 4)
    .option('--word-timestamps', 'include words and utterances in json output (always on for srt/vtt)')
    .option('--max-line-chars <n>', 'caption line length for srt/vtt', intOption('--max-line-chars', 16, 80), 42)
    .option('--retries <n>', 'retries on 429/503 and connection failures', intOption('--retries', 0, 10), 3)
    .option('--timeout <seconds>', 'give up on one input after this long', intOption('--timeout', 1, 86_400))
    .option('--no-progress', 'no progress bar (it is shown only when stderr is a terminal)')
    .addHelpText(
      'after',
      [
        CONNECTION_HELP,
        '',
        'Output: with one input and no --output-dir, the result goes to stdout. With several, json is',
        'printed as JSON Lines ({"input": ..., ...response} or {"input": ..., "error": ...}) and text with',
        '"==> input <==" headers; srt and vtt need --output-dir. Errors go to stderr.',
        EXIT_CODES_HELP([
          [EXIT.someFailed, 'some inputs failed (the others were transcribed and written)'],
          [EXIT.server, 'server unreachable or the API key was refused (nothing more was attempted)'],
        ]),
        '',
        'Examples:',
        '  COCHLEA_API_KEY=sk_... cochlea transcribe call.wav',
        '  cochlea transcribe recordings/ -f srt -o captions/ -c 4',
        '  cochlea transcribe https://example.com/a.mp3 -f json --word-timestamps',
      ].join('\n'),
    )
    .action(async (inputs: string[], o: TranscribeCliOptions, command: Command) => {
      io.setExitCode(await runTranscribe(inputs, o, io, (m) => command.error(m, { exitCode: EXIT.usage, code: 'commander.usage' })));
    });
  return cmd;
}

async function runTranscribe(args: string[], o: TranscribeCliOptions, io: CliIO, usage: (m: string) => never): Promise<number> {
  const conn = resolveConnection(o, io.env);
  const items = resolveInputs(args);
  if (items.length === 0) usage('error: no audio files found in the given inputs');
  const toStdout = !o.outputDir;
  if (toStdout && o.format.length > 1) usage('error: several --format values need --output-dir');
  const format = o.format[0];
  if (toStdout && items.length > 1 && (format === 'srt' || format === 'vtt')) {
    usage(`error: --format ${format} with several inputs needs --output-dir`);
  }
  if (o.outputDir) fs.mkdirSync(o.outputDir, { recursive: true });
  const names = o.format.map((f) => outputNames(items, f));
  const captions = o.format.includes('srt') || o.format.includes('vtt');

  const abort = new AbortController();
  let interrupted = false;
  const removeSigint = io.onInterrupt(() => {
    if (interrupted) process.exit(EXIT.interrupted);
    interrupted = true;
    abort.abort(new Error('interrupted'));
  });

  const showBar = o.progress && !!io.stderr.isTTY && items.length > 0;
  const multi = showBar
    ? new cliProgress.MultiBar(
        {
          stream: io.stderr as unknown as NodeJS.WritableStream,
          format: ' {bar} {value}/{total} files | {percentage}% | ETA {eta_formatted} | {current}',
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 8,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const bar = multi?.create(items.length, 0, { current: '' });
  const log = (s: string) => (multi ? multi.log(s + '\n') : io.stderr.write(s + '\n'));

  const retryLog = (label: string) => (info: { attempt: number; delayMs: number; error: Error }) =>
    log(`cochlea: ${label}: ${describeError(info.error)}; retry ${info.attempt}/${o.retries} in ${(info.delayMs / 1000).toFixed(1)} s`);

  let failed = 0;
  let fatal: unknown;
  let next = 0;
  const active = new Set<string>();
  // Results reach stdout in input order, whatever order they finish in.
  const pendingOut = new Map<number, string>();
  let nextOut = 0;
  const emit = (i: number, text: string) => {
    pendingOut.set(i, text);
    while (pendingOut.has(nextOut)) {
      const t = pendingOut.get(nextOut)!;
      pendingOut.delete(nextOut++);
      if (t) io.stdout.write(t);
    }
  };

  const one = async (i: number) => {
    const it = items[i];
    const activeNames = () => [...active].map((l) => path.basename(l)).join(', ').slice(0, 40);
    const done = (text: string) => {
      active.delete(it.label);
      bar?.increment(1, { current: activeNames() });
      emit(i, text);
    };
    if (it.error) {
      failed++;
      log(`cochlea: ${it.label}: ${it.error}`);
      return done(toStdout && items.length > 1 && format === 'json' ? JSON.stringify({ input: it.label, error: { message: it.error } }) + '\n' : '');
    }
    active.add(it.label);
    bar?.update({ current: activeNames() });
    try {
      const client = new CochleaClient({ ...conn, retry: { retries: o.retries }, onRetry: retryLog(it.label) });
      const result = await client.transcribe(it.kind === 'url' ? { url: it.label } : { path: it.label }, {
        language: o.language,
        wordTimestamps: captions || !!o.wordTimestamps,
        signal: abort.signal,
        timeoutMs: o.timeout ? o.timeout * 1000 : undefined,
      });
      if (o.outputDir) {
        o.format.forEach((f, k) => fs.writeFileSync(path.join(o.outputDir!, names[k][i]), render(result, f, o.maxLineChars)));
        done('');
      } else if (items.length === 1) done(render(result, format, o.maxLineChars));
      else if (format === 'json') done(JSON.stringify({ input: it.label, ...result }) + '\n');
      else done(`==> ${it.label} <==\n${render(result, format, o.maxLineChars)}\n`);
    } catch (err) {
      failed++;
      // Requests cancelled because of Ctrl-C or another input's fatal error are not news.
      if (!(abort.signal.aborted && (err as Error).name === 'AbortError')) log(`cochlea: ${it.label}: ${describeError(err)}`);
      if (isFatalForRun(err) && !fatal) {
        fatal = err;
        abort.abort(err);
      }
      const status = (err as { status?: number }).status;
      done(toStdout && items.length > 1 && format === 'json' ? JSON.stringify({ input: it.label, error: { status, message: describeError(err) } }) + '\n' : '');
    }
  };

  const workers = Array.from({ length: Math.min(o.concurrency, items.length) }, async () => {
    while (next < items.length && !abort.signal.aborted) await one(next++);
  });
  try {
    await Promise.all(workers);
  } finally {
    multi?.stop();
    removeSigint();
  }
  if (interrupted) return EXIT.interrupted;
  if (fatal) return EXIT.server;
  const ok = items.length - failed;
  if (failed) io.stderr.write(`cochlea: ${failed} of ${items.length} inputs failed, ${ok} transcribed\n`);
  return failed ? EXIT.someFailed : EXIT.ok;
}
