/**
 * The model manager against a local HTTP server (node:http on 127.0.0.1) serving small .tar.bz2
 * bundles built with the system tar: resume after a cut connection, checksum mismatch refused and
 * cleaned up, corrupt / unsafe archives rejected cleanly, concurrent pulls of one model download
 * once, progress events, verify / remove, startup helpers and the CLI.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { validateCatalog, type Catalog, type CatalogEntry } from '../../src/models/catalog.ts';
import { ModelManager, type PullEvent } from '../../src/models/manager.ts';
import { assertModelsInstalled, capabilities, MissingModelsError, missingModels } from '../../src/models/startup.ts';
import { defaultModelsDir } from '../../src/models/paths.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-models-test-'));
let server: http.Server;
let base = '';
const files: Record<string, Buffer> = {};
const requests: { path: string; range?: string }[] = [];
/** path → number of bytes after which the next response is cut (once). */
const cutOnce = new Map<string, number>();

function sha(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function makeBundle(name: string, content: Record<string, string | Buffer>, extra?: (dir: string) => void): Buffer {
  const root = fs.mkdtempSync(path.join(tmp, 'src-'));
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  for (const [f, c] of Object.entries(content)) fs.writeFileSync(path.join(dir, f), c);
  extra?.(dir);
  const out = path.join(root, `${name}.tar.bz2`);
  execFileSync('tar', ['-cjf', out, '-C', root, name]);
  return fs.readFileSync(out);
}

function entry(name: string, file: string, over: Partial<CatalogEntry> = {}): CatalogEntry {
  return {
    name,
    title: name,
    kind: 'asr',
    url: `${base}/${file}`,
    archive: 'tar.bz2',
    archiveRoot: 'bundle',
    sha256: null,
    license: 'test',
    publisher: 'test',
    languages: ['en'],
    streaming: false,
    batch: true,
    features: [],
    sherpa: { mode: 'offline', family: 'sense-voice', files: { model: 'model.onnx', tokens: 'tokens.txt' } },
    ...over,
  };
}

let catalog: Catalog;
// A 600 kB incompressible model so a cut mid-body is a real partial download.
const modelBytes = crypto.randomBytes(600_000);

before(async () => {
  server = http.createServer((req, res) => {
    const p = decodeURIComponent(req.url ?? '/').slice(1);
    requests.push({ path: p, range: req.headers.range });
    const body = files[p];
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    const etag = `"${sha(body).slice(0, 16)}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && (!req.headers['if-range'] || req.headers['if-range'] === etag)) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, etag });
    } else {
      res.writeHead(200, { 'content-length': body.length, etag, 'accept-ranges': 'bytes' });
    }
    const cut = cutOnce.get(p);
    if (cut !== undefined && start < cut) {
      cutOnce.delete(p);
      res.write(body.subarray(start, cut), () => res.destroy());
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  files['good.tar.bz2'] = makeBundle('bundle', { 'model.onnx': modelBytes, 'tokens.txt': 'a 0\nb 1\n', 'README.md': 'x' });
  files['corrupt.tar.bz2'] = Buffer.concat([Buffer.from('BZh91AY&SY'), crypto.randomBytes(5000)]);
  files['symlink.tar.bz2'] = makeBundle('bundle', { 'model.onnx': 'm', 'tokens.txt': 't' }, (d) => fs.symlinkSync('/etc/passwd', path.join(d, 'evil')));
  files['vad.onnx'] = crypto.randomBytes(4096);
  catalog = validateCatalog({
    version: 1,
    models: [
      entry('good', 'good.tar.bz2'),
      entry('cut', 'good.tar.bz2'),
      entry('concurrent', 'good.tar.bz2'),
      entry('badsum', 'good.tar.bz2', { sha256: '0'.repeat(64) }),
      entry('pinned', 'good.tar.bz2', { sha256: sha(files['good.tar.bz2']) }),
      entry('corrupt', 'corrupt.tar.bz2'),
      entry('symlink', 'symlink.tar.bz2'),
      entry('layout', 'good.tar.bz2', { sherpa: { mode: 'offline', family: 'sense-voice', files: { model: 'missing.onnx', tokens: 'tokens.txt' } } }),
      entry('missing404', 'nope.tar.bz2'),
      entry('vad', 'vad.onnx', { kind: 'vad', archive: 'none', sha256: sha(files['vad.onnx']), sherpa: { mode: 'vad', family: 'silero-vad', files: { model: 'silero_vad.onnx' } } }),
    ],
  });
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

function mgr(): ModelManager {
  return new ModelManager({ modelsDir: path.join(tmp, 'models'), catalog });
}

function leftovers(m: ModelManager): string[] {
  const out: string[] = [];
  for (const d of ['.partial', '.tmp']) {
    const p = path.join(m.modelsDir, d);
    if (fs.existsSync(p)) out.push(...fs.readdirSync(p).map((f) => `${d}/${f}`));
  }
  return out;
}

test('pull: download, extract, manifest with file digests, progress events; second pull is cached', async () => {
  const m = mgr();
  const events: PullEvent[] = [];
  const s = await m.pull('good', { onEvent: (e) => events.push(e) });
  assert.ok(s.installed);
  assert.deepEqual(fs.readFileSync(path.join(s.dir, 'model.onnx')), modelBytes);
  assert.equal(s.manifest!.downloadSha256, sha(files['good.tar.bz2']));
  assert.equal(s.manifest!.pinned, false);
  assert.equal(s.manifest!.files['model.onnx'].sha256, sha(modelBytes));
  const dl = events.filter((e) => e.phase === 'download').map((e) => e.progress!);
  assert.ok(dl.length >= 2, 'progress reported while downloading');
  for (let i = 1; i < dl.length; i++) assert.ok(dl[i].received >= dl[i - 1].received, 'monotonic progress');
  assert.equal(dl.at(-1)!.received, files['good.tar.bz2'].length);
  assert.equal(dl.at(-1)!.total, files['good.tar.bz2'].length);
  assert.deepEqual(events.filter((e) => e.phase !== 'download').map((e) => e.phase), ['verify', 'extract', 'install', 'done']);
  assert.deepEqual(leftovers(m), [], 'no partial or staging files left');
  assert.deepEqual(m.files('good'), { model: path.join(s.dir, 'model.onnx'), tokens: path.join(s.dir, 'tokens.txt') });

  const n = requests.length;
  const again: PullEvent[] = [];
  await m.pull('good', { onEvent: (e) => again.push(e) });
  assert.equal(requests.length, n, 'no request for an installed model');
  assert.deepEqual(again.map((e) => e.phase), ['cached']);
});

test('resume: a connection cut mid-body resumes with a Range request and installs the same bytes', async () => {
  const m = mgr();
  const total = files['good.tar.bz2'].length;
  cutOnce.set('good.tar.bz2', Math.floor(total / 2));
  const n = requests.length;
  const events: PullEvent[] = [];
  const s = await m.pull('cut', { retryDelayMs: 10, onEvent: (e) => events.push(e) });
  const mine = requests.slice(n);
  assert.equal(mine.length, 2, 'one cut request + one resume');
  assert.equal(mine[0].range, undefined);
  const resumedFrom = events.find((e) => e.phase === 'download' && e.progress!.resumedFrom > 0)?.progress!.resumedFrom;
  assert.ok(resumedFrom && resumedFrom <= Math.floor(total / 2), `resumed from the bytes received before the cut (${resumedFrom})`);
  assert.equal(mine[1].range, `bytes=${resumedFrom}-`, 'Range asks for the rest only');
  assert.equal(s.manifest!.downloadSha256, sha(files['good.tar.bz2']), 'digest of the whole file, resumed part included');
  assert.deepEqual(fs.readFileSync(path.join(s.dir, 'model.onnx')), modelBytes);
});

test('resume across processes: a partial file left by an interrupted pull is continued, not restarted', async () => {
  const m = new ModelManager({ modelsDir: path.join(tmp, 'models-resume'), catalog });
  const total = files['good.tar.bz2'].length;
  cutOnce.set('good.tar.bz2', 400_000);
  await assert.rejects(m.pull('good', { retries: 0 }), /failed after 1 attempts.*partial kept/);
  assert.ok(!m.isInstalled('good'));
  const have = fs.statSync(path.join(m.modelsDir, '.partial', 'good--good.tar.bz2')).size;
  assert.ok(have > 0 && have <= 400_000, `partial file kept (${have} bytes)`);
  const n = requests.length;
  await m.pull('good');
  assert.deepEqual(requests.slice(n).map((r) => r.range), [`bytes=${have}-`]);
  assert.ok(m.isInstalled('good'));
  assert.equal(m.readManifest('good')!.downloadSha256, sha(files['good.tar.bz2']));
  assert.ok(total > 1000);
});

test('checksum mismatch: refused, download deleted, nothing installed', async () => {
  const m = mgr();
  await assert.rejects(m.pull('badsum'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'checksum_mismatch');
    assert.match(err.message, /sha256 mismatch.*expected 0{64}, got [0-9a-f]{64}/);
    return true;
  });
  assert.ok(!m.isInstalled('badsum'));
  assert.ok(!fs.existsSync(m.dir('badsum')));
  assert.deepEqual(leftovers(m), []);
  const ok = await m.pull('pinned');
  assert.equal(ok.manifest!.pinned, true, 'a matching pinned digest installs');
});

test('corrupt archive: clean error, partial removed, nothing installed', async () => {
  const m = mgr();
  await assert.rejects(m.pull('corrupt'), (err: Error & { code?: string }) => {
    assert.equal(err.name, 'ArchiveError');
    assert.equal(err.code, 'corrupt');
    assert.match(err.message, /cannot unpack corrupt--corrupt\.tar\.bz2 \(tar exit \d+\): bzip2: Data integrity error/);
    return true;
  });
  assert.ok(!m.isInstalled('corrupt'));
  assert.deepEqual(leftovers(m), []);
});

test('unsafe archive (symlink) and wrong layout are refused', async () => {
  const m = mgr();
  await assert.rejects(m.pull('symlink'), /link or special file \(bundle\/evil\)/);
  assert.ok(!fs.existsSync(m.dir('symlink')));
  await assert.rejects(m.pull('layout'), /has no missing\.onnx/);
  assert.ok(!fs.existsSync(m.dir('layout')));
  await assert.rejects(m.pull('missing404'), /HTTP 404/);
  assert.deepEqual(leftovers(m).filter((f) => !f.startsWith('.partial/missing404')), []);
});

test('concurrent pulls of the same model: one download, both succeed', async () => {
  const a = mgr();
  const b = mgr();
  const n = requests.length;
  const waits: PullEvent[] = [];
  const [ra, rb] = await Promise.all([
    a.pull('concurrent', { onEvent: (e) => e.phase === 'waiting' && waits.push(e) }),
    b.pull('concurrent', { onEvent: (e) => e.phase === 'waiting' && waits.push(e) }),
  ]);
  assert.equal(requests.slice(n).filter((r) => r.path === 'good.tar.bz2').length, 1, 'downloaded once');
  assert.ok(ra.installed && rb.installed);
  assert.equal(waits.length, 1, 'the second pull waited for the lock');
  assert.equal(waits[0].owner!.pid, process.pid);
  assert.deepEqual(fs.readFileSync(path.join(ra.dir, 'model.onnx')), modelBytes);
});

test('single-file model with a pinned digest; verify detects tampering; remove', async () => {
  const m = mgr();
  const s = await m.pull('vad');
  assert.deepEqual(fs.readFileSync(path.join(s.dir, 'silero_vad.onnx')), files['vad.onnx']);
  assert.deepEqual((await m.verify('vad'))[0], { name: 'vad', ok: true, problems: [] });
  fs.appendFileSync(path.join(s.dir, 'silero_vad.onnx'), 'x');
  const bad = (await m.verify('vad'))[0];
  assert.equal(bad.ok, false);
  assert.match(bad.problems.join(';'), /size/);
  const all = await m.verify();
  assert.ok(all.some((r) => r.name === 'good' && r.ok));
  assert.equal(await m.remove('vad'), true);
  assert.ok(!m.isInstalled('vad'));
  assert.equal(await m.remove('vad'), false);
  assert.match((await m.verify('vad'))[0].problems[0], /not installed \(run: cochlea models pull vad\)/);
});

test('startup helpers: capabilities and a one-line fix for missing models', async () => {
  const m = mgr();
  assert.deepEqual(missingModels(m, ['good', 'vad']), ['vad']);
  assert.throws(() => assertModelsInstalled(m, ['good', 'vad']), (err: Error) => {
    assert.ok(err instanceof MissingModelsError);
    assert.match(err.message, /run: cochlea models pull vad$/);
    return true;
  });
  assert.throws(() => missingModels(m, ['no-such-model']), /unknown model "no-such-model"/);
  const c = capabilities(m);
  assert.deepEqual(c.batchLanguages, ['en']);
  assert.deepEqual(c.streamingLanguages, []);
  assert.equal(c.vad, false);
  assert.throws(() => m.files('vad'), /run: cochlea models pull vad/);
});

test('models directory: COCHLEA_MODELS_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
  assert.equal(defaultModelsDir({ COCHLEA_MODELS_DIR: '/srv/m' }), '/srv/m');
  assert.equal(defaultModelsDir({ XDG_CACHE_HOME: '/xdg' }), '/xdg/cochlea/models');
  assert.equal(defaultModelsDir({ XDG_CACHE_HOME: 'relative' }), path.join(os.homedir(), '.cache', 'cochlea', 'models'));
  assert.equal(defaultModelsDir({}), path.join(os.homedir(), '.cache', 'cochlea', 'models'));
});

test('the bundled catalog is valid and covers the required model kinds', async () => {
  const { loadCatalog } = await import('../../src/models/catalog.ts');
  const c = loadCatalog(path.resolve(import.meta.dirname, '../../src/models/catalog.json'));
  const kinds = new Set(c.models.map((x) => x.kind));
  for (const k of ['asr', 'vad', 'speaker-segmentation', 'speaker-embedding', 'punctuation']) assert.ok(kinds.has(k as never), k);
  assert.ok(c.models.some((x) => x.kind === 'asr' && x.streaming && x.languages.includes('en')), 'an English streaming model');
  assert.ok(c.models.some((x) => x.kind === 'asr' && x.multilingual && x.batch), 'a multilingual offline model');
  for (const x of c.models) assert.match(x.url, /^https:\/\/github\.com\/k2-fsa\/sherpa-onnx\/releases\/download\//);
});

test('CLI: models pull / list / verify / remove via commander (one child process for the session)', async () => {
  const catFile = path.join(tmp, 'catalog.json');
  fs.writeFileSync(catFile, JSON.stringify(catalog));
  const dir = path.join(tmp, 'cli-models');
  const runner = path.resolve(import.meta.dirname, 'cli-runner.ts');
  const cmd = (...args: string[]) => ['models', '--dir', dir, ...args];
  const { execFile } = await import('node:child_process');
  const results = await new Promise<{ code: number; out: string }[]>((resolve, reject) => {
    execFile(
      process.execPath,
      [
        '--import',
        'tsx',
        runner,
        JSON.stringify([cmd('pull', 'good'), cmd('list'), cmd('verify'), cmd('remove', 'good'), cmd('pull', 'badsum'), cmd('pull', 'no-such')]),
      ],
      { env: { ...process.env, COCHLEA_MODELS_CATALOG: catFile }, timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').at(-1)!))),
    );
  });
  const [pull, list, verify, remove, badsum, unknown] = results;
  assert.equal(pull.code, 0, pull.out);
  assert.match(pull.out, /good installed in .*cli-models\/good \(sha256 [0-9a-f]{64} recorded/);
  assert.match(list.out, /^\* good\s+asr/m);
  assert.match(list.out, /^ {2}vad\s+vad/m);
  assert.match(list.out, /batch languages: en/);
  assert.equal(verify.code, 0, verify.out);
  assert.match(verify.out, /^ok {3}good$/m);
  assert.match(remove.out, /good removed/);
  assert.equal(badsum.code, 1);
  assert.match(badsum.out, /error: .*sha256 mismatch/);
  assert.equal(unknown.code, 1);
  assert.match(unknown.out, /unknown model "no-such"/);
});
