/**
 * `cochlea serve` as users run it: first start generates and stores a key, later starts reuse it
 * silently, --no-auth is explicit and loud, SIGTERM exits cleanly.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { spawnServer } from '../helpers/spawn.ts';
import { toneWav } from '../helpers/wav.ts';
import { serveEnv } from '../../src/cli/index.ts';
import { DEFAULT_SHERPA_CONFIG, loadConfig } from '../../src/config.ts';
import { ENGINES } from '../../src/engines/registry.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-start-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function transcribe(url: string, headers: Record<string, string>) {
  return fetch(`${url}/waves/v1/pulse/get_text`, { method: 'POST', headers: { 'content-type': 'audio/wav', ...headers }, body: new Uint8Array(toneWav(0.3)) });
}

describe('first start and key handling', () => {
  test('generates a key once, stores it 0600, and reuses it', async () => {
    const env = { COCHLEA_CONFIG_DIR: path.join(dir, 'cfg'), HOME: dir, COCHLEA_ENGINE: 'scripted' };
    const first = await spawnServer([], env);
    let key: string;
    try {
      // No trailing \b: a key is base64url and may end in '-', after which there is no word
      // boundary, so the match would back off and drop the key's last characters (1 start in 64).
      const m = /\b(sk_[A-Za-z0-9_-]{20,})/.exec(first.stderr());
      assert.ok(m, `key printed on first start: ${first.stderr()}`);
      key = m[1];
      const file = path.join(dir, 'cfg', 'api-keys');
      const st = fs.statSync(file);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(file)).mode & 0o077, 0, 'config dir not readable by others');
      assert.ok(fs.readFileSync(file, 'utf8').includes(key));
      assert.equal((await transcribe(first.url, {})).status, 401);
      assert.equal((await transcribe(first.url, { authorization: `Bearer ${key}` })).status, 200);
    } finally {
      first.child.kill('SIGTERM');
    }
    const ended = await first.exit;
    assert.equal(ended.code, 0, 'SIGTERM exits 0');

    const second = await spawnServer([], env);
    try {
      assert.ok(!second.stderr().includes(key), 'key not printed again');
      assert.ok(!second.stdout().includes(key), 'key not logged');
      assert.equal((await transcribe(second.url, { authorization: `Bearer ${key}` })).status, 200);
    } finally {
      second.child.kill('SIGTERM');
      await second.exit;
    }
  });

  test('--no-auth must be explicit and is logged loudly', async () => {
    const s = await spawnServer(['--no-auth'], { COCHLEA_CONFIG_DIR: path.join(dir, 'cfg2'), HOME: dir, COCHLEA_ENGINE: 'scripted' });
    try {
      assert.match(s.stdout(), /AUTHENTICATION IS DISABLED/);
      assert.equal((await transcribe(s.url, {})).status, 200);
      assert.ok(!fs.existsSync(path.join(dir, 'cfg2', 'api-keys')), 'no key generated when auth is off');
    } finally {
      s.child.kill('SIGTERM');
      await s.exit;
    }
  });
});

describe('engine selection', () => {
  test('--engine applies before the config is derived: the flag and COCHLEA_ENGINE give the same config', () => {
    const base = { HOME: dir, COCHLEA_CONFIG_DIR: path.join(dir, 'cfg3') };
    const viaFlag = loadConfig(serveEnv(base, { engine: 'sherpa', port: '9999', workers: '3', auth: false }));
    const viaEnv = loadConfig({ ...base, COCHLEA_ENGINE: 'sherpa', PORT: '9999', COCHLEA_WORKERS: '3', COCHLEA_DISABLE_AUTH: '1' });
    assert.deepEqual(viaFlag, viaEnv);
    assert.equal(viaFlag.engine.kind, 'sherpa');
    // The sherpa backend's model choice (not pocketsphinx's empty config, which made sherpa fail
    // with "configure at least one model").
    assert.deepEqual(viaFlag.engine.backendConfig, DEFAULT_SHERPA_CONFIG);
    assert.equal(viaFlag.port, 9999);
    assert.equal(viaFlag.auth.enabled, false);
    assert.throws(() => loadConfig({ ...base, COCHLEA_ENGINE: 'whisper' }), /COCHLEA_ENGINE must be one of pocketsphinx, sherpa, scripted/);
  });

  test('`cochlea serve --engine sherpa` without its models says what to install (not "configure at least one model")', async () => {
    const models = fs.mkdtempSync(path.join(dir, 'models-'));
    await assert.rejects(
      spawnServer(['--engine', 'sherpa'], { COCHLEA_CONFIG_DIR: path.join(dir, 'cfg4'), HOME: dir, COCHLEA_API_KEYS: 'sk_x', COCHLEA_MODELS_DIR: models }, 20_000),
      (e: Error) => {
        assert.doesNotMatch(e.message, /configure at least one model/);
        assert.match(e.message, /cochlea models pull/);
        return true;
      },
    );
  });

  test('every engine kind is defined once, with its backend module and config variable', () => {
    for (const [kind, spec] of Object.entries(ENGINES)) {
      assert.ok(fs.existsSync(spec.backendModule), `${kind}: ${spec.backendModule.pathname}`);
      assert.match(spec.configEnv, /^COCHLEA_[A-Z]+_CONFIG$/);
    }
  });
});
