/**
 * Issue 15 item 13: fuzz the request line, query string, headers and fetched audio URLs (not only
 * bodies — test/audio/fuzz.test.ts does bodies) against a running server with the scripted
 * engine. Every answer must be a 2xx/4xx (never a 5xx, never a dropped connection without a
 * status), and the server must stay healthy and keep serving a well-formed request.
 * The seed is printed; rerun a failure with ABUSE_FUZZ_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { toneWav } from '../helpers/wav.ts';

const SEED = Number(process.env.ABUSE_FUZZ_SEED ?? 680654543); // the seed that found the fetched-URL URIError
const COUNT = Number(process.env.ABUSE_FUZZ_COUNT ?? 240);

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const rand = rng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (n: number) => Math.floor(rand() * n);

/** Strings that broke or could break parsers: bad percent-encodings, unicode, control-ish bytes. */
const NASTY = [
  '%', '%%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%FF%FE', '%u0041', '%2e%2e%2f', '..%2f..%2f', '\u00e9', '\u202e', '\ud83d\ude00',
  '\\x00', '"', "'", ';', ',', '=', '==', '*', '\\', '/', '//', '?', '#', '&&', '[', ']', '{}', '<script>', 'true', 'false', 'null',
  'NaN', '-1', '1e309', '0x10', ' ', '\t', 'a'.repeat(5000), '9'.repeat(400),
];
const PARAMS = ['language', 'encoding', 'sample_rate', 'word_timestamps', 'diarize', 'keywords', 'webhook_url', 'redact_pii', 'punctuate', 'token', 'api_key', 'x'];
const PATHS = ['/waves/v1/pulse/get_text', '/api/v1/pulse/get_text', '/waves/v1/stt', '/health', '/', '/waves/v1/pulse/get_text/', '//waves/v1/pulse/get_text', '/waves/v1/pulse/get_text/..', '/waves/%2e%2e/v1', '/waves/v1/pulse/%E0%A4%A', '/%', '/*'];
const CTYPES = ['audio/wav', 'application/json', 'application/x+json', 'application/vnd.a+json; charset=%zz', 'text/plain', 'multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary=%E0%A4%A', 'application/octet-stream', 'audio/*', '*/*', ';;;', 'application/json; charset=utf-99', '', 'x'.repeat(3000)];

function nasty(): string {
  let s = '';
  for (let i = 0, n = 1 + int(3); i < n; i++) s += pick(NASTY);
  return s;
}

/** Only bytes a header value may carry on the wire (visible ASCII, space, tab, obs-text). */
const headerSafe = (s: string) => Buffer.from(s, 'utf8').toString('latin1').replace(/[\r\n\0]/g, '');
const pathSafe = (s: string) => encodeURI(s).replace(/%25/g, '%');

interface Case {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer;
}

function makeCase(key: string, audioBase: string): Case {
  const q: string[] = [];
  for (let i = 0, n = int(5); i < n; i++) q.push(`${pick(PARAMS)}=${rand() < 0.7 ? pathSafe(nasty()) : pick(['en', 'linear16', '16000', 'true', 'multi', 'ogg_opus'])}`);
  if (rand() < 0.2) q.push(`token=${rand() < 0.5 ? key : pathSafe(nasty())}`);
  const path = (rand() < 0.85 ? pick(PATHS.slice(0, 3)) : pick(PATHS)) + (q.length ? '?' + q.join('&') : '');
  const headers: [string, string][] = [];
  const authMode = int(6);
  if (authMode < 3) headers.push(['authorization', `Bearer ${key}`]);
  else if (authMode === 3) headers.push(['authorization', headerSafe(`Bearer ${nasty()}`)]);
  else if (authMode === 4) headers.push(['authorization', headerSafe(pick(['Bearer', 'Basic %zz', 'bearer  ' + key, 'Token ' + key, `Bearer ${key}, Bearer x`]))]);
  let ct = rand() < 0.8 ? pick(CTYPES) : headerSafe(nasty());
  let body: Buffer;
  if (/json/.test(ct) && rand() < 0.8) {
    const url = pick([
      `${audioBase}/${pathSafe(nasty())}.wav`,
      `${audioBase}/%E0%A4%A.wav`,
      `${audioBase}/ok.wav?${pathSafe(nasty())}`,
      'http://%zz/',
      'http://[::1',
      'http://[::127.0.0.1]/a.wav',
      'file:///etc/passwd',
      `http://user:%zz@127.0.0.1/`,
      nasty(),
    ]);
    body = Buffer.from(rand() < 0.85 ? JSON.stringify({ url }) : headerSafe(nasty()));
  } else {
    body = rand() < 0.6 ? toneWav(0.3) : Buffer.from(nasty(), 'latin1');
  }
  if (ct) headers.push(['content-type', ct]);
  for (let i = 0, n = int(4); i < n; i++) {
    const name = pick(['content-disposition', 'x-filename', 'accept', 'accept-encoding', 'content-encoding', 'x-forwarded-for', 'expect', 'transfer-encoding', 'origin', 'sec-websocket-key', 'upgrade', 'x-' + int(99)]);
    let v = headerSafe(nasty());
    if (name === 'content-disposition') v = headerSafe(`attachment; filename${rand() < 0.5 ? '*' : ''}="${nasty()}"`);
    if (name === 'transfer-encoding') v = pick(['gzip', 'chunked, gzip', 'identity']);
    if (name === 'content-encoding') v = pick(['gzip', 'br', 'deflate', 'x']);
    if (name === 'expect') v = pick(['100-continue', 'x']);
    headers.push([name, v]);
  }
  const method = rand() < 0.9 ? 'POST' : pick(['GET', 'PUT', 'PATCH', 'OPTIONS', 'HEAD', 'DELETE']);
  return { method, path, headers, body };
}

/** Send one request over a raw socket (no client-side validation) and read the status code. */
function send(port: number, c: Case, timeoutMs = 20_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    const final = () => /(?:^|\r\n)HTTP\/1\.1 ([2-5]\d\d)/.exec(data);
    sock.on('data', (d) => {
      data += d.toString('latin1');
      const m = final(); // skip interim 1xx answers (Expect: 100-continue)
      if (m) {
        clearTimeout(timer);
        sock.destroy();
        resolve(Number(m[1]));
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      const m = final();
      if (m) resolve(Number(m[1]));
      else reject(new Error('connection closed without a status line'));
    });
    const te = c.headers.some(([n, v]) => n === 'transfer-encoding' && /chunked/.test(v));
    const head = [`${c.method} ${c.path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close', ...c.headers.map(([n, v]) => `${n}: ${v}`)];
    if (!te) head.push(`content-length: ${c.body.length}`);
    sock.write(Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), te ? Buffer.from(`${c.body.length.toString(16)}\r\n`) : Buffer.alloc(0), c.body, te ? Buffer.from('\r\n0\r\n\r\n') : Buffer.alloc(0)]));
  });
}

describe(`issue 15 item 13: header / URL / request-line fuzz (seed ${SEED}, ${COUNT} requests)`, () => {
  let s: TestServer;
  let audio: http.Server;
  let audioBase = '';
  before(async () => {
    console.log(`# abuse fuzz seed ${SEED} (rerun: ABUSE_FUZZ_SEED=${SEED})`);
    audio = http.createServer((req, res) => {
      res.setHeader('content-type', 'audio/wav');
      res.end(toneWav(0.3));
    });
    await new Promise<void>((r) => audio.listen(0, '127.0.0.1', r));
    audioBase = `http://127.0.0.1:${(audio.address() as { port: number }).port}`;
    s = await startTestServer({ COCHLEA_ENGINE: 'scripted', COCHLEA_URL_ALLOW: '127.0.0.1' });
  });
  after(async () => {
    await s?.close();
    audio?.close();
  });

  test('no 5xx, every connection answered, server healthy afterwards', async () => {
    const port = Number(new URL(s.url).port);
    const statuses = new Map<number, number>();
    const bad: string[] = [];
    let i = 0;
    const worker = async () => {
      while (i < COUNT) {
        const n = i++;
        const c = makeCase(s.key, audioBase);
        try {
          const st = await send(port, c);
          statuses.set(st, (statuses.get(st) ?? 0) + 1);
          if (st >= 500) bad.push(`#${n} ${st}: ${c.method} ${c.path.slice(0, 200)} ${JSON.stringify(c.headers).slice(0, 300)} body=${c.body.subarray(0, 120).toString('latin1')}`);
        } catch (e) {
          bad.push(`#${n} ${(e as Error).message}: ${c.method} ${c.path.slice(0, 200)} ${JSON.stringify(c.headers).slice(0, 300)}`);
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    console.log(`# statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`);
    for (const b of bad.slice(0, 5)) console.log('# ' + b);
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} bad answers (seed ${SEED})`);
    const h = await fetch(`${s.url}/health`);
    assert.equal(h.status, 200);
    const ok = await fetch(`${s.url}/waves/v1/pulse/get_text?language=en`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.key}`, 'content-type': 'audio/wav' },
      body: new Uint8Array(toneWav(0.5)),
    });
    assert.equal(ok.status, 200);
  });
});
