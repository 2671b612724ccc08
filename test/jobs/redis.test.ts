/**
 * Scale-out over Redis (BullMQ), with real processes: a private redis-server, several `cochlea
 * serve` replicas, and a webhook receiver on loopback. Skipped (with the reason) only when
 * redis-server is not installed.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { spawnServer, type Spawned } from '../helpers/spawn.ts';
import { redisSkip, startRedis, type TestRedis } from '../helpers/redis.ts';
import { startReceiver } from '../helpers/webhook-receiver.ts';
import { burstsWav } from '../helpers/scripted.ts';
import { loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { verifySignature } from '../../src/jobs/webhook.ts';

const KEY = 'sk_redis_test_0123456789';
const KEY2 = 'sk_redis_test_second_key';
const SECRET = 'whsec_redis_test';
const auth = { authorization: `Bearer ${KEY}` };
const skip = redisSkip();

let redis: TestRedis;
before(async () => {
  if (!skip) redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

const dirs: string[] = [];
function env(extra: Record<string, string> = {}): Record<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-replica-'));
  dirs.push(dir);
  return {
    COCHLEA_ENGINE: 'scripted',
    COCHLEA_API_KEYS: `${KEY},${KEY2}`,
    COCHLEA_CONFIG_DIR: dir,
    COCHLEA_URL_ALLOW: '127.0.0.1',
    COCHLEA_WEBHOOK_SECRET: SECRET,
    COCHLEA_REDIS_URL: redis.url,
    COCHLEA_JOBS_STALLED_MS: '1500',
    COCHLEA_WEBHOOK_BACKOFF_MS: '200',
    LOG_LEVEL: 'info',
    ...extra,
  };
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function stop(s: Spawned, signal: NodeJS.Signals = 'SIGTERM') {
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill(signal);
  await s.exit;
}

async function submit(base: string, hook: string, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const r = await fetch(`${base}/waves/v1/pulse/get_text?language=en&webhook_url=${encodeURIComponent(hook)}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'audio/wav' },
    body,
  });
  assert.equal(r.status, 200, await r.clone().text());
  return ((await r.json()) as { request_id: string }).request_id;
}

/** Request ids a replica's log says it finished. */
function finishedBy(s: Spawned): Set<string> {
  const ids = new Set<string>();
  for (const line of s.stdout().split('\n')) {
    if (line.includes('"job finished"')) ids.add(JSON.parse(line).request_id);
  }
  return ids;
}

test('three replicas drain 60 queued jobs of real speech; every job is delivered exactly once, with its own audio', { skip: skip || skipWithoutShared() }, async () => {
  const clips = loadSet('en_librispeech').slice(0, 20);
  const rx = await startReceiver();
  // Two engine workers and one job slot per replica: 3 replicas x 1 <= cores is not possible here
  // (2 cores), so the scripted engine (no recognizer cost) keeps this about the queue.
  const replicas = await Promise.all([0, 1, 2].map(() => spawnServer([], env({ COCHLEA_JOB_CONCURRENCY: '1', COCHLEA_SCRIPTED_CONFIG: '{"decodeDelayMs":30}' }))));
  try {
    const sent = new Map<string, number>();
    const bodies = clips.map((c) => new Uint8Array(fs.readFileSync(c.audio)));
    // Any replica accepts (a load balancer's round robin).
    const ids = await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const id = await submit(replicas[i % 3].url, rx.url, bodies[i % clips.length]);
        sent.set(id, clips[i % clips.length].duration_s);
        return id;
      }),
    );
    assert.equal(new Set(ids).size, 60);
    await rx.waitFor((d) => new Set(d.map((x) => x.headers['idempotency-key'])).size >= 60, 120_000);
    await new Promise((r) => setTimeout(r, 1000)); // any duplicate would arrive now
    const byId = new Map<string, number>();
    for (const d of rx.deliveries) {
      const id = String(d.headers['idempotency-key']);
      byId.set(id, (byId.get(id) ?? 0) + 1);
      assert.ok(verifySignature(SECRET, String(d.headers['x-cochlea-signature']), String(d.headers['x-cochlea-timestamp']), d.body));
      const body = JSON.parse(d.body);
      assert.equal(body.status, 'success');
      assert.ok(Math.abs(body.metadata.duration - sent.get(id)!) < 0.05, `job ${id} transcribed its own audio (${body.metadata.duration} vs ${sent.get(id)} s)`);
    }
    assert.deepEqual([...byId.keys()].sort(), [...ids].sort());
    assert.ok([...byId.values()].every((n) => n === 1), 'no job delivered twice');
    const per = replicas.map((r) => finishedBy(r).size);
    assert.equal(per.reduce((a, b) => a + b, 0), 60, `finished per replica: ${per}`);
    assert.ok(per.every((n) => n > 0), `every replica took jobs: ${per}`);
  } finally {
    await Promise.all(replicas.map((r) => stop(r)));
    await rx.close();
  }
});

test('kill -9 of the replica running a job: the job completes on another replica; a 500 from the receiver is retried', { skip }, async () => {
  // Scripted-engine audio (the job's content does not matter here), so the test needs no ../shared.
  const wav = new Uint8Array(burstsWav(3));
  const rx = await startReceiver((_d, n) => (n === 1 ? 500 : 200));
  // Replica A is slow (each recognition busy-waits 8 s) and alone, so it takes the job.
  const a = await spawnServer([], env({ COCHLEA_JOB_CONCURRENCY: '1', COCHLEA_SCRIPTED_CONFIG: '{"decodeDelayMs":8000}' }));
  let b: Spawned | undefined;
  try {
    const id = await submit(a.url, rx.url, wav);
    for (let i = 0; i < 100; i++) {
      const j = await (await fetch(`${a.url}/waves/v1/jobs/${id}`, { headers: auth })).json();
      if (j.status === 'processing') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stop(a, 'SIGKILL');
    b = await spawnServer([], env({ COCHLEA_JOB_CONCURRENCY: '1' }));
    await rx.waitFor((d) => d.filter((x) => x.headers['idempotency-key'] === id).length >= 2, 30_000);
    await new Promise((r) => setTimeout(r, 1000));
    const mine = rx.deliveries.filter((x) => x.headers['idempotency-key'] === id);
    assert.equal(mine.length, 2, 'the 500 was retried once, then acknowledged: no further delivery');
    assert.deepEqual(mine.map((x) => x.headers['x-cochlea-delivery-attempt']), ['1', '2']);
    assert.equal(mine[0].body, mine[1].body, 'the same result both times');
    assert.equal(JSON.parse(mine[1].body).status, 'success');
    assert.ok(finishedBy(b).has(id), 'replica B finished it');
    const j = await (await fetch(`${b.url}/waves/v1/jobs/${id}`, { headers: auth })).json();
    assert.equal(j.status, 'completed');
    assert.ok(j.attempts >= 2, `a second attempt (${j.attempts})`);
    assert.equal(j.webhook.status, 'delivered');
    assert.equal(j.webhook.attempts, 2);
    assert.equal(j.webhook.last_status, 200);
  } finally {
    await stop(a, 'SIGKILL');
    if (b) await stop(b);
    await rx.close();
  }
});

function openSession(base: string, key = KEY): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/waves/v1/stt/live?language=en&token=${key}&model=pulse`);
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, closed }));
    ws.on('error', reject);
  });
}

test('per-key rate limit, per-key and total session limits hold across two replicas', { skip }, async () => {
  const limits = JSON.stringify({ keys: { [KEY]: { requestsPerMinute: 8, maxSessions: 2 } } });
  const e = { COCHLEA_KEY_LIMITS: limits, COCHLEA_MAX_SESSIONS_TOTAL: '3' };
  const [a, b] = await Promise.all([spawnServer([], env(e)), spawnServer([], env(e))]);
  try {
    // Sessions: one on each replica, the third (either replica) is closed with 1008.
    const s1 = await openSession(a.url);
    const s2 = await openSession(b.url);
    const s3 = await openSession(a.url);
    const c3 = await s3.closed;
    assert.equal(c3.code, 1008);
    assert.match(c3.reason, /sessions/);
    s1.ws.close();
    await s1.closed;
    await new Promise((r) => setTimeout(r, 300));
    const s4 = await openSession(b.url);
    const early = await Promise.race([s4.closed, new Promise((r) => setTimeout(() => r('open'), 700))]);
    assert.equal(early, 'open', 'a freed slot can be taken again');
    // Total: KEY holds 2 (s2 on B, s4 on B); KEY2's first session makes 3, its second is one too many.
    const t1 = await openSession(a.url, KEY2);
    const t2 = await openSession(a.url, KEY2);
    const ct2 = await t2.closed;
    assert.equal(ct2.code, 1008);
    assert.match(ct2.reason, /in total \(limit 3\)/);
    for (const x of [s2, s4, t1]) x.ws.close();
    await Promise.all([s2.closed, s4.closed, t1.closed]);

    // Rate: 8 requests per minute for KEY, counted on both replicas together (4 were its WS handshakes).
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${(i % 2 ? b : a).url}/waves/v1/jobs/00000000-0000-0000-0000-000000000000`, { headers: auth });
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get('retry-after');
        assert.match((await r.json()).message, /Rate limit/);
      }
    }
    assert.deepEqual(statuses, [404, 404, 404, 404, 429, 429, 429, 429]);
    assert.ok(Number(retryAfter) > 0 && Number(retryAfter) <= 60);
    // Another key (no rate limit by default) is unaffected.
    assert.equal((await fetch(`${a.url}/waves/v1/jobs/00000000-0000-0000-0000-000000000000`, { headers: { authorization: `Bearer ${KEY2}` } })).status, 404);
  } finally {
    await Promise.all([stop(a), stop(b)]);
  }
});
