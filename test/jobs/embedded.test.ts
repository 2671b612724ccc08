/**
 * Asynchronous jobs on the embedded queue (SQLite), with real server processes and a real webhook
 * receiver on loopback: signed delivery, retries, polling, cancel, queue-depth 503, expire-content,
 * and a kill -9 + restart with jobs queued that loses none.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnServer, type Spawned } from '../helpers/spawn.ts';
import { makeWav } from '../helpers/wav.ts';
import { burstsPcm, startReceiver } from '../helpers/webhook-receiver.ts';
import { verifySignature } from '../../src/jobs/webhook.ts';

const KEY = 'sk_jobs_test_0123456789';
const SECRET = 'whsec_test_current';
const OLD_SECRET = 'whsec_test_previous';
const WAV = new Uint8Array(makeWav(burstsPcm(3)));

function env(configDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    COCHLEA_ENGINE: 'scripted',
    COCHLEA_API_KEYS: KEY,
    COCHLEA_CONFIG_DIR: configDir,
    COCHLEA_URL_ALLOW: '127.0.0.1',
    COCHLEA_WEBHOOK_SECRET: SECRET,
    COCHLEA_WEBHOOK_BACKOFF_MS: '150',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

const auth = { authorization: `Bearer ${KEY}` };

async function submit(base: string, hook: string, params = '', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/waves/v1/pulse/get_text?language=en&webhook_url=${encodeURIComponent(hook)}${params}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'audio/wav', ...headers },
    body: WAV,
  });
}

async function stop(s: Spawned, signal: NodeJS.Signals = 'SIGTERM') {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill(signal);
  await s.exit;
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-jobs-'));

test('a webhook job answers at once, delivers the signed Pulse result with extras, and can be polled', async () => {
  const dir = tmp();
  const rx = await startReceiver();
  const s = await spawnServer([], env(dir, { COCHLEA_WEBHOOK_SECRET_PREVIOUS: OLD_SECRET }));
  try {
    const sync = await (await fetch(`${s.url}/waves/v1/pulse/get_text?language=en&word_timestamps=true`, { method: 'POST', headers: auth, body: WAV })).json();

    const res = await submit(s.url, rx.url, '&word_timestamps=true&webhook_extra=call:42,agent:bob');
    assert.equal(res.status, 200);
    const accepted = (await res.json()) as { status: string; request_id: string };
    assert.equal(accepted.status, 'processing');
    assert.match(accepted.request_id, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('x-request-id'), accepted.request_id);

    await rx.waitFor((d) => d.length >= 1);
    const d = rx.deliveries[0];
    assert.equal(d.method, 'POST');
    assert.equal(d.headers['idempotency-key'], accepted.request_id);
    assert.equal(d.headers['x-cochlea-request-id'], accepted.request_id);
    const sig = String(d.headers['x-cochlea-signature']);
    const ts = String(d.headers['x-cochlea-timestamp']);
    assert.ok(verifySignature(SECRET, sig, ts, d.body), 'signed with the current secret');
    assert.ok(verifySignature(OLD_SECRET, sig, ts, d.body), 'and with the previous one during rotation');
    assert.ok(!verifySignature('whsec_wrong', sig, ts, d.body), 'a wrong secret does not verify');
    assert.ok(!verifySignature(SECRET, sig, ts, d.body + ' '), 'a modified body does not verify');

    const body = JSON.parse(d.body);
    assert.equal(body.status, 'success');
    assert.equal(body.request_id, accepted.request_id);
    assert.deepEqual(body.webhook_extra, { call: '42', agent: 'bob' });
    assert.equal(body.transcription, sync.transcription, 'same transcript as the sync request');
    assert.equal(body.words.length, 3);
    assert.deepEqual(body.words.map((w: { word: string }) => w.word), sync.words.map((w: { word: string }) => w.word));

    const job = await (await fetch(`${s.url}/waves/v1/jobs/${accepted.request_id}`, { headers: auth })).json();
    assert.equal(job.status, 'completed');
    assert.equal(job.webhook.status, 'delivered');
    assert.equal(job.webhook.attempts, 1);
    assert.equal(job.result.transcription, sync.transcription);
    assert.ok(job.timings.total_ms >= job.timings.processing_ms);

    // Another key cannot see it; an unknown id is a 404.
    assert.equal((await fetch(`${s.url}/waves/v1/jobs/${accepted.request_id}?token=sk_nope`)).status, 401);
    assert.equal((await fetch(`${s.url}/waves/v1/jobs/00000000-0000-0000-0000-000000000000`, { headers: auth })).status, 404);

    // x-expire-content: the result is deleted as soon as the webhook acknowledged it.
    const r2 = await submit(s.url, rx.url, '', { 'x-expire-content': 'true' });
    assert.equal(r2.headers.get('x-content-expiry'), 'applied');
    const id2 = ((await r2.json()) as { request_id: string }).request_id;
    await rx.waitFor((ds) => ds.some((x) => x.headers['idempotency-key'] === id2));
    let j2;
    for (let i = 0; i < 50; i++) {
      j2 = await (await fetch(`${s.url}/waves/v1/jobs/${id2}`, { headers: auth })).json();
      if (j2.webhook.status === 'delivered') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(j2.result_expired, true);
    assert.equal(j2.result, undefined);

    // Validation happens before anything is accepted.
    const bad = await submit(s.url, rx.url, '&webhook_method=PUT');
    assert.equal(bad.status, 400);
    assert.match((await bad.json()).message, /webhook_method/);
    const ssrf = await submit(s.url, 'http://10.1.2.3/hook');
    assert.equal(ssrf.status, 400);
    assert.match((await ssrf.json()).message, /webhook_url/);
    const badLang = await submit(s.url, rx.url, '&language=xx');
    assert.equal(badLang.status, 400);
  } finally {
    await stop(s);
    await rx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('webhook_method=GET: a signed GET with the request id, status and extras', async () => {
  const dir = tmp();
  const rx = await startReceiver();
  const s = await spawnServer([], env(dir));
  try {
    const id = ((await (await submit(s.url, rx.url, '&webhook_method=GET&webhook_extra=k:v')).json()) as { request_id: string }).request_id;
    await rx.waitFor((d) => d.length >= 1);
    const d = rx.deliveries[0];
    assert.equal(d.method, 'GET');
    const u = new URL(d.url, 'http://x');
    assert.equal(u.searchParams.get('request_id'), id);
    assert.equal(u.searchParams.get('status'), 'success');
    assert.equal(u.searchParams.get('k'), 'v');
    assert.ok(verifySignature(SECRET, String(d.headers['x-cochlea-signature']), String(d.headers['x-cochlea-timestamp']), u.search.slice(1)));
  } finally {
    await stop(s);
    await rx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('webhook retries on 500 with backoff, same idempotency key, until a 200; a 404 is not retried', async () => {
  const dir = tmp();
  const rx = await startReceiver((d) => (d.url.includes('gone') ? 404 : rx.deliveries.filter((x) => !x.url.includes('gone')).length <= 2 ? 500 : 200));
  const s = await spawnServer([], env(dir));
  try {
    const id = ((await (await submit(s.url, rx.url)).json()) as { request_id: string }).request_id;
    await rx.waitFor((d) => d.filter((x) => !x.url.includes('gone')).length >= 3);
    const ds = rx.deliveries.filter((x) => !x.url.includes('gone'));
    assert.deepEqual(ds.map((x) => x.headers['x-cochlea-delivery-attempt']), ['1', '2', '3']);
    assert.ok(ds.every((x) => x.headers['idempotency-key'] === id));
    assert.ok(ds[2].at - ds[1].at >= ds[1].at - ds[0].at - 50, 'backoff grows');
    let job;
    for (let i = 0; i < 50; i++) {
      job = await (await fetch(`${s.url}/waves/v1/jobs/${id}`, { headers: auth })).json();
      if (job.webhook.status === 'delivered') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(job.webhook.status, 'delivered');
    assert.equal(job.webhook.attempts, 3);

    const gone = ((await (await submit(s.url, rx.url.replace('/hook', '/gone'))).json()) as { request_id: string }).request_id;
    await rx.waitFor((d) => d.some((x) => x.url.includes('gone')));
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(rx.deliveries.filter((x) => x.url.includes('gone')).length, 1, 'a 4xx is final');
    const gj = await (await fetch(`${s.url}/waves/v1/jobs/${gone}`, { headers: auth })).json();
    assert.equal(gj.webhook.status, 'gave_up');
    assert.equal(gj.webhook.last_status, 404);
  } finally {
    await stop(s);
    await rx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('kill -9 with jobs queued: the restarted server delivers every accepted job; cancel; queue-depth 503', async () => {
  const dir = tmp();
  const rx = await startReceiver();
  // One job at a time, each ~400 ms: most stay queued.
  const slow = env(dir, { COCHLEA_JOB_CONCURRENCY: '1', COCHLEA_SCRIPTED_CONFIG: '{"decodeDelayMs":400}', COCHLEA_MAX_QUEUED_ASYNC_JOBS: '6' });
  let s = await spawnServer([], slow);
  const accepted: string[] = [];
  try {
    let full: Response | undefined;
    for (let i = 0; i < 12 && !full; i++) {
      const r = await submit(s.url, rx.url);
      if (r.status === 503) full = r;
      else {
        assert.equal(r.status, 200);
        accepted.push(((await r.json()) as { request_id: string }).request_id);
      }
    }
    assert.ok(full, 'the queue-depth limit answered 503');
    assert.ok(Number(full!.headers.get('retry-after')) > 0, 'with Retry-After');
    assert.ok(accepted.length >= 6);

    // Cancel the last one (still queued).
    const last = accepted.pop()!;
    const del = await fetch(`${s.url}/waves/v1/jobs/${last}`, { method: 'DELETE', headers: auth });
    assert.equal(del.status, 200);
    assert.equal((await (await fetch(`${s.url}/waves/v1/jobs/${last}`, { headers: auth })).json()).status, 'cancelled');
    assert.equal((await fetch(`${s.url}/waves/v1/jobs/${last}`, { method: 'DELETE', headers: auth })).status, 409);

    await stop(s, 'SIGKILL');
    const before = new Set(rx.deliveries.map((d) => d.headers['idempotency-key']));
    assert.ok(before.size < accepted.length, `jobs were still queued when killed (${before.size}/${accepted.length} delivered)`);

    s = await spawnServer([], env(dir, { COCHLEA_JOB_CONCURRENCY: '2' }));
    await rx.waitFor((d) => accepted.every((id) => d.some((x) => x.headers['idempotency-key'] === id)), 30_000);
    const got = new Set(rx.deliveries.map((d) => d.headers['idempotency-key']));
    assert.ok(!got.has(last), 'the cancelled job is never delivered');
    for (const id of accepted) {
      const j = await (await fetch(`${s.url}/waves/v1/jobs/${id}`, { headers: auth })).json();
      assert.equal(j.status, 'completed');
      assert.equal(JSON.parse(rx.deliveries.find((d) => d.headers['idempotency-key'] === id)!.body).status, 'success');
    }
  } finally {
    await stop(s);
    await rx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('graceful shutdown: SIGTERM finishes the running job and delivers it; a job past the drain time is re-queued and runs after restart', async () => {
  const dir = tmp();
  const rx = await startReceiver();
  let s = await spawnServer([], env(dir, { COCHLEA_JOB_CONCURRENCY: '1', COCHLEA_SCRIPTED_CONFIG: '{"decodeDelayMs":1200}' }));
  try {
    const a = ((await (await submit(s.url, rx.url)).json()) as { request_id: string }).request_id;
    const b = ((await (await submit(s.url, rx.url)).json()) as { request_id: string }).request_id;
    for (let i = 0; i < 100; i++) {
      if ((await (await fetch(`${s.url}/waves/v1/jobs/${a}`, { headers: auth })).json()).status === 'processing') break;
      await new Promise((r) => setTimeout(r, 30));
    }
    await stop(s, 'SIGTERM');
    assert.equal((await s.exit).code, 0);
    const ids = () => rx.deliveries.map((d) => d.headers['idempotency-key']);
    assert.deepEqual(ids(), [a], 'the running job finished and was delivered before exit; the queued one was not started');

    // Now a drain shorter than the job: it is aborted, re-queued, and runs after the restart.
    s = await spawnServer([], env(dir, { COCHLEA_JOB_CONCURRENCY: '1', COCHLEA_SHUTDOWN_DRAIN_MS: '200', COCHLEA_SCRIPTED_CONFIG: '{"decodeDelayMs":3000}' }));
    for (let i = 0; i < 100; i++) {
      if ((await (await fetch(`${s.url}/waves/v1/jobs/${b}`, { headers: auth })).json()).status === 'processing') break;
      await new Promise((r) => setTimeout(r, 30));
    }
    await stop(s, 'SIGTERM');
    assert.deepEqual(ids(), [a]);
    s = await spawnServer([], env(dir));
    await rx.waitFor((d) => d.some((x) => x.headers['idempotency-key'] === b));
    const j = await (await fetch(`${s.url}/waves/v1/jobs/${b}`, { headers: auth })).json();
    assert.equal(j.status, 'completed');
    assert.ok(j.attempts >= 2);
  } finally {
    await stop(s);
    await rx.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
