/**
 * `cochlea stream <file|->`: real-time transcription of a file (paced at real time by default)
 * or of raw PCM from stdin, over the WebSocket API (through the SDK in client/). On a terminal,
 * partials are redrawn in place and finals are printed on their own lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import {
  CochleaApiError,
  CochleaClient,
  CochleaConnectionError,
  type AudioEncoding,
  type StreamEvent,
} from '../../client/src/index.ts';
import {
  CONNECTION_HELP,
  EXIT,
  EXIT_CODES_HELP,
  addConnectionOptions,
  defaultIO,
  describeError,
  intOption,
  languageOption,
  resolveConnection,
  type CliIO,
} from './client-common.ts';

interface StreamCliOptions {
  url?: string;
  key?: string;
  language: string;
  encoding: 'linear16' | 'mulaw' | 'alaw';
  sampleRate: number;
  realtime?: boolean;
  chunkMs: number;
  format: 'text' | 'json';
  timestamps?: boolean;
  eouTimeoutMs?: number;
  ffmpeg: string;
  retries: number;
}

export interface PcmSource {
  encoding: AudioEncoding;
  sampleRate: number;
  bytesPerSample: number;
  chunks: AsyncIterable<Uint8Array>;
  /** Resolves when the source ended; rejects when decoding failed (e.g. ffmpeg exit code). */
  finished: Promise<void>;
  stop(): void;
}

export class InputError extends Error {}

interface WavInfo {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  dataOffset: number;
  dataBytes: number;
}

/** Find fmt and data in a RIFF/WAVE header (from the first bytes of the file). */
export function parseWavHeader(b: Buffer, fileSize: number): WavInfo | undefined {
  if (b.length < 12 || b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') return undefined;
  let off = 12;
  let fmt: Omit<WavInfo, 'dataOffset' | 'dataBytes'> | undefined;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ' && off + 24 <= b.length) {
      let format = b.readUInt16LE(off + 8);
      // WAVE_FORMAT_EXTENSIBLE: the real format is the first 2 bytes of the sub-format GUID.
      if (format === 0xfffe && size >= 40 && off + 34 <= b.length) format = b.readUInt16LE(off + 32);
      fmt = { format, channels: b.readUInt16LE(off + 10), sampleRate: b.readUInt32LE(off + 12), bitsPerSample: b.readUInt16LE(off + 22) };
    } else if (id === 'data') {
      if (!fmt) return undefined;
      const dataOffset = off + 8;
      // Streamed WAVs carry 0 or 0xFFFFFFFF as the data size: read to the end of the file.
      const dataBytes = size === 0 || size === 0xffffffff || dataOffset + size > fileSize ? fileSize - dataOffset : size;
      return { ...fmt, dataOffset, dataBytes };
    }
    off += 8 + size + (size & 1);
  }
  return undefined;
}

function fileSource(file: string, o: StreamCliOptions): Promise<PcmSource> {
  return new Promise((resolve, reject) => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      return reject(new InputError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`));
    }
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    const wav = parseWavHeader(head, size);
    // 16-bit PCM mono WAV goes as-is (the server resamples any rate it accepts); all else via ffmpeg.
    if (wav && wav.format === 1 && wav.bitsPerSample === 16 && wav.channels === 1 && wav.sampleRate >= 8000 && wav.sampleRate <= 48000) {
      const rs = fs.createReadStream(file, { start: wav.dataOffset, end: wav.dataOffset + wav.dataBytes - 1, highWaterMark: 64 * 1024 });
      const finished = new Promise<void>((res, rej) => {
        rs.once('end', res);
        rs.once('close', res);
        rs.once('error', (e) => rej(new InputError(`${file}: ${e.message}`)));
      });
      finished.catch(() => {});
      return resolve({ encoding: 'linear16', sampleRate: wav.sampleRate, bytesPerSample: 2, chunks: rs, finished, stop: () => rs.destroy() });
    }
    resolve(ffmpegSource(file, o.ffmpeg));
  });
}

/** Decode anything ffmpeg reads to 16 kHz mono s16le. */
function ffmpegSource(file: string, ffmpeg: string): PcmSource {
  const child: ChildProcess = spawn(ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-i', file, '-vn', '-f', 's16le', '-acodec', 'pcm_s16le', '-ac', '1', '-ar', '16000', 'pipe:1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let errText = '';
  child.stderr!.on('data', (d) => (errText = (errText + d).slice(-2000)));
  const finished = new Promise<void>((resolve, reject) => {
    child.once('error', (e) =>
      reject(new InputError((e as NodeJS.ErrnoException).code === 'ENOENT' ? `ffmpeg not found ("${ffmpeg}"): install ffmpeg, or give a 16-bit PCM WAV` : e.message)),
    );
    child.once('close', (code, signal) => {
      if (code === 0 || signal === 'SIGTERM') resolve();
      else reject(new InputError(`ffmpeg could not decode ${file}: ${errText.trim().split('\n').pop() || `exit code ${code}`}`));
    });
  });
  finished.catch(() => {});
  return { encoding: 'linear16', sampleRate: 16000, bytesPerSample: 2, chunks: child.stdout!, finished, stop: () => child.kill('SIGTERM') };
}

function stdinSource(io: CliIO, o: StreamCliOptions): PcmSource {
  const finished = new Promise<void>((resolve, reject) => {
    io.stdin.once('end', resolve);
    io.stdin.once('error', reject);
  });
  finished.catch(() => {});
  return {
    encoding: o.encoding,
    sampleRate: o.sampleRate,
    bytesPerSample: o.encoding === 'linear16' ? 2 : 1,
    chunks: io.stdin as AsyncIterable<Uint8Array>,
    finished,
    stop: () => (io.stdin as { destroy?: () => void }).destroy?.(),
  };
}

/** Re-chunk a byte stream into frames of `size` bytes (the last may be shorter). */
export async function* frames(src: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let buf = Buffer.alloc(0);
  for await (const chunk of src) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : Buffer.from(chunk);
    while (buf.length >= size) {
      yield buf.subarray(0, size);
      buf = buf.subarray(size);
    }
  }
  if (buf.length) yield buf;
}

const fmtTime = (s: number) => {
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${(s - m * 60).toFixed(2).padStart(5, '0')}`;
};

/** Prints events: partials in place on a terminal, finals on their own lines. */
export class LivePrinter {
  private partialShown = false;
  constructor(
    private readonly out: CliIO['stdout'],
    private readonly opts: { format: 'text' | 'json'; timestamps?: boolean },
  ) {}

  private get tty(): boolean {
    return !!this.out.isTTY;
  }

  private clearPartial(): void {
    if (this.partialShown) this.out.write('\r\x1b[2K');
    this.partialShown = false;
  }

  event(ev: StreamEvent): void {
    if (this.opts.format === 'json') {
      this.out.write(JSON.stringify(ev) + '\n');
      return;
    }
    if (ev.type !== 'transcription') return;
    if (!ev.is_final) {
      if (!this.tty || !ev.transcript) return;
      // Keep the partial on one terminal row (a wrapped line could not be redrawn in place): show its tail.
      const width = Math.max(20, (this.out.columns ?? 80) - 2);
      const t = ev.transcript.length > width ? '…' + ev.transcript.slice(-(width - 1)) : ev.transcript;
      this.out.write(`\r\x1b[2K\x1b[2m${t}\x1b[22m`);
      this.partialShown = true;
      return;
    }
    this.clearPartial();
    if (!ev.transcript) return;
    this.out.write(`${this.opts.timestamps ? `[${fmtTime(ev.start ?? ev.words?.[0]?.start ?? 0)} → ${fmtTime(ev.end ?? ev.words?.at(-1)?.end ?? 0)}] ` : ''}${ev.transcript}\n`);
  }

  end(): void {
    if (this.opts.format === 'text') this.clearPartial();
  }
}

export function registerStreamCommand(program: Command, io: CliIO = defaultIO()): Command {
  const cmd = program
    .command('stream')
    .description('transcribe in real time over WebSocket: a file (paced at real time) or raw PCM from stdin ("-")')
    .argument('<input>', 'audio file (16-bit PCM WAV as-is; anything else is decoded with ffmpeg), or - for raw audio on stdin');
  addConnectionOptions(cmd)
    .addOption(languageOption())
    .addOption(new Option('-e, --encoding <encoding>', 'encoding of raw stdin audio').choices(['linear16', 'mulaw', 'alaw']).default('linear16'))
    .option('-r, --sample-rate <hz>', 'sample rate of raw stdin audio', intOption('--sample-rate', 8000, 48000), 16000)
    .option('--realtime', 'pace sending at the audio\'s real-time rate (default for files)')
    .option('--no-realtime', 'send as fast as the server takes it (default for stdin)')
    .option('--chunk-ms <ms>', 'audio per WebSocket frame', intOption('--chunk-ms', 10, 2000), 100)
    .addOption(new Option('-f, --format <format>', 'text: finals (and partials on a terminal); json: every event as JSON Lines').choices(['text', 'json']).default('text'))
    .option('-t, --timestamps', 'prefix finals with [start → end] session times')
    .option('--eou-timeout-ms <ms>', 'silence that ends a segment (server default 800)', intOption('--eou-timeout-ms', 100, 10_000))
    .option('--ffmpeg <path>', 'ffmpeg binary for non-WAV files', 'ffmpeg')
    .option('--retries <n>', 'connection retries (before any audio is sent)', intOption('--retries', 0, 10), 3)
    .addHelpText(
      'after',
      [
        CONNECTION_HELP,
        '',
        'Ctrl-C once: stop sending, wait for the last final; twice: quit at once.',
        EXIT_CODES_HELP([
          [EXIT.server, 'server unreachable, or it refused the key or the parameters'],
          [EXIT.input, 'the input could not be read or decoded (missing file, ffmpeg error)'],
          [EXIT.stream, 'the session broke after audio was sent (nothing is re-sent)'],
        ]),
        '',
        'Examples:',
        '  cochlea stream meeting.mp3',
        '  arecord -q -f S16_LE -r 16000 -c 1 -t raw | cochlea stream -',
        '  cochlea stream call.wav --no-realtime -f json > events.jsonl',
      ].join('\n'),
    )
    .action(async (input: string, o: StreamCliOptions) => {
      io.setExitCode(await runStream(input, o, io));
    });
  return cmd;
}

async function runStream(input: string, o: StreamCliOptions, io: CliIO): Promise<number> {
  const conn = resolveConnection(o, io.env);
  let src: PcmSource;
  try {
    src = input === '-' ? stdinSource(io, o) : await fileSource(input, o);
  } catch (e) {
    io.stderr.write(`cochlea: ${(e as Error).message}\n`);
    return EXIT.input;
  }
  const realtime = o.realtime ?? input !== '-';
  const printer = new LivePrinter(io.stdout, { format: o.format, timestamps: o.timestamps });
  const client = new CochleaClient({
    ...conn,
    retry: { retries: o.retries },
    onRetry: (i) => io.stderr.write(`cochlea: ${describeError(i.error)}; retry ${i.attempt}/${o.retries} in ${(i.delayMs / 1000).toFixed(1)} s\n`),
  });
  const session = client.stream({
    language: o.language,
    encoding: src.encoding,
    sampleRate: src.sampleRate,
    eouTimeoutMs: o.eouTimeoutMs,
    onEvent: (ev) => printer.event(ev),
    onServerError: (ev) => {
      if (o.format === 'text') io.stderr.write(`cochlea: server: ${ev.message}\n`);
    },
  });

  let interrupts = 0;
  let stopReading = false;
  const removeSigint = io.onInterrupt(() => {
    interrupts++;
    if (interrupts === 1) {
      stopReading = true;
      src.stop();
      io.stderr.write('\ncochlea: stopping; waiting for the last final (Ctrl-C again to quit now)\n');
    } else session.abort('interrupted');
  });

  const bytesPerSecond = src.sampleRate * src.bytesPerSample;
  const frameBytes = Math.max(src.bytesPerSample, Math.round((bytesPerSecond * o.chunkMs) / 1000 / src.bytesPerSample) * src.bytesPerSample);
  let inputError: Error | undefined;
  try {
    try {
      await session.ready;
    } catch (e) {
      src.stop();
      io.stderr.write(`cochlea: ${describeError(e)}\n`);
      return interrupts ? EXIT.interrupted : EXIT.server;
    }
    const t0 = performance.now();
    let sent = 0;
    try {
      for await (const frame of frames(src.chunks, frameBytes)) {
        if (stopReading || session.state === 'closed') break;
        if (!session.write(frame)) await session.drain();
        sent += frame.byteLength;
        if (realtime) {
          const wait = t0 + (sent / bytesPerSecond) * 1000 - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }
      if (!stopReading) await src.finished;
    } catch (e) {
      if (!stopReading && session.state !== 'closed') inputError = e as Error;
    }
    if (session.state === 'closed') {
      // The session failed while we were sending.
      await session.done.catch(() => {});
    }
    const result = await session.close();
    printer.end();
    if (inputError) {
      io.stderr.write(`cochlea: ${inputError.message}\n`);
      return EXIT.input;
    }
    void result;
    return interrupts ? EXIT.interrupted : EXIT.ok;
  } catch (e) {
    printer.end();
    if (interrupts > 1) return EXIT.interrupted;
    io.stderr.write(`cochlea: ${describeError(e)}\n`);
    if (inputError) return EXIT.input;
    return e instanceof CochleaApiError || (e instanceof CochleaConnectionError && !e.audioSent) ? EXIT.server : EXIT.stream;
  } finally {
    removeSigint();
    src.stop();
  }
}
