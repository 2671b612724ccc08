/** SDK pieces without a server: back-off, Retry-After, URLs and query mapping, package boundaries. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { streamQuery } from '../../client/src/stream.ts';
import { batchQuery, contentTypeFor } from '../../client/src/transcribe.ts';
import { backoffDelay, buildUrl, parseRetryAfter, resolveRetry } from '../../client/src/util.ts';
import { CochleaApiError } from '../../client/src/index.ts';
import { REPO_ROOT } from '../helpers/speech.ts';

describe('SDK units', () => {
  test('exponential back-off with jitter, capped; Retry-After wins when longer', () => {
    const r = resolveRetry({ minDelayMs: 100, maxDelayMs: 1000 });
    assert.equal(backoffDelay(1, r, undefined, () => 1), 100);
    assert.equal(backoffDelay(1, r, undefined, () => 0), 50);
    assert.equal(backoffDelay(3, r, undefined, () => 1), 400);
    assert.equal(backoffDelay(10, r, undefined, () => 1), 1000, 'capped');
    assert.equal(backoffDelay(1, r, 700, () => 1), 700, 'Retry-After');
    assert.equal(backoffDelay(1, r, 60_000, () => 1), 1000, 'Retry-After capped too');
    assert.equal(resolveRetry(undefined).retries, 3);
  });

  test('Retry-After: seconds or HTTP date', () => {
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
    assert.equal(parseRetryAfter('soon'), undefined);
    assert.equal(parseRetryAfter(null), undefined);
  });

  test('query parameters use Pulse names; URLs keep a base path', () => {
    assert.deepEqual(
      Object.fromEntries(Object.entries(batchQuery({ wordTimestamps: true, keywords: ['a:5', 'b'], numerals: 'auto', sampleRate: 8000, encoding: 'mulaw' })).filter(([, v]) => v !== undefined)),
      { language: 'en', word_timestamps: 'true', numerals: 'auto', keywords: 'a:5,b', encoding: 'mulaw', sample_rate: 8000 },
    );
    const q = streamQuery({ eouTimeoutMs: 500, vadEvents: true, fullTranscript: false, params: { custom: 'x' } });
    assert.equal(q.eou_timeout_ms, 500);
    assert.equal(q.vad_events, 'true');
    assert.equal(q.full_transcript, 'false');
    assert.equal(q.custom, 'x');
    assert.equal(q.encoding, 'linear16');
    assert.equal(q.sample_rate, 16000);
    assert.equal(buildUrl('http://h:1', '/waves/v1/stt', { a: 1, b: undefined }).toString(), 'http://h:1/waves/v1/stt?a=1');
    assert.equal(buildUrl('http://h/proxy/', 'waves/v1/stt', {}).toString(), 'http://h/proxy/waves/v1/stt');
    assert.equal(contentTypeFor('a.MP3'), 'audio/mpeg');
    assert.equal(contentTypeFor('noext'), undefined);
  });

  test('errors: message from Pulse bodies of every shape', () => {
    assert.equal(new CochleaApiError(400, { status: 'error', message: 'bad', errors: [{ field: 'x', message: 'y' }] }).message, 'bad');
    assert.equal(new CochleaApiError(500, { error: 'Internal server error' }).message, 'Internal server error');
    assert.equal(new CochleaApiError(502, '<html>bad gateway</html>').message, '<html>bad gateway</html>');
    assert.equal(new CochleaApiError(503, undefined).message, 'HTTP 503');
    assert.equal(new CochleaApiError(503, undefined).retryable, true);
    assert.equal(new CochleaApiError(500, undefined).retryable, false);
  });

  test('client/ is a package of its own: it imports nothing outside client/src but `ws`', () => {
    const dir = path.join(REPO_ROOT, 'client', 'src');
    for (const f of fs.readdirSync(dir)) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      for (const m of src.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1];
        assert.ok(spec.startsWith('./') || spec === 'ws' || spec === 'node:fs', `${f} imports ${spec}`);
      }
      // The lazily loaded modules are named through variables so browser bundlers skip them.
      assert.doesNotMatch(src, /(?<!typeof )import\(\s*['"](ws|node:fs)['"]\s*\)/);
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'client', 'package.json'), 'utf8'));
    assert.equal(pkg.name, '@cochlea/client');
    assert.equal(pkg.type, 'module');
    assert.equal(pkg.browser.ws, false);
  });
});
