import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { spawnServer } from '../helpers/spawn.ts';
import { redactUrl } from '../../src/util/redact-log.ts';

const KEY = 'sk_logtest_0123456789abcdef';

test('redactUrl removes credentials from query strings and leaves the rest', () => {
  assert.equal(redactUrl('/waves/v1/stt/live?token=sk_abc&language=en'), '/waves/v1/stt/live?token=[REDACTED]&language=en');
  assert.equal(redactUrl('/x?language=en&api_key=k1&access_token=k2'), '/x?language=en&api_key=[REDACTED]&access_token=[REDACTED]');
  assert.equal(redactUrl('/health'), '/health');
});

test('API keys never appear in the info-level logs, for batch, WebSocket and errors', async () => {
  const s = await spawnServer([], { COCHLEA_ENGINE: 'scripted', COCHLEA_API_KEYS: KEY, LOG_LEVEL: 'info', COCHLEA_CONFIG_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-logtest-')) });
  try {
    // Batch with ?token= (valid), with a bearer header, and with a wrong token.
    await (await fetch(`${s.url}/waves/v1/pulse/get_text?token=${KEY}&language=en`, { method: 'POST', body: Buffer.alloc(10) })).text();
    await (await fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: Buffer.alloc(10) })).text();
    await (await fetch(`${s.url}/waves/v1/pulse/get_text?token=${KEY}x`, { method: 'POST', body: Buffer.alloc(10) })).text();
    // WebSocket with ?token=.
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(`${s.url.replace('http', 'ws')}/waves/v1/pulse/get_text?token=${KEY}&language=en`);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'close_stream' })));
      ws.on('close', () => resolve());
      ws.on('error', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 300));
    const logs = s.stdout() + s.stderr();
    assert.match(logs, /request completed/, 'request lines are logged at info');
    assert.ok(!logs.includes(KEY), 'the key appears nowhere in the logs');
  } finally {
    s.child.kill('SIGTERM');
    await s.exit;
  }
});
