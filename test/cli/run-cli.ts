/**
 * Two ways to run the `cochlea` client commands in tests:
 * - `cliProcess`: the real program (bin/cochlea.js) as a child process: exit codes, signals and
 *   stdin as a user gets them. Each one cold-starts Node + tsx, so only a few tests use it.
 * - `cliInProcess`: the same commander program and command code (registerTranscribeCommand /
 *   registerStreamCommand) in this process, with the CliIO they take for output, environment,
 *   stdin and exit code, and commander's exitOverride for usage errors, as bin/cochlea.js maps them.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Command } from 'commander';
import type { CliIO } from '../../src/cli/client-common.ts';
import { registerStreamCommand } from '../../src/cli/stream.ts';
import { registerTranscribeCommand } from '../../src/cli/transcribe.ts';
import { REPO_ROOT } from '../helpers/speech.ts';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const BIN = path.join(REPO_ROOT, 'bin', 'cochlea.js');

export function cliProcess(args: string[], env: Record<string, string> = {}, stdin?: Buffer, interruptWhen?: (stdout: string) => boolean): Promise<Run> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, HOME: os.tmpdir(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  if (stdin) child.stdin.end(stdin);
  else child.stdin.end();
  let interrupted = false;
  if (interruptWhen) {
    child.stdout.on('data', () => {
      if (!interrupted && interruptWhen(stdout)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
  }
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 })));
}

export async function cliInProcess(args: string[], env: Record<string, string> = {}, stdin?: Buffer): Promise<Run> {
  const t0 = Date.now();
  let stdout = '';
  let stderr = '';
  let code: number | null = 0;
  const io: CliIO = {
    stdout: { write: (s: string) => (stdout += s), isTTY: false },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    stdin: Readable.from(stdin ? [stdin] : []),
    env: { PATH: process.env.PATH, HOME: os.tmpdir(), ...env },
    setExitCode: (c) => {
      code = c;
    },
    onInterrupt: () => () => {},
  };
  const program = new Command()
    .name('cochlea')
    .exitOverride()
    .configureOutput({ writeOut: (s) => (stdout += s), writeErr: (s) => (stderr += s) });
  registerTranscribeCommand(program, io);
  registerStreamCommand(program, io);
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (e.code?.startsWith('commander.')) code = e.exitCode ?? 1;
    else {
      stderr += `cochlea: ${e.message ?? String(err)}\n`;
      code = 1;
    }
  }
  return { code, stdout, stderr, ms: Date.now() - t0 };
}
