/**
 * Opening a WebSocket in Node and in browsers, with a typed error when the handshake is refused.
 *
 * - Node: the `ws` package (loaded lazily, so browser bundles never need it) sends the key in the
 *   Authorization header and exposes the HTTP status and Pulse error body of a refused upgrade.
 * - Browsers (and Node's own global WebSocket): the key goes in `?token=` because a browser
 *   cannot set headers on a WebSocket handshake. A browser does not reveal why an upgrade failed,
 *   so on failure the SDK asks the same URL over plain HTTP (with the key in a header) to obtain
 *   Pulse's status and message; the server answers 426 when the upgrade itself would be fine.
 */
import { CochleaApiError, CochleaConnectionError } from './errors.ts';
import type { PulseErrorBody, WebSocketFactory, WebSocketLike } from './types.ts';
import { describeNetworkError, isNode } from './util.ts';

export const WS_OPEN = 1;

type WsCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface ResolvedSocketImpl {
  factory: WebSocketFactory;
  /** True when the factory can send headers (key in Authorization); else `?token=` is used. */
  headers: boolean;
}

let nodeWs: Promise<ResolvedSocketImpl | undefined> | undefined;

async function loadNodeWs(): Promise<ResolvedSocketImpl | undefined> {
  try {
    const name = 'ws';
    const mod = (await import(/* @vite-ignore */ /* webpackIgnore: true */ name)) as { default?: unknown; WebSocket?: unknown };
    const WS = (mod.default ?? mod.WebSocket) as new (url: string, opts: Record<string, unknown>) => WebSocketLike;
    return {
      headers: true,
      factory: (url, headers) => new WS(url, { headers, perMessageDeflate: false }),
    };
  } catch {
    return undefined;
  }
}

export async function resolveSocketImpl(custom?: WebSocketFactory | WsCtor): Promise<ResolvedSocketImpl> {
  if (custom) {
    // A class (has a prototype with `send`) is used like the browser's; a plain function is a factory taking headers.
    const isClass = typeof custom === 'function' && typeof (custom as { prototype?: { send?: unknown } }).prototype?.send === 'function';
    return isClass
      ? { headers: false, factory: (url) => new (custom as WsCtor)(url) }
      : { headers: true, factory: custom as WebSocketFactory };
  }
  if (isNode) {
    nodeWs ??= loadNodeWs();
    const ws = await nodeWs;
    if (ws) return ws;
  }
  const G = (globalThis as { WebSocket?: WsCtor }).WebSocket;
  if (!G) throw new CochleaConnectionError('no WebSocket implementation: install the "ws" package (Node < 22)', { audioSent: false });
  return { headers: false, factory: (url) => new G(url) };
}

/**
 * Open a socket; resolve once it is open. Rejects with CochleaApiError (refused upgrade: 400, 401,
 * 429, 503...) or CochleaConnectionError. No audio has been sent when this rejects.
 */
export function openSocket(
  impl: ResolvedSocketImpl,
  wsUrl: URL,
  apiKey: string | undefined,
  signal: AbortSignal,
  fetchImpl: typeof fetch | undefined,
): Promise<WebSocketLike> {
  const url = new URL(wsUrl);
  const headers: Record<string, string> = {};
  if (apiKey) {
    if (impl.headers) headers.authorization = `Bearer ${apiKey}`;
    else url.searchParams.set('token', apiKey);
  }
  return new Promise<WebSocketLike>((resolve, reject) => {
    let settled = false;
    let sock: WebSocketLike;
    try {
      sock = impl.factory(url.toString(), headers);
    } catch (err) {
      reject(new CochleaConnectionError(`cannot open ${wsUrl.origin}: ${describeNetworkError(err)}`, { cause: err, audioSent: false }));
      return;
    }
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err) {
        // Keep no-op handlers: `ws` emits a late 'error' when a connecting socket is terminated.
        sock.onopen = sock.onclose = sock.onerror = sock.onmessage = () => {};
        try {
          const t = (sock as { terminate?: () => void }).terminate;
          if (t) t.call(sock);
          else sock.close();
        } catch {
          /* already gone */
        }
        reject(err);
      } else resolve(sock);
    };
    const onAbort = () => done(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });

    // `ws` only: the refused upgrade's status and body.
    const on = (sock as { on?: (ev: string, cb: (...a: any[]) => void) => void }).on;
    if (typeof on === 'function') {
      on.call(sock, 'unexpected-response', (req: { destroy(): void }, res: any) => {
        let text = '';
        res.setEncoding?.('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let body: PulseErrorBody | string | undefined = text || undefined;
          try {
            body = JSON.parse(text);
          } catch {
            /* keep text */
          }
          const ra = res.headers?.['retry-after'];
          done(new CochleaApiError(res.statusCode, body, { retryAfterMs: ra ? Number(ra) * 1000 || undefined : undefined }));
          req.destroy();
        });
        res.on('error', () => done(new CochleaConnectionError('connection lost during the WebSocket handshake', { audioSent: false })));
      });
    }
    sock.binaryType = 'arraybuffer';
    let lastError: unknown;
    sock.onopen = () => done();
    sock.onerror = (ev) => {
      lastError = (ev as { error?: unknown })?.error ?? ev;
    };
    sock.onclose = (ev) => {
      if (settled) return;
      if (ev.code === 1008 || ev.code === 1013 || ev.code === 1001) {
        // Accepted, then refused (e.g. too many sessions, server shutting down): like a 503.
        done(new CochleaApiError(ev.code === 1008 ? 429 : 503, { status: 'error', message: ev.reason || `closed with ${ev.code}` }));
        return;
      }
      void diagnose(wsUrl, apiKey, fetchImpl, impl.headers, lastError, signal).then((e) => done(e));
    };
  });
}

/** Why did the handshake fail? Ask over HTTP when the socket API does not say. */
async function diagnose(
  wsUrl: URL,
  apiKey: string | undefined,
  fetchImpl: typeof fetch | undefined,
  hadHeaders: boolean,
  lastError: unknown,
  signal: AbortSignal,
): Promise<Error> {
  const f = fetchImpl ?? globalThis.fetch;
  const networkErr = new CochleaConnectionError(`cannot open a WebSocket to ${wsUrl.origin}${lastError instanceof Error ? ': ' + describeNetworkError(lastError) : ''}`, {
    cause: lastError,
    audioSent: false,
  });
  // `ws` already reported refused upgrades through 'unexpected-response'; a close here is a network failure.
  if (hadHeaders || !f) return networkErr;
  const http = new URL(wsUrl);
  http.protocol = wsUrl.protocol === 'wss:' ? 'https:' : 'http:';
  try {
    const res = await f(http, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal });
    if (res.status === 426 || res.ok) return networkErr;
    const text = await res.text();
    let body: PulseErrorBody | string = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* text */
    }
    return new CochleaApiError(res.status, body);
  } catch {
    return networkErr;
  }
}
