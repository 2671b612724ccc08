#!/usr/bin/env node
// Launcher: run the TypeScript CLI through tsx's loader (no build step needed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// tsx caches compiled sources in the temp directory and stalls when it is unusable, and the
// server spools uploads there: say so plainly before anything else runs.
try {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-probe-'));
  fs.rmSync(probe, { recursive: true, force: true });
} catch (err) {
  process.stderr.write(
    `cochlea: the temporary directory ${os.tmpdir()} is not usable (${err.code ?? err.message}). ` +
      'Free space there or set TMPDIR to a writable directory.\n',
  );
  process.exit(1);
}

const { register } = await import('tsx/esm/api');
register();
const { buildProgram } = await import('../src/cli/index.ts');
buildProgram()
  .parseAsync(process.argv)
  .catch((err) => {
    if (err?.code?.startsWith('commander.')) process.exit(err.exitCode ?? 1);
    process.stderr.write(`cochlea: ${err?.message ?? String(err)}\n`);
    process.exit(1);
  });
