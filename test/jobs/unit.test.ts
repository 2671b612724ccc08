/** Fast checks of the job system's pure parts: signatures, webhook params, per-key limits, backoff. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import crypto from 'node:crypto';
import { sign, signatureHeader, verifySignature } from '../../src/jobs/webhook.ts';
import { parseWebhook } from '../../src/jobs/pulse-adapter.ts';
import { KeyLimitTable } from '../../src/jobs/limits.ts';
import { backoffMs } from '../../src/jobs/types.ts';
import { loadConfig } from '../../src/config.ts';

test('signature: HMAC-SHA256 over "<timestamp>.<payload>", hex, v1= scheme; tolerance and rotation', () => {
  const ts = 1_800_000_000;
  const body = '{"status":"success"}';
  const expected = crypto.createHmac('sha256', 's1').update(`${ts}.${body}`).digest('hex');
  assert.equal(sign('s1', ts, body), expected);
  const h = signatureHeader(['s1', 's0'], ts, body);
  assert.equal(h, `v1=${expected},v1=${sign('s0', ts, body)}`);
  const now = ts * 1000 + 10_000;
  assert.ok(verifySignature('s1', h, ts, body, 300, now));
  assert.ok(verifySignature('s0', h, ts, body, 300, now));
  assert.ok(!verifySignature('s2', h, ts, body, 300, now));
  assert.ok(!verifySignature('s1', h, ts, body, 300, now + 600_000), 'an old timestamp is refused');
  assert.ok(!verifySignature('s1', h, ts + 1, body, 300, now), 'the timestamp is signed');
  assert.ok(!verifySignature('s1', 'v1=zz', ts, body, 300, now));
});

test('webhook params: method, extras, errors', () => {
  assert.equal(parseWebhook({}), undefined);
  assert.deepEqual(parseWebhook({ webhook_url: 'https://x/h' }), { url: 'https://x/h', method: 'POST', extra: {} });
  assert.deepEqual(parseWebhook({ webhook_url: 'https://x/h', webhook_method: 'get', webhook_extra: 'a:1, b : two:parts' }), {
    url: 'https://x/h',
    method: 'GET',
    extra: { a: '1', b: 'two:parts' },
  });
  assert.throws(() => parseWebhook({ webhook_url: 'https://x/h', webhook_method: 'PUT' }), /webhook_method/);
  assert.throws(() => parseWebhook({ webhook_url: 'https://x/h', webhook_extra: 'novalue' }), /key:value/);
});

test('per-key limits: default, by key, by sha256 of the key; config validation', () => {
  const key = 'sk_abc';
  const hex = crypto.createHash('sha256').update('sk_hashed').digest('hex');
  const c = loadConfig({ COCHLEA_RATE_LIMIT_RPM: '100', COCHLEA_KEY_LIMITS: JSON.stringify({ default: { maxSessions: 5 }, keys: { [key]: { requestsPerMinute: 7 }, [`sha256:${hex}`]: { maxSessions: 1 } } }) });
  const t = new KeyLimitTable(c.jobs.keyLimits);
  const id = (k: string) => 'k_' + crypto.createHash('sha256').update(k).digest('hex').slice(0, 24);
  assert.deepEqual(t.for(id(key)), { requestsPerMinute: 7, maxSessions: 5 });
  assert.deepEqual(t.for(id('sk_hashed')), { requestsPerMinute: 100, maxSessions: 1 });
  assert.deepEqual(t.for(id('sk_other')), { requestsPerMinute: 100, maxSessions: 5 });
  assert.throws(() => loadConfig({ COCHLEA_KEY_LIMITS: '{"default":{"rpm":3}}' }), /unknown limit "rpm"/);
  assert.throws(() => loadConfig({ COCHLEA_KEY_LIMITS: '{"keys":{"k":{"maxSessions":-1}}}' }), /non-negative/);
});

test('backoff doubles and is capped at 10 minutes', () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => backoffMs(1000, n)), [1000, 2000, 4000, 8000]);
  assert.equal(backoffMs(1000, 20), 600_000);
});
