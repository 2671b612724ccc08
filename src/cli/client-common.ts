/** Shared pieces of the client commands (`cochlea transcribe`, `cochlea stream`). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CochleaAbortError, CochleaApiError, CochleaConnectionError, CochleaStreamClosedError } from '../../client/src/index.ts';
import { processEnv } from '../config.ts';

/** Exit codes the client commands use. Scripts may rely on them. */
export const EXIT = {
  ok: 0,
  /** Bad arguments or options, nothing to do. */
  usage: 1,
  /** `transcribe`: some inputs failed (the others were written). */
  someFailed: 2,
  /** Server unreachable, or it refused the key/request before any work (401, 400 on params, 429/503 after retries). */
  server: 3,
  /** An input could not be read or decoded locally (missing file, ffmpeg failure). */
  input: 4,
  /** `stream`: the session broke after audio was sent (connection lost, server closed it without the last final). */
  stream: 5,
  /** Interrupted (Ctrl-C) before finishing. */
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP = (extra: [number, string][]) =>
  [
    '',
    'Exit codes:',
    '  0    success',
    '  1    usage error (bad arguments or options)',
    ...extra.map(([c, s]) => `  ${String(c).padEnd(4)} ${s}`),
    '  130  interrupted (Ctrl-C)',
  ].join('\n');

export const CONNECTION_HELP = [
  '',
  'Server:',
  '  --url or $COCHLEA_URL (default http://localhost:8080); --key or $COCHLEA_API_KEY.',
  '  Prefer the environment variable for the key: command-line arguments are visible to other users (ps).',
].join('\n');

/** Where the commands write and how they report an exit code; tests pass their own. */
export interface CliIO {
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  setExitCode(code: number): void;
  /** Install a SIGINT handler; returns its remover. */
  onInterrupt(cb: () => void): () => void;
}

export function defaultIO(): CliIO {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: processEnv(),
    setExitCode: (c) => {
      process.exitCode = c;
    },
    onInterrupt(cb) {
      process.on('SIGINT', cb);
      return () => process.off('SIGINT', cb);
    },
  };
}

export interface ConnectionOpts {
  url?: string;
  key?: string;
}

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'server address (env COCHLEA_URL, default http://localhost:8080)')
    .option('--key <key>', 'API key (env COCHLEA_API_KEY)');
}

export function resolveConnection(o: ConnectionOpts, env: CliIO['env']): { baseUrl: string; apiKey?: string } {
  const baseUrl = o.url ?? env.COCHLEA_URL ?? 'http://localhost:8080';
  try {
    const u = new URL(baseUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new InvalidArgumentError(`--url must be an http(s) URL, got "${baseUrl}"`);
  }
  return { baseUrl, apiKey: o.key ?? env.COCHLEA_API_KEY ?? undefined };
}

export function intOption(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

export const languageOption = () => new Option('-l, --language <code>', 'language code (en, de, ..., or multi)').default('en');

/** One line describing an error for a human. */
export function describeError(err: unknown): string {
  if (err instanceof CochleaApiError) {
    const hint = err.status === 401 ? ' (set --key or COCHLEA_API_KEY)' : '';
    const fields = err.errors.length ? ` [${err.errors.map((e) => `${e.field}: ${e.message}`).join('; ')}]` : '';
    return `HTTP ${err.status}: ${err.message}${fields}${hint}`;
  }
  if (err instanceof CochleaStreamClosedError) return err.message;
  if (err instanceof CochleaConnectionError || err instanceof CochleaAbortError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Errors after which no other request can succeed either. */
export function isFatalForRun(err: unknown): boolean {
  return (err instanceof CochleaApiError && (err.status === 401 || err.status === 403)) || (err instanceof CochleaConnectionError && !err.audioSent);
}
