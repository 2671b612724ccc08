/**
 * Fetch audio from a user-supplied URL without turning the server into an SSRF proxy.
 *
 * - http/https only; redirects followed by hand (each hop re-checked), at most `maxRedirects`.
 * - Every address the name resolves to is checked *at connect time* (custom `lookup` on the
 *   undici Agent), so DNS rebinding between check and connect cannot reach a private address.
 *   IP-literal hosts are checked before connecting (net.connect skips `lookup` for them).
 * - Private, loopback, link-local, CGNAT, multicast and reserved ranges are refused unless the
 *   host, or a CIDR containing the address, is in the allow-list.
 * - Size and time limits; the body is streamed, never buffered past the limit.
 */
import dns from 'node:dns';
import net from 'node:net';
import path from 'node:path';
import { PassThrough, Readable, Transform } from 'node:stream';
import ipaddr from 'ipaddr.js';
import { Agent, request } from 'undici';
import { badRequest, payloadTooLarge } from './errors.ts';

export interface UrlFetchOptions {
  allow: string[];
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
}

export interface FetchedAudio {
  body: Readable;
  filename?: string;
  contentType?: string;
  contentLength?: number;
}

type Matcher = (host: string, ip?: string) => boolean;

function allowMatcher(allow: string[]): Matcher {
  const hosts = new Set<string>();
  const cidrs: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const a of allow) {
    if (a.includes('/')) cidrs.push(ipaddr.parseCIDR(a));
    else if (ipaddr.isValid(a)) cidrs.push([ipaddr.process(a), ipaddr.process(a).kind() === 'ipv4' ? 32 : 128]);
    else hosts.add(a.toLowerCase());
  }
  return (host, ip) => {
    if (hosts.has(host.toLowerCase())) return true;
    if (!ip) return false;
    const parsed = ipaddr.parse(ip);
    const candidates = [parsed];
    if (parsed.kind() === 'ipv6') {
      const inner = embeddedIPv4(parsed as ipaddr.IPv6);
      if (inner) candidates.push(inner);
    }
    return candidates.some((addr) => cidrs.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits)));
  };
}

/**
 * The IPv4 address an IPv6 address carries, for every form that embeds one: IPv4-compatible
 * (::a.b.c.d, ::/96, deprecated but still routed to the IPv4 host by some stacks), IPv4-mapped
 * (::ffff:0:0/96), NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48, RFC 6052/8215), 6to4
 * (2002::/16, RFC 3056) and Teredo (2001::/32, RFC 4380: the client address is the last 32 bits
 * inverted). Such an address is judged by the IPv4 address it reaches.
 */
export function embeddedIPv4(addr: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const w = addr.parts; // eight 16-bit words
  const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && (w[5] === 0xffff || (w[5] === 0 && (w[6] !== 0 || w[7] > 1)))) return v4(w[6], w[7]);
  if (w[0] === 0x64 && w[1] === 0xff9b && (zero(2, 6) || w[2] === 1)) return v4(w[6], w[7]);
  if (w[0] === 0x2002) return v4(w[1], w[2]);
  if (w[0] === 0x2001 && w[1] === 0) return v4(w[6] ^ 0xffff, w[7] ^ 0xffff);
  return undefined;
}

/** Only globally routable unicast addresses may be fetched (embedded IPv4 judged as itself). */
export function isPublic(ip: string): boolean {
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6') {
    const inner = embeddedIPv4(addr as ipaddr.IPv6);
    if (inner) return inner.range() === 'unicast';
  }
  return addr.range() === 'unicast';
}

export class UrlFetcher {
  private readonly allowed: Matcher;
  private readonly agent: Agent;
  constructor(private readonly opts: UrlFetchOptions) {
    this.allowed = allowMatcher(opts.allow);
    const allowed = this.allowed;
    this.agent = new Agent({
      connect: {
        lookup(hostname, options, callback) {
          dns.lookup(hostname, { all: true, family: (options as dns.LookupOptions).family ?? 0 }, (err, addresses) => {
            if (err) return callback(err, '', 0);
            const ok = addresses.filter((a) => isPublic(a.address) || allowed(hostname, a.address));
            if (ok.length === 0) {
              const e = new Error(`refusing to connect to non-public address for ${hostname}`) as NodeJS.ErrnoException;
              e.code = 'ECOCHLEA_FORBIDDEN_ADDRESS';
              return callback(e, '', 0);
            }
            if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, ok);
            callback(null, ok[0].address, ok[0].family);
          });
        },
      },
    });
  }

  private checkUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw badRequest('Invalid audio URL', [{ field: 'url', message: 'not a valid URL' }]);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw badRequest('Audio URL must use http or https', [{ field: 'url', message: 'unsupported scheme' }]);
    }
    if (url.username || url.password) {
      throw badRequest('Audio URL must not contain credentials', [{ field: 'url', message: 'credentials in URL' }]);
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (net.isIP(host) && !isPublic(host) && !this.allowed(host, host)) {
      throw badRequest('Audio URL points to a private or local address, which this server does not fetch', [
        { field: 'url', message: 'forbidden address' },
      ]);
    }
    return url;
  }

  async fetch(raw: string, signal?: AbortSignal): Promise<FetchedAudio> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const sig = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let url = this.checkUrl(raw);
    for (let hop = 0; ; hop++) {
      let res;
      try {
        res = await request(url, { method: 'GET', dispatcher: this.agent, signal: sig, headers: { 'user-agent': 'cochlea/0.1', accept: 'audio/*, */*' } });
      } catch (e) {
        throw this.networkError(e, timeout);
      }
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
        discard(res.body);
        if (hop >= this.opts.maxRedirects) throw badRequest('Too many redirects fetching the audio URL', [{ field: 'url', message: 'too many redirects' }]);
        url = this.checkUrl(new URL(String(res.headers.location), url).toString());
        continue;
      }
      if (res.statusCode < 200 || res.statusCode >= 300) {
        discard(res.body);
        throw badRequest(`Could not fetch audio URL: remote server answered ${res.statusCode}`, [{ field: 'url', message: `HTTP ${res.statusCode}` }]);
      }
      const len = Number(res.headers['content-length']);
      if (Number.isFinite(len) && len > this.opts.maxBytes) {
        discard(res.body);
        throw payloadTooLarge(this.opts.maxBytes);
      }
      const body = res.body as unknown as Readable;
      // Surface a timeout or cut connection during the body read as the same clear 400.
      const guarded = new PassThrough();
      body.on('error', (e) => guarded.destroy(this.networkError(e, timeout)));
      body.pipe(guarded);
      const ct = res.headers['content-type'];
      // harden(item 13): a malformed percent-encoding in the path is kept as sent (was a URIError → 500).
      const base = path.posix.basename(((p: string) => { try { return decodeURIComponent(p); } catch { return p; } })(url.pathname));
      return {
        body: guarded,
        filename: base || undefined,
        contentType: Array.isArray(ct) ? ct[0] : ct,
        contentLength: Number.isFinite(len) ? len : undefined,
      };
    }
  }

  /** Validate a URL (scheme, credentials, literal private IPs) without fetching it. */
  validate(raw: string): void {
    this.checkUrl(raw);
  }

  /**
   * Send a webhook request through the same guarded agent (connect-time address check, allow-list)
   * as audio fetches; redirects are not followed. Returns the status code; network errors throw.
   */
  async send(raw: string, req: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string; timeoutMs?: number }): Promise<number> {
    const url = this.checkUrl(raw);
    const res = await request(url, {
      method: req.method,
      dispatcher: this.agent,
      body: req.body,
      headers: { 'user-agent': 'cochlea/0.1', ...req.headers },
      signal: AbortSignal.timeout(req.timeoutMs ?? this.opts.timeoutMs),
    });
    await res.body.dump();
    return res.statusCode;
  }

  private networkError(e: unknown, timeout: AbortSignal) {
    const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    if ((err.code ?? err.cause?.code) === 'ECOCHLEA_FORBIDDEN_ADDRESS' || /non-public address/.test(String(err.message))) {
      return badRequest('Audio URL points to a private or local address, which this server does not fetch', [
        { field: 'url', message: 'forbidden address' },
      ]);
    }
    if (timeout.aborted) return badRequest('Timed out fetching the audio URL', [{ field: 'url', message: 'timeout' }]);
    return badRequest(`Could not fetch audio URL: ${err.code ?? err.cause?.code ?? err.message}`, [{ field: 'url', message: 'fetch failed' }]);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Throw away a response body we will not read (undici's destroy() emits an abort error). */
function discard(body: { on(e: 'error', f: () => void): unknown; destroy(): unknown }): void {
  body.on('error', () => {});
  body.destroy();
}

/**
 * Pass bytes through, counting them; fail with 413 past `maxBytes`. The consumer (the decoder)
 * sees the error; once it is done with the stream, late errors have no one left to tell.
 */
export function limitBytes(src: Readable, maxBytes: number): { stream: Readable; bytes: () => number } {
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > maxBytes) return cb(payloadTooLarge(maxBytes));
      cb(null, chunk);
    },
  });
  src.on('error', (e) => t.destroy(e));
  t.on('error', () => {});
  src.pipe(t);
  return { stream: t, bytes: () => n };
}
