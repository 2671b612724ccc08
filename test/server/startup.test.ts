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

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-start-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function transcribe(url: string, headers: Record<string, string>) {
  return fetch(`${url}/waves/v1/pulse/get_text`, { method: 'POST', headers: { 'content-type': 'audio/wav', ...headers }, body: new Uint8Array(toneWav(0.3)) });
}

describe('first start and key handling', () => {
  test('generates a key once, stores it 0600, and reuses it', async () => {
    const env = { COCHLEA_CONFIG_DIR: path.join(dir, 'cfg'), HOME: dir };
    const first = await spawnServer([], env);
    let key: string;
    try {
      const m = /\b(sk_[A-Za-z0-9_-]{20,})\b/.exec(first.stderr());
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
    const s = await spawnServer(['--no-auth'], { COCHLEA_CONFIG_DIR: path.join(dir, 'cfg2'), HOME: dir });
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
