/**
 * `cochlea transcribe` and `cochlea stream` against the real server (scripted engine: every burst
 * of tone in the audio comes back as the next script word with its true times): captions
 * validated by a strict SRT/VTT parser, exit codes, and `stream` printing the same finals as the
 * SDK. Most runs use the command code in-process (run-cli.ts `cliInProcess`); the real program
 * runs as a child process where the process itself is under test: exit status, --help, a
 * directory to files, stdin, and Ctrl-C.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CochleaClient } from '../../client/src/index.ts';
import { LivePrinter } from '../../src/cli/stream.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { bursts, burstsPcm16, burstsWav, scriptedEnv } from '../helpers/scripted.ts';
import { parseSrt, parseVtt } from './subtitle-parser.ts';
import { cliInProcess as cli, cliProcess } from './run-cli.ts';

/** The words as spoken: the pipeline punctuates and cases transcripts (tested in test/pipeline/). */
const spoken = (x: string) => x.toLowerCase().replace(/[.,?!]/g, '');
const SCRIPT = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];
const noFfmpeg = spawnSync('ffmpeg', ['-version']).status === 0 ? false : 'ffmpeg not installed (apt-get install ffmpeg)';
const words = (s: string) => spoken(s).split(/\s+/).filter(Boolean);

describe('cochlea CLI (client commands)', () => {
  let s: TestServer;
  let env: Record<string, string>;
  let tmp: string;
  /** Audio files: `long` has 24 short bursts (≈ 10 s, several cues), `short` 4, `cards` 6. */
  const files = { long: '', short: '', cards: '' };
  before(async () => {
    s = await startTestServer(scriptedEnv({ words: SCRIPT }));
    env = { COCHLEA_URL: s.url, COCHLEA_API_KEY: s.key };
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-cli-'));
    files.long = path.join(tmp, 'long-src.wav');
    fs.writeFileSync(files.long, burstsWav(24, { burst: 0.2, gap: 0.2 }));
    files.short = path.join(tmp, 'short-src.wav');
    fs.writeFileSync(files.short, burstsWav(4));
    files.cards = path.join(tmp, 'cards.wav');
    fs.writeFileSync(files.cards, burstsWav(6, { gap: 1.2 })); // pauses: several endpoint finals
  });
  after(async () => {
    await s?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the real program: a usage error exits 1 with the reason on stderr', async () => {
    const bad = await cliProcess(['transcribe', 'a.wav', '--format', 'docx']);
    assert.equal(bad.code, 1, 'bad format');
    assert.match(bad.stderr, /docx/);
    assert.equal(bad.stdout, '');
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

  test('transcribe a directory to SRT + VTT + JSON (the real program): well-formed, monotonic, ≤ 2 lines of ≤ 42 chars, the transcript\'s words and times', async () => {
    const dir = path.join(tmp, 'in');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.symlinkSync(files.long, path.join(dir, 'long.wav'));
    fs.symlinkSync(files.short, path.join(dir, 'sub', 'short.wav'));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not audio, skipped');
    const out = path.join(tmp, 'captions');
    // One transcription per input, written in three formats.
    const r = await cliProcess(['transcribe', dir, '-f', 'srt,vtt,json', '-o', out, '-c', '2'], env);
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
    // The scripted engine's words are the script, at the bursts' times.
    const long = JSON.parse(fs.readFileSync(path.join(out, 'long.json'), 'utf8'));
    const b = bursts(24, { burst: 0.2, gap: 0.2 });
    assert.deepEqual(words(long.transcription), b.times.map((_, i) => SCRIPT[i % SCRIPT.length]));
    assert.deepEqual(long.words.map((w: { start: number }) => w.start), b.times.map((t) => t.start));
    const longCues = parseSrt(fs.readFileSync(path.join(out, 'long.srt'), 'utf8'));
    const chars = longCues.flatMap((c) => c.lines).join(' ').length;
    assert.ok(chars > 84 && longCues.length >= 2, `${chars} characters need ≥ 2 cues (got ${longCues.length})`);

    const vtt = await cli(['transcribe', files.short, '-f', 'vtt'], env);
    assert.equal(vtt.code, 0, vtt.stderr);
    assert.deepEqual(parseVtt(vtt.stdout).flatMap((c) => c.lines.map(spoken)), ['alpha bravo charlie delta'], 'VTT to stdout');
    assert.equal((await cli(['transcribe', files.short, '-f', 'srt,json'], env)).code, 1, 'several formats need --output-dir');
  });

  test('json and text output; partial failure exits 2; a refused key exits 3', async () => {
    const good = files.short;
    const bad = path.join(tmp, 'noise.wav');
    fs.writeFileSync(bad, Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)));
    const missing = path.join(tmp, 'missing.wav');
    const r = await cli(['transcribe', good, bad, missing, '-f', 'json', '-c', '3'], env);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.input), [good, bad, missing], 'JSON Lines in input order');
    assert.equal(lines[0].status, 'success');
    assert.equal(spoken(lines[0].transcription), 'alpha bravo charlie delta');
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

  const sdkFinals = async (pcm: Buffer) => {
    const session = new CochleaClient({ baseUrl: s.url, apiKey: s.key }).stream();
    const finals: string[] = [];
    session.on('final', (e) => e.transcript && finals.push(e.transcript));
    for (let off = 0; off < pcm.length; off += 3200) session.write(pcm.subarray(off, off + 3200));
    await session.close();
    return finals;
  };

  test('stream from a file prints the same finals as the SDK (fast, and paced at real time)', async () => {
    const expected = await sdkFinals(burstsPcm16(6, { gap: 1.2 }));
    assert.ok(expected.length >= 2, `pauses give several finals: ${JSON.stringify(expected)}`);
    assert.equal(spoken(expected.join(' ')), SCRIPT.slice(0, 6).join(' '));
    const fast = await cli(['stream', files.cards, '--no-realtime'], env);
    assert.equal(fast.code, 0, fast.stderr);
    assert.deepEqual(fast.stdout.trim().split('\n'), expected);

    const expectedShort = await sdkFinals(burstsPcm16(4));
    const paced = await cli(['stream', files.short], env);
    assert.equal(paced.code, 0, paced.stderr);
    assert.deepEqual(paced.stdout.trim().split('\n'), expectedShort);
    const dur = bursts(4).duration;
    assert.ok(paced.ms >= dur * 1000 * 0.9, `paced at real time: ${paced.ms} ms for ${dur} s`);

    // JSON Lines: every event, exactly one is_last, last.
    const json = await cli(['stream', files.short, '--no-realtime', '-f', 'json'], env);
    const evs = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(evs.filter((e) => e.is_last).length, 1);
    assert.equal(evs.at(-1).is_last, true);
  });

  test('stream raw linear16 from stdin (the real program)', async () => {
    const expected = await sdkFinals(burstsPcm16(4));
    const piped = await cliProcess(['stream', '-'], env, burstsPcm16(4));
    assert.equal(piped.code, 0, piped.stderr);
    assert.deepEqual(piped.stdout.trim().split('\n'), expected);
  });

  test('stream decodes non-WAV input with ffmpeg', { skip: noFfmpeg }, async () => {
    // FLAC is lossless: the server must hear exactly the samples of the WAV.
    const flac = path.join(tmp, 'cards.flac');
    execFileSync('ffmpeg', ['-hide_banner', '-v', 'error', '-y', '-i', files.cards, flac]);
    const r = await cli(['stream', flac, '--no-realtime'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), await sdkFinals(burstsPcm16(6, { gap: 1.2 })));
  });

  test('stream exit codes: missing file 4, undecodable file 4, refused key 3', async () => {
    const env2 = env;
    assert.equal((await cli(['stream', path.join(tmp, 'nope.wav')], env2)).code, 4);
    const junk = path.join(tmp, 'junk.bin');
    fs.writeFileSync(junk, 'this is not audio at all');
    const j = await cli(['stream', junk], env2);
    assert.equal(j.code, 4);
    assert.match(j.stderr, /ffmpeg/);
    const k = await cli(['stream', '-', '--retries', '0'], { ...env2, COCHLEA_API_KEY: 'sk_nope' }, Buffer.alloc(3200));
    assert.equal(k.code, 3);
    assert.match(k.stderr, /401/);
  });

  test('stream: Ctrl-C stops sending, still gets the last final for what was sent, exits 130 (the real program)', async () => {
    const long = path.join(tmp, 'long-paced.wav');
    const b = bursts(16, { burst: 0.25, gap: 0.25 }); // 8 s paced
    fs.writeFileSync(long, burstsWav(16, { burst: 0.25, gap: 0.25 }));
    // Interrupt once the server has shown it heard a few words.
    const r = await cliProcess(['stream', long, '-f', 'json'], env, undefined, (out) => /"transcript":"\w+ \w+ \w+/.test(out));
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /waiting for the last final/);
    const evs = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const last = evs.at(-1);
    assert.equal(last.is_last, true, 'close_stream was sent and answered');
    assert.ok(words(last.transcript).length >= 2, `the words heard before Ctrl-C are in the last final: ${last.transcript}`);
    assert.ok(last.end < b.duration - 1, `sending stopped early (${last.end} s of ${b.duration} s)`);
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
