/**
 * A real server (real engine, real listener) with the live page mounted. Until the page plugin is
 * registered in app.ts, this mounts it the same way (outside the authenticated scope) so the page
 * and the API share one origin, as in production.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import { createEngine } from '../../src/engines/index.ts';
import { buildServer } from '../../src/server/app.ts';
import { webPage } from '../../src/server/web-page.ts';
import { SILERO_VAD } from '../helpers/speech.ts';

export interface PageServer {
  url: string;
  key: string;
  app: FastifyInstance;
  /** True when app.ts already serves the page (the plugin is wired in). */
  wired: boolean;
  close(): Promise<void>;
}

export async function startPageServer(env: Record<string, string> = {}): Promise<PageServer> {
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-page-'));
  const key = 'sk_test_' + crypto.randomBytes(12).toString('hex');
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: configDir,
    COCHLEA_CONFIG_DIR: configDir,
    COCHLEA_API_KEYS: key,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.COCHLEA_TEST_LOG_LEVEL ?? 'silent',
    COCHLEA_WORKERS: '2',
    ...(fs.existsSync(SILERO_VAD) ? { COCHLEA_VAD_MODEL: SILERO_VAD } : {}),
    ...env,
  });
  const engine = createEngine({
    kind: config.engine.kind,
    workers: config.engine.workers,
    vadModel: config.engine.vadModel,
    backendConfig: config.engine.backendConfig,
  });
  await engine.init();
  const app = await buildServer({ config, engine, keys: [key] });
  const wired = app.hasRoute({ method: 'GET', url: '/' });
  if (!wired) await app.register(webPage);
  app.addHook('onClose', async () => engine.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    key,
    app,
    wired,
    async close() {
      await app.close();
      fs.rmSync(configDir, { recursive: true, force: true });
    },
  };
}
