/** Start the real server (real listener, real engine workers) on an ephemeral port. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { startServer, type RunningServer } from '../../src/cli/serve.ts';
import { SILERO_VAD } from './speech.ts';

export interface TestServer {
  url: string;
  key: string;
  server: RunningServer;
  configDir: string;
  close(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}, mutate?: (c: Config) => void): Promise<TestServer> {
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-test-'));
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
    // Lets a bench or test run compare engine settings without code changes.
    ...(process.env.COCHLEA_POCKETSPHINX_CONFIG ? { COCHLEA_POCKETSPHINX_CONFIG: process.env.COCHLEA_POCKETSPHINX_CONFIG } : {}),
    ...env,
  });
  mutate?.(config);
  const server = await startServer(config, { announce: () => {} });
  return {
    url: server.url,
    key,
    server,
    configDir,
    async close() {
      await server.close();
      fs.rmSync(configDir, { recursive: true, force: true });
    },
  };
}

export function authHeaders(key: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${key}`, ...extra };
}

/** Polls `f` every 20 ms until `ok` holds for its value (returned), or throws after `timeoutMs`. */
export async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (ok(v)) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`condition not met in ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
