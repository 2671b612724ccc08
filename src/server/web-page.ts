/**
 * The live-captions page at `/` and its few static assets under `/web/`.
 *
 * Served from memory (read once at registration, with ETags) rather than through @fastify/static:
 * four small files do not need a file-serving dependency, and an in-memory allow-list cannot be
 * tricked into serving anything else from disk. The page holds no secrets: the user types the API
 * key, which stays in sessionStorage and is sent as an Authorization header (batch) or as
 * `?token=` on the WebSocket URL only (browsers cannot set headers on a WebSocket handshake).
 * Register OUTSIDE the authenticated scope.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

const WEB_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Headers that keep the page's key safe: no framing, no referrer leaks, scripts only from here. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "media-src 'self' blob:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'permissions-policy': 'microphone=(self)',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

export interface WebPageOptions {
  /** Directory of the assets (default: src/server/web beside this file). */
  dir?: string;
}

export function loadAssets(dir = WEB_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of fs.readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(dir, name));
    assets.set(name, { body, type, etag: `"${crypto.createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  if (!assets.has('index.html')) throw new Error(`live page: ${dir}/index.html is missing`);
  return assets;
}

export const webPage: FastifyPluginAsync<WebPageOptions> = async (app, opts) => {
  const assets = loadAssets(opts.dir);

  const serve = (name: string) => async (req: { headers: Record<string, string | string[] | undefined> }, reply: import('fastify').FastifyReply) => {
    const a = assets.get(name)!;
    reply.headers(SECURITY_HEADERS).header('cache-control', 'no-cache').header('etag', a.etag);
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.type(a.type).send(a.body);
  };

  app.get('/', serve('index.html'));
  for (const name of assets.keys()) {
    if (name !== 'index.html') app.get(`/web/${name}`, serve(name));
  }
};

export default webPage;
