/**
 * Slow and greedy clients cannot hold the server: Node's HTTP server (as Fastify configures it)
 * never closes a connection that sends nothing, and has no notion of an upload rate. This guard,
 * on the raw `http.Server`:
 *  - closes a connection that has not completed a request's headers (or a WebSocket upgrade)
 *    within `headersTimeoutMs` of connecting;
 *  - closes a connection whose request body stalls for `bodyIdleMs`, or whose upload averages
 *    below `minBytesPerSecond` once `graceMs` have passed (a body trickled at one byte every 20 s
 *    used to hold a connection for the whole decode timeout);
 *  - refuses more than `maxPerAddress` concurrent connections from one client address, so one
 *    client cannot take every file descriptor.
 * Time spent waiting for the response (transcription) is not limited here: the body is complete
 * by then, and the per-job deadline applies.
 */
import type http from 'node:http';
import type net from 'node:net';

export interface ConnectionGuardOptions {
  headersTimeoutMs: number;
  bodyIdleMs: number;
  minBytesPerSecond: number;
  graceMs: number;
  maxPerAddress: number;
  /** How often uploads are checked (ms). */
  checkEveryMs?: number;
  onRefused?: (reason: string, address: string | undefined) => void;
}

interface Upload {
  socket: net.Socket;
  req: http.IncomingMessage;
  startedAt: number;
  startBytes: number;
  lastBytes: number;
  lastProgressAt: number;
}

export function guardConnections(server: http.Server, o: ConnectionGuardOptions): { close(): void; connections(address: string): number } {
  const perAddress = new Map<string, number>();
  const uploads = new Set<Upload>();
  const refuse = (socket: net.Socket, reason: string) => {
    o.onRefused?.(reason, socket.remoteAddress);
    socket.destroy();
  };

  server.on('connection', (socket: net.Socket) => {
    const addr = socket.remoteAddress ?? '';
    const n = (perAddress.get(addr) ?? 0) + 1;
    perAddress.set(addr, n);
    socket.once('close', () => {
      const left = (perAddress.get(addr) ?? 1) - 1;
      if (left <= 0) perAddress.delete(addr);
      else perAddress.set(addr, left);
    });
    if (n > o.maxPerAddress) return refuse(socket, `more than ${o.maxPerAddress} connections from one address`);
    const t = setTimeout(() => refuse(socket, 'no request headers in time'), o.headersTimeoutMs);
    t.unref();
    (socket as net.Socket & { cochleaHeaderTimer?: NodeJS.Timeout }).cochleaHeaderTimer = t;
    socket.once('close', () => clearTimeout(t));
  });

  const headersDone = (socket: net.Socket) => {
    const s = socket as net.Socket & { cochleaHeaderTimer?: NodeJS.Timeout };
    if (s.cochleaHeaderTimer) clearTimeout(s.cochleaHeaderTimer);
    s.cochleaHeaderTimer = undefined;
  };
  server.on('upgrade', (req: http.IncomingMessage) => headersDone(req.socket));
  server.on('request', (req: http.IncomingMessage) => {
    headersDone(req.socket);
    if (req.complete) return;
    const now = Date.now();
    const u: Upload = { socket: req.socket, req, startedAt: now, startBytes: req.socket.bytesRead, lastBytes: req.socket.bytesRead, lastProgressAt: now };
    uploads.add(u);
    const done = () => uploads.delete(u);
    req.once('end', done);
    req.once('close', done);
  });

  const timer = setInterval(() => {
    const now = Date.now();
    for (const u of uploads) {
      if (u.req.complete || u.socket.destroyed) {
        uploads.delete(u);
        continue;
      }
      const bytes = u.socket.bytesRead;
      if (bytes !== u.lastBytes) {
        u.lastBytes = bytes;
        u.lastProgressAt = now;
      }
      const elapsed = now - u.startedAt;
      if (now - u.lastProgressAt > o.bodyIdleMs) {
        uploads.delete(u);
        refuse(u.socket, `request body stalled for ${o.bodyIdleMs} ms`);
      } else if (elapsed > o.graceMs && ((bytes - u.startBytes) * 1000) / elapsed < o.minBytesPerSecond) {
        uploads.delete(u);
        refuse(u.socket, `request body slower than ${o.minBytesPerSecond} bytes/s`);
      }
    }
  }, o.checkEveryMs ?? 1000);
  timer.unref();
  server.once('close', () => clearInterval(timer));
  return { close: () => clearInterval(timer), connections: (a) => perAddress.get(a) ?? 0 };
}
