/**
 * Runs the client commands as a real process. Uses the `cochlea` program from src/cli/index.ts when
 * it already has the commands wired in; otherwise registers them on a fresh commander program, the
 * same way index.ts does.
 */
import { Command } from 'commander';
import { registerStreamCommand } from '../../src/cli/stream.ts';
import { registerTranscribeCommand } from '../../src/cli/transcribe.ts';

async function program(): Promise<Command> {
  try {
    const { buildProgram } = await import('../../src/cli/index.ts');
    const p = buildProgram();
    if (p.commands.some((c) => c.name() === 'transcribe') && p.commands.some((c) => c.name() === 'stream')) return p;
  } catch {
    /* fall through */
  }
  const p = new Command().name('cochlea').exitOverride();
  registerTranscribeCommand(p);
  registerStreamCommand(p);
  return p;
}

const p = await program();
p.parseAsync(process.argv).catch((err: { code?: string; exitCode?: number; message?: string }) => {
  if (err.code?.startsWith('commander.')) process.exit(err.exitCode ?? 1);
  process.stderr.write(`cochlea: ${err.message ?? String(err)}\n`);
  process.exit(1);
});
