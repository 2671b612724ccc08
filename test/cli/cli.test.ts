/**
 * `cochlea transcribe` and `cochlea stream` as real processes against the real server: captions
 * validated by a strict SRT/VTT parser, exit codes, and `stream` printing the same finals as the SDK.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CochleaClient } from '../../client/src/index.ts';
import { LivePrinter } from '../../src/cli/stream.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { REPO_ROOT, loadSet, skipWithoutShared, type Clip } from '../helpers/speech.ts';
import { wavPcmBytes } from '../helpers/ws.ts';
import { parseSrt, parseVtt } from './subtitle-parser.ts';

const noShared = skipWithoutShared('CLI real-speech test');
const RUNNER = path.join(REPO_ROOT, 'test', 'cli', 'run-cli.ts');
const clip = (re: RegExp): Clip => loadSet('en_pocketsphinx_debian').find((c) => re.test(c.id))!;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], env: Record<string, string> = {}, stdin?: Buffer, interruptWhen?: (stdout: string) => boolean): Promise<Run> {
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, HOME: os.tmpdir(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  if (stdin) child.stdin.end(stdin);
  else child.stdin.end();
  let interrupted = false;
  if (interruptWhen) {
    child.stdout.on('data', () => {
      if (!interrupted && interruptWhen(stdout)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
  }
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - t0 })));
}

const noFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0 ? false : 'ffmpeg not installed (apt-get install ffmpeg)';
const words = (s: string) => s.toLowerCase().split(/\s+/).filter(Boolean);

describe('cochlea CLI (client commands)', () => {
  let s: TestServer;
  let env: Record<string, string>;
  let tmp: string;
  before(async () => {
    s = await startTestServer();
    env = { COCHLEA_URL: s.url, COCHLEA_API_KEY: s.key };
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-cli-'));
  });
  after(async () => {
    await s?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('--help documents options and exit codes; usage errors exit 1', async () => {
    for (const cmd of ['transcribe', 'stream']) {
      const r = await cli([cmd, '--help']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Exit codes:/);
      assert.match(r.stdout, /COCHLEA_API_KEY/);
      assert.match(r.stdout, /--url <url>/);
    }
    assert.equal((await cli(['transcribe'])).code, 1, 'missing inputs');
    assert.equal((await cli(['transcribe', 'a.wav', '--format', 'docx'])).code, 1, 'bad format');
    assert.equal((await cli(['transcribe', 'a.wav', '--concurrency', '0'])).code, 1, 'bad concurrency');
    assert.equal((await cli(['transcribe', 'a.wav', '--url', 'ftp://x'])).code, 1, 'bad url');
    const twoSrt = await cli(['transcribe', 'a.wav', 'b.wav', '-f', 'srt'], env);
    assert.equal(twoSrt.code, 1);
    assert.match(twoSrt.stderr, /needs --output-dir/);
    assert.equal((await cli(['stream'])).code, 1);
    assert.equal((await cli(['stream', 'x.wav', '--sample-rate', '100'])).code, 1);
    const empty = fs.mkdtempSync(path.join(tmp, 'empty-'));
    assert.equal((await cli(['transcribe', empty], env)).code, 1, 'a directory without audio');
  });

  test('transcribe a directory to SRT + VTT + JSON: well-formed, monotonic, ≤ 2 lines of ≤ 42 chars, the transcript\'s words and times', { skip: noShared }, async () => {
    const dir = path.join(tmp, 'in');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const a = clip(/0870$/); // 7 s: more than one cue
    const b = clip(/^goforward$/);
    fs.symlinkSync(a.audio, path.join(dir, 'long.wav'));
    fs.symlinkSync(b.audio, path.join(dir, 'sub', 'short.wav'));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not audio, skipped');
    const out = path.join(tmp, 'captions');
    // One transcription per input, written in three formats (the recognizer need not be deterministic).
    const r = await cli(['transcribe', dir, '-f', 'srt,vtt,json', '-o', out, '-c', '2'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', 'with --output-dir nothing goes to stdout');
    assert.deepEqual(fs.readdirSync(out).sort(), ['long.json', 'long.srt', 'long.vtt', 'short.json', 'short.srt', 'short.vtt']);

    for (const name of ['long', 'short']) {
      const json = JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8'));
      const srt = parseSrt(fs.readFileSync(path.join(out, `${name}.srt`), 'utf8'));
      const vtt = parseVtt(fs.readFileSync(path.join(out, `${name}.vtt`), 'utf8'));
      assert.ok(srt.length >= 1, name);
      for (const c of srt) {
        assert.ok(c.lines.length <= 2, `${name}: ${c.lines.length} lines`);
        for (const l of c.lines) assert.ok(l.length <= 42, `${name}: line of ${l.length} chars`);
      }
      assert.deepEqual(words(srt.flatMap((c) => c.lines).join(' ')), words(json.transcription), `${name}: captions carry the transcript`);
      assert.ok(Math.abs(srt[0].start - json.words[0].start) < 0.002, 'first cue starts with the first word');
      assert.ok(srt.at(-1)!.end >= json.words.at(-1).end - 0.002, 'last cue lasts to the last word');
      assert.deepEqual(
        vtt.map((c) => [c.start, c.end, c.lines.join(' ')]),
        srt.map((c) => [c.start, c.end, c.lines.join(' ')]),
        'VTT and SRT have the same cues',
      );
    }
    const longCues = parseSrt(fs.readFileSync(path.join(out, 'long.srt'), 'utf8'));
    const chars = longCues.flatMap((c) => c.lines).join(' ').length;
    if (chars > 84) assert.ok(longCues.length >= 2, `${chars} characters need ≥ 2 cues (got ${longCues.length})`);

    const vtt = await cli(['transcribe', b.audio, '-f', 'vtt'], env);
    assert.equal(vtt.code, 0, vtt.stderr);
    assert.ok(parseVtt(vtt.stdout).length >= 1, 'VTT to stdout');
    assert.equal((await cli(['transcribe', b.audio, '-f', 'srt,json'], env)).code, 1, 'several formats need --output-dir');
  });

  test('json and text output; partial failure exits 2; a refused key exits 3', { skip: noShared }, async () => {
    const good = clip(/^goforward$/).audio;
    const bad = path.join(tmp, 'noise.wav');
    fs.writeFileSync(bad, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)));
    const missing = path.join(tmp, 'missing.wav');
    const r = await cli(['transcribe', good, bad, missing, '-f', 'json', '-c', '3'], env);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.input), [good, bad, missing], 'JSON Lines in input order');
    assert.equal(lines[0].status, 'success');
    assert.match(lines[0].transcription, /forward/);
    assert.equal(lines[1].error.status, 400);
    assert.match(lines[2].error.message, /no such file/);
    assert.match(r.stderr, /2 of 3 inputs failed/);

    const text = await cli(['transcribe', good], env);
    assert.equal(text.code, 0);
    assert.equal(text.stdout, lines[0].transcription + '\n');

    const refused = await cli(['transcribe', good, good], { ...env, COCHLEA_API_KEY: 'sk_nope' });
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /401/);
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const unreachable = await cli(['transcribe', good, '--url', `http://127.0.0.1:${port}`, '--retries', '0'], env);
    assert.equal(unreachable.code, 3, unreachable.stderr);
  });

  test('stream from a file prints the same finals as the SDK (fast, and paced at real time)', { skip: noShared }, async () => {
    const sdkFinals = async (pcm: Buffer) => {
      const session = new CochleaClient({ baseUrl: s.url, apiKey: s.key }).stream();
      const finals: string[] = [];
      session.on('final', (e) => e.transcript && finals.push(e.transcript));
      for (let off = 0; off < pcm.length; off += 3200) session.write(pcm.subarray(off, off + 3200));
      await session.close();
      return finals;
    };
    const c = clip(/^cards_005$/);
    const expected = await sdkFinals(wavPcmBytes(c.audio));
    assert.ok(expected.length >= 1);
    const fast = await cli(['stream', c.audio, '--no-realtime'], env);
    assert.equal(fast.code, 0, fast.stderr);
    assert.deepEqual(fast.stdout.trim().split('\n'), expected);

    const g = clip(/^goforward$/);
    const expectedG = await sdkFinals(wavPcmBytes(g.audio));
    const paced = await cli(['stream', g.audio], env);
    assert.equal(paced.code, 0, paced.stderr);
    assert.deepEqual(paced.stdout.trim().split('\n'), expectedG);
    assert.ok(paced.ms >= g.duration_s * 1000 * 0.9, `paced at real time: ${paced.ms} ms for ${g.duration_s} s`);

    // Raw linear16 on stdin.
    const piped = await cli(['stream', '-'], env, wavPcmBytes(g.audio));
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(piped.stdout.trim().split('\n'), expectedG);

    // JSON Lines: every event, exactly one is_last, last.
    const json = await cli(['stream', g.audio, '--no-realtime', '-f', 'json'], env);
    const evs = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(evs.filter((e) => e.is_last).length, 1);
    assert.equal(evs.at(-1).is_last, true);
  });

  test('stream decodes non-WAV input with ffmpeg', { skip: noShared || noFfmpeg }, async () => {
    const jfk = loadSet('en_jfk')[0];
    if (!jfk?.orig_audio || !fs.existsSync(jfk.orig_audio)) return;
    const r = await cli(['stream', jfk.orig_audio, '--no-realtime'], env);
    assert.equal(r.code, 0, r.stderr);
    const sdk = new CochleaClient({ baseUrl: s.url, apiKey: s.key }).stream();
    const finals: string[] = [];
    sdk.on('final', (e) => e.transcript && finals.push(e.transcript));
    const pcm = wavPcmBytes(jfk.audio);
    for (let off = 0; off < pcm.length; off += 3200) sdk.write(pcm.subarray(off, off + 3200));
    await sdk.close();
    assert.ok(words(r.stdout).length > 5, r.stdout);
    // ffmpeg's FLAC → 16 kHz may differ in the last bits from the shared WAV; the words should not much.
    const a = words(r.stdout).join(' ');
    const b = finals.join(' ').toLowerCase();
    assert.ok(a === b || Math.abs(a.length - b.length) / b.length < 0.2, `${a} vs ${b}`);
  });

  test('stream exit codes: missing file 4, undecodable file 4, refused key 3', async () => {
    const env2 = env;
    assert.equal((await cli(['stream', path.join(tmp, 'nope.wav')], env2)).code, 4);
    const junk = path.join(tmp, 'junk.bin');
    fs.writeFileSync(junk, 'this is not audio at all');
    const j = await cli(['stream', junk], env2);
    assert.equal(j.code, 4);
    assert.match(j.stderr, /ffmpeg/);
    const silence = path.join(tmp, 'silence.raw');
    fs.writeFileSync(silence, Buffer.alloc(3200));
    const k = await cli(['stream', '-', '--retries', '0'], { ...env2, COCHLEA_API_KEY: 'sk_nope' }, Buffer.alloc(3200));
    assert.equal(k.code, 3);
    assert.match(k.stderr, /401/);
  });

  test('stream: Ctrl-C stops sending, still gets the last final for what was sent, exits 130', { skip: noShared }, async () => {
    const long = clip(/0870$/); // 7 s
    // Interrupt once the server has shown it heard a few words.
    const r = await cli(['stream', long.audio, '-f', 'json'], env, undefined, (out) => /"transcript":"\w+ \w+ \w+/.test(out));
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /waiting for the last final/);
    const evs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const last = evs.at(-1);
    assert.equal(last.is_last, true, 'close_stream was sent and answered');
    assert.ok(words(last.transcript).length >= 2, `the words heard before Ctrl-C are in the last final: ${last.transcript}`);
    assert.ok(last.end < long.duration_s - 1, `sending stopped early (${last.end} s of ${long.duration_s} s)`);
  });

  test('on a terminal, partials are redrawn in place and finals get their own lines', () => {
    let out = '';
    const printer = new LivePrinter({ write: (s: string) => (out += s), isTTY: true, columns: 30 }, { format: 'text' });
    const ev = (transcript: string, is_final: boolean) =>
      ({ type: 'transcription', status: 'success', session_id: 'x', transcript, is_final, is_last: false, language: 'en' }) as const;
    printer.event(ev('hello', false));
    printer.event(ev('hello wor', false));
    printer.event(ev('hello world', true));
    printer.event(ev('a much longer partial that would not fit on the row', false));
    printer.end();
    assert.equal(out.split('\n').length, 2, 'one final line');
    assert.ok(out.includes('\r\x1b[2K\x1b[2mhello wor'));
    assert.ok(out.includes('\r\x1b[2Khello world\n'));
    assert.ok(out.includes('…'), 'long partial shows its tail on one row');
    for (const seg of out.split('\r\x1b[2K')) assert.ok(seg.replace(/\x1b\[\d+m/g, '').replace('\n', '').length <= 30);
    assert.ok(out.endsWith('\r\x1b[2K'), 'a pending partial is cleared at the end');
    let plain = '';
    const p2 = new LivePrinter({ write: (s: string) => (plain += s), isTTY: false }, { format: 'text' });
    p2.event(ev('hello', false));
    p2.event(ev('hello world', true));
    assert.equal(plain, 'hello world\n', 'not a terminal: finals only');
  });
});
