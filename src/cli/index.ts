#!/usr/bin/env node
/** The `cochlea` command line. */
import { Command, Option } from 'commander';
import { loadConfig } from '../config.ts';
import { installSignalHandlers, startServer } from './serve.ts';
import { registerModelsCommand } from './models.ts';
import { registerTranscribeCommand } from './transcribe.ts';
import { registerStreamCommand } from './stream.ts';

export function buildProgram(): Command {
  const program = new Command();
  program.name('cochlea').description('Self-hosted speech-to-text server speaking the Pulse STT API').version('0.1.0');
  program.exitOverride();

  program
    .command('serve')
    .description('start the HTTP/WebSocket server (settings from environment variables; flags override them)')
    .option('-p, --port <port>', 'port to listen on (env PORT, default 8080)')
    .option('-H, --host <host>', 'address to bind (env HOST, default 0.0.0.0)')
    .addOption(new Option('--engine <kind>', 'recognition engine (env COCHLEA_ENGINE)').choices(['pocketsphinx', 'sherpa']))
    .option('--workers <n>', 'recognition worker threads (env COCHLEA_WORKERS, default: one per core)')
    .option('--no-auth', 'run WITHOUT authentication (env COCHLEA_DISABLE_AUTH=1); logged loudly')
    .action(async (o: { port?: string; host?: string; engine?: 'pocketsphinx' | 'sherpa'; workers?: string; auth: boolean }) => {
      const config = loadConfig();
      if (o.port) config.port = Number(o.port);
      if (o.host) config.host = o.host;
      if (o.engine) config.engine.kind = o.engine;
      if (o.workers) config.engine.workers = Number(o.workers);
      if (o.auth === false) config.auth.enabled = false;
      const server = await startServer(config);
      installSignalHandlers(server);
    });

  registerTranscribeCommand(program);
  registerStreamCommand(program);
  registerModelsCommand(program);
  return program;
}

const invokedDirectly = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop()!);
if (invokedDirectly) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: { code?: string; exitCode?: number; message?: string }) => {
      if (err.code?.startsWith('commander.')) process.exit(err.exitCode ?? 1);
      process.stderr.write(`cochlea: ${err.message ?? String(err)}\n`);
      process.exit(1);
    });
}
