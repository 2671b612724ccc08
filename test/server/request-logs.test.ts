import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { spawnServer } from '../helpers/spawn.ts';
import { toneWav } from '../helpers/wav.ts';

const KEY = 'sk_reqlog_0123456789abcdef';

test('an aborted request gets a completion line; a queue-full 503 is one warning without a stack trace', async () => {
  const s = await spawnServer([], {
    COCHLEA_ENGINE: 'scripted',
    // Each decode busy-waits 1.5 s on the single worker; a queue of 1 overflows at the third request.
    COCHLEA_SCRIPTED_CONFIG: JSON.stringify({ decodeDelayMs: 1500 }),
    COCHLEA_WORKERS: '1',
    COCHLEA_MAX_QUEUED_JOBS: '1',
    COCHLEA_API_KEYS: KEY,
    LOG_LEVEL: 'info',
    COCHLEA_CONFIG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-reqlog-')),
  });
  try {
    const wav = new Uint8Array(toneWav(0.5, 16000, 440, 0.3));
    const post = () => fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'audio/wav' }, body: wav });
    const statuses = await Promise.all([post(), post(), post(), post()].map((p) => p.then((r) => r.status)));
    assert.ok(statuses.includes(503), `some requests refused: ${statuses}`);
    // A client that sends half a body and goes away.
    await new Promise<void>((resolve) => {
      const u = new URL(s.url);
      const req = http.request({ host: u.hostname, port: u.port, path: '/waves/v1/pulse/get_text', method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-length': '100000' } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(1000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    await new Promise((r) => setTimeout(r, 500));
    const lines = s.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const busy = lines.filter((l) => l.statusCode === 503 && /refused/.test(String(l.msg)));
    assert.ok(busy.length >= 1, 'the 503 is logged');
    assert.ok(busy.every((l) => l.level === 40 && !('err' in l)), 'as a warning without an error object or stack');
    assert.ok(!lines.some((l) => (l.level as number) >= 50), `no error-level lines: ${JSON.stringify(lines.filter((l) => (l.level as number) >= 50))}`);
    assert.ok(lines.some((l) => /request aborted/.test(String(l.msg))), 'the aborted request has a completion line');
  } finally {
    s.child.kill('SIGTERM');
    await s.exit;
  }
});
