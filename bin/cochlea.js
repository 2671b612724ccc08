#!/usr/bin/env node
// Launcher: run the TypeScript CLI through tsx's loader (no build step needed).
import { register } from 'tsx/esm/api';
register();
const { buildProgram } = await import('../src/cli/index.ts');
buildProgram()
  .parseAsync(process.argv)
  .catch((err) => {
    if (err?.code?.startsWith('commander.')) process.exit(err.exitCode ?? 1);
    process.stderr.write(`cochlea: ${err?.message ?? String(err)}\n`);
    process.exit(1);
  });
