#!/usr/bin/env node
/** The `cochlea` command line. */
import { Command, Option } from 'commander';
import { loadConfig, processEnv } from '../config.ts';
import { ENGINES, ENGINE_KINDS, type EngineKind } from '../engines/registry.ts';
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
    .addOption(
      new Option(
        '--engine <kind>',
        `recognition engine (env COCHLEA_ENGINE): ${ENGINE_KINDS.filter((k) => ENGINES[k].cli).map((k) => `${k} = ${ENGINES[k].description}`).join('; ')}`,
      ).choices(ENGINE_KINDS.filter((k) => ENGINES[k].cli)),
    )
    .option('--workers <n>', 'recognition worker threads (env COCHLEA_WORKERS, default: one per core)')
    .option('--no-auth', 'run WITHOUT authentication (env COCHLEA_DISABLE_AUTH=1); logged loudly')
    .action(async (o: { port?: string; host?: string; engine?: EngineKind; workers?: string; auth: boolean }) => {
      const server = await startServer(loadConfig(serveEnv(processEnv(), o)));
      installSignalHandlers(server);
    });

  registerTranscribeCommand(program);
  registerStreamCommand(program);
  registerModelsCommand(program);
  return program;
}

/**
 * `serve` flags as the environment variables they override, applied BEFORE the config is derived:
 * everything that depends on them (the engine's backend config, validation) sees the flag.
 */
export function serveEnv(
  env: NodeJS.ProcessEnv,
  o: { port?: string; host?: string; engine?: string; workers?: string; auth?: boolean },
): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  if (o.port) out.PORT = o.port;
  if (o.host) out.HOST = o.host;
  if (o.engine) out.COCHLEA_ENGINE = o.engine;
  if (o.workers) out.COCHLEA_WORKERS = o.workers;
  if (o.auth === false) out.COCHLEA_DISABLE_AUTH = '1';
  return out;
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
