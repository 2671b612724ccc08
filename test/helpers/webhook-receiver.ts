/** A webhook receiver on loopback: records every delivery; `respond` picks each answer's status. */
import http from 'node:http';
import type net from 'node:net';

export interface Delivery {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Resolves when `pred` holds over the deliveries (checked on each delivery), or rejects after timeoutMs. */
  waitFor(pred: (d: Delivery[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(respond: (d: Delivery, n: number) => number = () => 200): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const waiters: { pred: (d: Delivery[]) => boolean; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const d: Delivery = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      deliveries.push(d);
      res.statusCode = respond(d, deliveries.length);
      res.end('ok');
      for (const w of [...waiters]) {
        if (w.pred(deliveries)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    waitFor(pred, timeoutMs = 30_000) {
      if (pred(deliveries)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const w = { pred, resolve: () => (clearTimeout(t), resolve()) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out after ${timeoutMs} ms with ${deliveries.length} deliveries`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** Tone bursts: the scripted engine makes one word of each. */
export function burstsPcm(n: number, burstSeconds = 0.2, gapSeconds = 0.3, sr = 16000): Float32Array {
  const total = Math.round((gapSeconds + n * (burstSeconds + gapSeconds)) * sr);
  const pcm = new Float32Array(total);
  for (let b = 0; b < n; b++) {
    const start = Math.round((gapSeconds + b * (burstSeconds + gapSeconds)) * sr);
    for (let i = 0; i < burstSeconds * sr; i++) pcm[start + i] = 0.3 * Math.sin((2 * Math.PI * 440 * i) / sr);
  }
  return pcm;
}
