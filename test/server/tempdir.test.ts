import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { spawnServer } from '../helpers/spawn.ts';
import { startTestServer, authHeaders } from '../helpers/server.ts';
import { toneWav } from '../helpers/wav.ts';

/** A directory nothing can be created in, even as root. */
const UNUSABLE = '/proc/cochlea-no-such-dir';

test('an unusable TMPDIR at start stops the server with a message that says what to fix', async () => {
  await assert.rejects(
    spawnServer([], { COCHLEA_ENGINE: 'scripted', COCHLEA_DISABLE_AUTH: '1', TMPDIR: UNUSABLE, COCHLEA_CONFIG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-t-')) }, 20_000),
    (e: Error) => /temporary directory \S*cochlea-no-such-dir is not usable/.test(e.message) && /TMPDIR/.test(e.message),
  );
});

test('temp storage failing after start answers a Pulse-shaped 503 that says what is wrong (M4A spooled to disk)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-m4a-'));
  const wav = path.join(dir, 'a.wav');
  const m4a = path.join(dir, 'a.m4a');
  fs.writeFileSync(wav, toneWav(1, 16000, 440, 0.3));
  try {
    execFileSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', wav, '-c:a', 'aac', m4a]);
  } catch {
    t.skip('ffmpeg with an AAC encoder is not available');
    return;
  }
  const s = await startTestServer({ COCHLEA_ENGINE: 'scripted' });
  const saved = process.env.TMPDIR;
  try {
    const body = new Uint8Array(fs.readFileSync(m4a));
    const ok = await fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'audio/mp4' }), body });
    assert.equal(ok.status, 200, 'M4A decodes while the temp dir works');
    process.env.TMPDIR = UNUSABLE;
    const r = await fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: authHeaders(s.key, { 'content-type': 'audio/mp4' }), body });
    assert.equal(r.status, 503);
    const j = (await r.json()) as { message?: string; error?: string };
    assert.match(j.message ?? j.error ?? '', /Temporary storage .*TMPDIR/);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
    await s.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
