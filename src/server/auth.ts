/**
 * API-key auth: `Authorization: Bearer <key>` or `?token=<key>` (browsers cannot set headers on a
 * WebSocket handshake). Keys are compared as SHA-256 digests in constant time.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { unauthorized, type ApiError } from './errors.ts';

export function generateApiKey(): string {
  return 'sk_' + crypto.randomBytes(24).toString('base64url');
}

function digest(key: string): Buffer {
  return crypto.createHash('sha256').update(key, 'utf8').digest();
}

export class KeyRing {
  private readonly digests: Buffer[];
  constructor(keys: string[]) {
    this.digests = keys.map(digest);
  }
  get size(): number {
    return this.digests.length;
  }
  has(key: string): boolean {
    const d = digest(key);
    let ok = false;
    // Compare against every key so timing does not reveal which one matched.
    for (const k of this.digests) ok = crypto.timingSafeEqual(k, d) || ok;
    return ok;
  }
}

export function readKeysFile(file: string): string[] {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export interface ResolvedKeys {
  keys: string[];
  /** Set when this start generated a key (it is shown to the operator once). */
  generated?: string;
}

/**
 * Keys from config and the keys file; with none at all, generate one and store it (0600, in a 0700
 * directory) so the next start uses it without printing it again.
 */
export function resolveKeys(configured: string[], keysFile: string): ResolvedKeys {
  const fromFile = readKeysFile(keysFile);
  const keys = [...new Set([...configured, ...fromFile])];
  if (keys.length > 0) return { keys };
  const key = generateApiKey();
  fs.mkdirSync(path.dirname(keysFile), { recursive: true, mode: 0o700 });
  const fd = fs.openSync(keysFile, 'wx', 0o600);
  try {
    fs.writeSync(fd, `# Cochlea API keys, one per line. Generated ${new Date().toISOString()}\n${key}\n`);
  } finally {
    fs.closeSync(fd);
  }
  return { keys: [key], generated: key };
}

/** The key a request carries, from the Authorization header or the `token` query parameter. */
export function extractKey(headers: Record<string, string | string[] | undefined>, query: unknown): string | undefined {
  const h = headers.authorization;
  const auth = Array.isArray(h) ? h[0] : h;
  if (auth) {
    const m = /^\s*(?:Bearer|Token)\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : auth.trim();
  }
  const t = (query as Record<string, unknown> | undefined)?.token;
  if (typeof t === 'string' && t) return t;
  return undefined;
}

/** Returns the error to send, or undefined when the request is authorized. */
export function checkAuth(ring: KeyRing | undefined, headers: Record<string, string | string[] | undefined>, query: unknown): ApiError | undefined {
  if (!ring) return undefined;
  const key = extractKey(headers, query);
  if (!key) return unauthorized('missing');
  return ring.has(key) ? undefined : unauthorized('invalid');
}
