/** A small real-time client for tests: a real `ws` socket plus event collection helpers. */
import fs from 'node:fs';
import WebSocket from 'ws';

export interface LiveEvent {
  type: string;
  [k: string]: any;
}

export interface LiveClient {
  ws: WebSocket;
  events: LiveEvent[];
  closed: Promise<{ code: number; reason: string }>;
  /** Resolve with the first event (from `from` on) matching `pred`. */
  waitFor(pred: (e: LiveEvent) => boolean, timeoutMs?: number, from?: number): Promise<LiveEvent>;
  /** Send PCM bytes in chunks; `realtime` paces them at the audio's own rate. */
  sendAudio(bytes: Buffer, opts?: { chunkBytes?: number | (() => number); realtime?: boolean; bytesPerSecond?: number }): Promise<void>;
  finals(): LiveEvent[];
}

export function openLive(url: string, headers: Record<string, string> = {}): Promise<LiveClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const events: LiveEvent[] = [];
    const waiters: { pred: (e: LiveEvent) => boolean; from: number; resolve: (e: LiveEvent) => void }[] = [];
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const e = JSON.parse(data.toString()) as LiveEvent;
      events.push(e);
      for (const w of [...waiters]) {
        if (w.pred(e) && events.length - 1 >= w.from) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { statusCode: res.statusCode, body })));
    });
    ws.once('error', reject);
    ws.once('open', () => {
      ws.off('error', reject);
      ws.on('error', () => {});
      resolve({
        ws,
        events,
        closed,
        waitFor(pred, timeoutMs = 30_000, from = 0) {
          const found = events.slice(from).find(pred);
          if (found) return Promise.resolve(found);
          return new Promise((res, rej) => {
            const t = setTimeout(() => rej(new Error(`timed out waiting for event; got ${JSON.stringify(events.slice(-5))}`)), timeoutMs);
            waiters.push({ pred, from, resolve: (e) => (clearTimeout(t), res(e)) });
          });
        },
        async sendAudio(bytes, opts = {}) {
          const bps = opts.bytesPerSecond ?? 32000;
          const next = typeof opts.chunkBytes === 'function' ? opts.chunkBytes : () => (opts.chunkBytes as number | undefined) ?? 4096;
          const t0 = Date.now();
          for (let off = 0; off < bytes.length; ) {
            const n = Math.max(1, next());
            const chunk = bytes.subarray(off, off + n);
            off += chunk.length;
            if (ws.readyState !== WebSocket.OPEN) return;
            ws.send(chunk);
            if (opts.realtime) {
              const due = t0 + (off / bps) * 1000;
              const wait = due - Date.now();
              if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            } else if (off % (64 * 4096) < n) {
              await new Promise((r) => setImmediate(r));
            }
          }
        },
        finals: () => events.filter((e) => e.type === 'transcription' && e.is_final),
      });
    });
  });
}

/** The PCM payload of a WAV file (the shared sets are 16 kHz mono s16). */
export function wavPcmBytes(file: string): Buffer {
  const b = fs.readFileSync(file);
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'data') return b.subarray(off + 8, Math.min(b.length, off + 8 + size));
    off += 8 + size + (size & 1);
  }
  throw new Error(`no data chunk in ${file}`);
}
