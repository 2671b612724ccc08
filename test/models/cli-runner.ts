/**
 * Runs `cochlea models …` command lines through registerModelsCommand in ONE child process (used
 * by manager.test.ts): argv[2] is a JSON array of command lines, run in order, each on a fresh
 * commander program. Each command's stdout + stderr and exit code (the commands set
 * process.exitCode) are captured and printed at the end as one JSON array, so the test pays one
 * process start for the whole CLI session rather than one per command.
 */
import { Command } from 'commander';
import { registerModelsCommand } from '../../src/cli/models.ts';

const lines = JSON.parse(process.argv[2]) as string[][];
const results: { code: number; out: string }[] = [];
const realOut = process.stdout.write.bind(process.stdout);
const realErr = process.stderr.write.bind(process.stderr);
for (const argv of lines) {
  let out = '';
  const capture = ((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = capture;
  process.stderr.write = capture;
  process.exitCode = 0;
  try {
    const program = new Command().name('cochlea').exitOverride();
    registerModelsCommand(program);
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    out += `${e.message ?? String(err)}\n`;
    process.exitCode = e.code?.startsWith('commander.') ? (e.exitCode ?? 1) : 1;
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
  }
  results.push({ code: Number(process.exitCode ?? 0), out });
}
process.exitCode = 0;
realOut(JSON.stringify(results) + '\n');
