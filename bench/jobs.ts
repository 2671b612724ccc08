/**
 * Asynchronous jobs: throughput and time-to-webhook over Redis for 1, 2 and 3 replicas (one engine
 * worker and one job slot each, real speech on pocketsphinx), and what the queue adds per job
 * against a direct sync request of the same audio (scripted engine, so the engine's own time noise
 * does not hide the queue's; embedded and Redis).
 *
 *   nice -n 10 npx tsx bench/jobs.ts [--quick] [--overhead]     (or: npm run bench -- --only jobs)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { median, percentile, sharedAvailable, type BenchContext, type BenchSection, SHARED_DIR } from './lib.ts';
import { spawnServer, type Spawned } from '../test/helpers/spawn.ts';
import { redisSkip, startRedis, type TestRedis } from '../test/helpers/redis.ts';
import { startReceiver, type Receiver } from '../test/helpers/webhook-receiver.ts';

const KEY = 'sk_bench_jobs_0123456789';

function clipFiles(ctx: BenchContext, n: number): { file: string; duration: number }[] {
  const dir = path.join(ctx.sharedDir, 'speech', 'en_pocketsphinx_debian');
  const lines = fs.readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').split('\n').filter(Boolean);
  return lines.slice(0, n).map((l) => {
    const o = JSON.parse(l);
    return { file: path.join(dir, o.audio), duration: Number(o.duration_s) };
  });
}

const dirs: string[] = [];
function env(extra: Record<string, string>): Record<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-bench-jobs-'));
  dirs.push(dir);
  return {
    COCHLEA_API_KEYS: KEY,
    COCHLEA_CONFIG_DIR: dir,
    COCHLEA_URL_ALLOW: '127.0.0.1',
    COCHLEA_WEBHOOK_SECRET: 'whsec_bench',
    COCHLEA_WORKERS: '1',
    COCHLEA_JOB_CONCURRENCY: '1',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

async function submit(base: string, hook: string, body: Uint8Array<ArrayBuffer>): Promise<string> {
  const r = await fetch(`${base}/waves/v1/pulse/get_text?language=en&webhook_url=${encodeURIComponent(hook)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'audio/wav' },
    body,
  });
  if (r.status !== 200) throw new Error(`submit: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { request_id: string }).request_id;
}

async function sync(base: string, body: Uint8Array<ArrayBuffer>): Promise<void> {
  const r = await fetch(`${base}/waves/v1/pulse/get_text?language=en`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'audio/wav' }, body });
  if (r.status !== 200) throw new Error(`sync: ${r.status}`);
  await r.arrayBuffer();
}

async function stopAll(ss: Spawned[]) {
  for (const s of ss) if (s.child.exitCode === null) s.child.kill('SIGTERM');
  await Promise.all(ss.map((s) => s.exit));
}

/** N jobs queued at once, round robin over the replicas; time from each submit to its webhook. */
async function throughput(redis: TestRedis, rx: Receiver, replicas: number, bodies: Uint8Array<ArrayBuffer>[], n: number) {
  const servers = await Promise.all(Array.from({ length: replicas }, () => spawnServer([], env({ COCHLEA_ENGINE: 'pocketsphinx', COCHLEA_REDIS_URL: redis.url }), 60_000)));
  try {
    // Warm each replica (engine load) with one sync request.
    await Promise.all(servers.map((s) => sync(s.url, bodies[0])));
    rx.deliveries.length = 0;
    const submitted = new Map<string, number>();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const at = performance.now();
        submitted.set(await submit(servers[i % replicas].url, rx.url, bodies[i % bodies.length]), at);
      }),
    );
    await rx.waitFor((d) => new Set(d.map((x) => x.headers['idempotency-key'])).size >= n, 600_000);
    const t1 = performance.now();
    const ttw: number[] = [];
    const origin = Date.now() - performance.now();
    for (const d of rx.deliveries) ttw.push(d.at - origin - submitted.get(String(d.headers['idempotency-key']))!);
    return { jobsPerMin: (n / (t1 - t0)) * 60_000, p50: percentile(ttw, 50), p95: percentile(ttw, 95) };
  } finally {
    await stopAll(servers);
  }
}

/** Sequential: sync request latency vs submit-to-webhook latency, same audio, same replica. */
async function overhead(rx: Receiver, extra: Record<string, string>, body: Uint8Array<ArrayBuffer>, reps: number) {
  const s = await spawnServer([], env({ COCHLEA_ENGINE: 'scripted', ...extra }));
  try {
    for (let i = 0; i < 3; i++) await sync(s.url, body);
    const syncT: number[] = [];
    const asyncT: number[] = [];
    for (let i = 0; i < reps; i++) {
      let t = performance.now();
      await sync(s.url, body);
      syncT.push(performance.now() - t);
      const before = rx.deliveries.length;
      t = performance.now();
      await submit(s.url, rx.url, body);
      await rx.waitFor((d) => d.length > before, 30_000);
      asyncT.push(performance.now() - t);
    }
    return { sync: median(syncT), async: median(asyncT), added: median(asyncT) - median(syncT) };
  } finally {
    await stopAll([s]);
  }
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  const skip = redisSkip();
  if (skip) return { name: 'jobs', metrics: { skipped: skip } };
  if (!sharedAvailable(ctx)) return { name: 'jobs', metrics: { skipped: 'no ../shared speech' } };
  const redis = await startRedis();
  const rx = await startReceiver();
  const metrics: Record<string, number | string> = {};
  const rows: (string | number)[][] = [];
  try {
    const clips = clipFiles(ctx, 6);
    const bodies = clips.map((c) => new Uint8Array(fs.readFileSync(c.file)));
    const n = ctx.quick ? 12 : 24;
    metrics.clip_seconds_mean = Math.round((clips.reduce((a, c) => a + c.duration, 0) / clips.length) * 100) / 100;
    // --overhead: only the queue-overhead part (seconds instead of minutes).
    for (const r of process.argv.includes('--overhead') ? [] : [1, 2, 3]) {
      ctx.log(`jobs: ${r} replica(s), ${n} jobs`);
      const t = await throughput(redis, rx, r, bodies, n);
      rows.push([r, r, n, Math.round(t.jobsPerMin * 10) / 10, Math.round(t.p50), Math.round(t.p95)]);
      metrics[`jobs_per_min_${r}_replicas`] = Math.round(t.jobsPerMin * 10) / 10;
    }
    const reps = ctx.quick ? 10 : 30;
    const short = bodies[0];
    ctx.log('jobs: queue overhead, embedded');
    const e = await overhead(rx, {}, short, reps);
    ctx.log('jobs: queue overhead, redis');
    const rd = await overhead(rx, { COCHLEA_REDIS_URL: redis.url }, short, reps);
    metrics.sync_ms_median = Math.round(e.sync * 10) / 10;
    metrics.embedded_submit_to_webhook_ms_median = Math.round(e.async * 10) / 10;
    metrics.embedded_queue_added_ms = Math.round(e.added * 10) / 10;
    metrics.redis_sync_ms_median = Math.round(rd.sync * 10) / 10;
    metrics.redis_submit_to_webhook_ms_median = Math.round(rd.async * 10) / 10;
    metrics.redis_queue_added_ms = Math.round(rd.added * 10) / 10;
  } finally {
    await rx.close();
    await redis.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
  return {
    name: 'jobs',
    metrics,
    tables: [{ title: 'Redis replicas (pocketsphinx, real speech, all jobs queued at once)', columns: ['replicas', 'engine workers total', 'jobs', 'jobs/min', 'p50 time-to-webhook ms', 'p95 time-to-webhook ms'], rows }],
    notes: [
      `Machine: ${os.cpus().length} cores shared with other work; 3 replicas oversubscribe 2 cores.`,
      'Queue overhead: median(submit → webhook received) − median(sync request) for the same clip, sequential, scripted engine.',
    ],
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const quick = process.argv.includes('--quick');
  const ctx: BenchContext = { quick, sharedDir: SHARED_DIR, log: (m) => process.stderr.write(`[bench] ${m}\n`) };
  run(ctx).then(
    (s) => {
      process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      process.exit(0);
    },
    (e) => {
      process.stderr.write(String(e?.stack ?? e) + '\n');
      process.exit(1);
    },
  );
}
