/**
 * `cochlea serve`: the composition root. Resolves keys, starts the engine's workers, builds the
 * HTTP server, listens, and shuts down cleanly on SIGTERM/SIGINT.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../config.ts';
import { createEngine } from '../engines/index.ts';
import type { Engine } from '../engines/types.ts';
import { buildServer } from '../server/app.ts';
import { resolveKeys } from '../server/auth.ts';
import { ModelManager } from '../models/manager.ts';
import { assertModelsInstalled, capabilities, describeCapabilities } from '../models/startup.ts';

export interface RunningServer {
  app: FastifyInstance;
  engine: Engine;
  config: Config;
  url: string;
  /** A SIGTERM/SIGINT that arrived while the workers were starting (acted on by installSignalHandlers). */
  pendingSignal?: NodeJS.Signals;
  close(): Promise<void>;
}

export async function startServer(config: Config = loadConfig(), opts: { announce?: (msg: string) => void } = {}): Promise<RunningServer> {
  const announce = opts.announce ?? ((m: string) => process.stderr.write(m + '\n'));
  checkTempDir();
  if (config.engine.kind === 'sherpa') checkSherpaModels(config.engine.backendConfig, announce);
  let keys: string[] | undefined;
  if (config.auth.enabled) {
    const resolved = resolveKeys(config.auth.keys, config.auth.keysFile);
    keys = resolved.keys;
    if (resolved.generated) {
      announce(
        [
          '',
          '  No API key was configured, so Cochlea generated one (shown only this once):',
          '',
          `      ${resolved.generated}`,
          '',
          `  It is stored in ${config.auth.keysFile} (mode 600). Send it as "Authorization: Bearer <key>".`,
          '',
        ].join('\n'),
      );
    }
  }
  const engine = createEngine({
    kind: config.engine.kind,
    workers: config.engine.workers,
    vadModel: config.engine.vadModel,
    vad: { maxIdle: config.engine.maxIdleVads },
    backendConfig: config.engine.backendConfig,
    pool: { maxQueue: config.limits.maxQueuedJobs, jobDeadline: { factor: config.limits.jobDeadlineFactor, floorSeconds: config.limits.jobDeadlineFloorSeconds } }, // harden(item 9)
  });
  const app = await buildServer({ config, engine, keys });
  if (!config.auth.enabled) {
    app.log.warn('AUTHENTICATION IS DISABLED (COCHLEA_DISABLE_AUTH): anyone who can reach this port can use the API');
  }
  app.addHook('onClose', async () => engine.close());
  // Listen while the workers load their models: /health answers at once, /ready says 503
  // "starting" until every worker is up (work sent meanwhile waits in the engine's queue).
  // A signal in that window is held (readiness flips to draining at once) and handled once
  // startup completes, so sessions opened meanwhile are drained like any other.
  let pendingSignal: NodeJS.Signals | undefined;
  const hold = (sig: NodeJS.Signals) => {
    pendingSignal ??= sig;
    app.readiness.startDrain();
  };
  process.on('SIGTERM', hold);
  process.on('SIGINT', hold);
  const initialized = engine.init();
  initialized.catch(() => undefined);
  try {
    await app.listen({ host: config.host, port: config.port });
    await initialized;
  } catch (err) {
    await app.close();
    throw err;
  } finally {
    process.off('SIGTERM', hold);
    process.off('SIGINT', hold);
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return { app, engine, config, pendingSignal, url: `http://${host}:${port}`, close: () => app.close() };
}

/**
 * The temp directory holds spooled uploads (containers ffmpeg must seek in) and the recognizer's
 * cached dictionary: fail at start with what is wrong and how to fix it, not later with a 500.
 */
export function checkTempDir(dir = os.tmpdir()): void {
  try {
    const probe = fs.mkdtempSync(path.join(dir, 'cochlea-probe-'));
    try {
      fs.writeFileSync(path.join(probe, 'w'), Buffer.alloc(64 * 1024));
    } finally {
      fs.rmSync(probe, { recursive: true, force: true });
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    throw new Error(
      `The temporary directory ${dir} is not usable (${code}: ${(e as Error).message}). Cochlea needs a writable ` +
        `temporary directory with free space for spooled uploads: free space there or set TMPDIR to another directory.`,
    );
  }
}

/** Fail fast, with the one-line fix, when configured catalog models are not installed. */
function checkSherpaModels(backendConfig: unknown, announce: (m: string) => void): void {
  const cfg = (backendConfig ?? {}) as { streaming?: unknown; offline?: unknown[]; vad?: unknown; modelsDir?: string };
  const names = [cfg.streaming, ...(cfg.offline ?? []), cfg.vad].filter((x): x is string => typeof x === 'string');
  const manager = new ModelManager(cfg.modelsDir ? { modelsDir: cfg.modelsDir } : {});
  assertModelsInstalled(manager, names);
  for (const line of describeCapabilities(capabilities(manager))) announce(line);
}

export function installSignalHandlers(server: RunningServer): void {
  let closing = false;
  const stop = (sig: string) => {
    if (closing) return;
    closing = true;
    // Readiness first (GET /ready → 503 draining) so load balancers stop routing here; keep serving
    // for COCHLEA_SHUTDOWN_DELAY_MS, then close (live sessions drain, in-flight requests finish).
    server.app.readiness?.startDrain();
    const delay = server.config.limits.shutdownDelayMs;
    server.app.log.info({ signal: sig, delayMs: delay }, 'shutting down');
    // The drain itself is bounded by COCHLEA_SHUTDOWN_DRAIN_MS (sessions) and nothing is left to hold
    // the close (refused upgrades are closed, silent WebSocket peers dropped); in-flight batch
    // requests keep their former 30 s. Past that something is stuck: exit 1.
    const force = setTimeout(() => {
      server.app.log.error({ signal: sig }, 'shutdown did not complete in time; exiting');
      process.exit(1);
    }, delay + Math.max(30_000, server.config.limits.shutdownDrainMs + 5_000));
    force.unref();
    const wait = new Promise<void>((r) => setTimeout(r, delay));
    wait.then(() => server.close()).then(
      () => process.exit(0),
      (err) => {
        server.app.log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (server.pendingSignal) stop(server.pendingSignal);
}
