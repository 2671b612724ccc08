/**
 * A local front for the real server, for the retry tests only: it can refuse requests (503/429),
 * forward them to the real server, or cut a WebSocket after some bytes, and it counts attempts.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export type HttpAction = { refuse: number; body?: unknown; retryAfter?: string; readBody?: boolean } | 'forward';
export type UpgradeAction = { refuse: number; body?: unknown } | { forward: true; cutAfterClientBytes?: number };

export interface FakeFront {
  url: string;
  requests: { method: string; url: string; bodyBytes: number; auth?: string }[];
  upgrades: { url: string; clientBytes: number }[];
  close(): Promise<void>;
}

export async function startFakeFront(
  target: string,
  plan: { http?: (n: number) => HttpAction; upgrade?: (n: number) => UpgradeAction },
): Promise<FakeFront> {
  const t = new URL(target);
  const requests: FakeFront['requests'] = [];
  const upgrades: FakeFront['upgrades'] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer(async (req, res) => {
    const n = requests.length;
    const action = plan.http?.(n) ?? 'forward';
    const chunks: Buffer[] = [];
    const readAll = async () => {
      for await (const c of req) chunks.push(c as Buffer);
    };
    if (action === 'forward' || action.readBody !== false) await readAll();
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method!, url: req.url!, bodyBytes: body.length, auth: req.headers.authorization });
    if (action !== 'forward') {
      const headers: Record<string, string> = { 'content-type': 'application/json', connection: 'close' };
      if (action.retryAfter !== undefined) headers['retry-after'] = action.retryAfter;
      res.writeHead(action.refuse, headers).end(JSON.stringify(action.body ?? { status: 'error', message: `refused with ${action.refuse}`, errors: [] }));
      return;
    }
    const headers: Record<string, string> = {};
    const hop = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !hop.has(k)) headers[k] = v;
    try {
      const up = await fetch(new URL(req.url!, target), { method: req.method, headers, body: req.method === 'GET' ? undefined : body });
      const text = Buffer.from(await up.arrayBuffer());
      res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(text);
    } catch (err) {
      res.writeHead(502).end(String(err));
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket, head) => {
    const n = upgrades.length;
    const rec = { url: req.url!, clientBytes: 0 };
    upgrades.push(rec);
    const action = plan.upgrade?.(n) ?? { forward: true };
    if ('refuse' in action) {
      const body = JSON.stringify(action.body ?? { status: 'error', message: `refused with ${action.refuse}`, errors: [] });
      socket.end(
        `HTTP/1.1 ${action.refuse} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    const upstream = net.connect(Number(t.port), t.hostname, () => {
      let headText = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) headText += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      upstream.write(headText + '\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.on('data', (d: Buffer) => {
        rec.clientBytes += d.length;
        upstream.write(d);
        if (action.cutAfterClientBytes !== undefined && rec.clientBytes >= action.cutAfterClientBytes) {
          socket.destroy();
          upstream.destroy();
        }
      });
    });
    sockets.add(upstream);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    upgrades,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
