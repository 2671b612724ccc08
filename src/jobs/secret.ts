/**
 * The per-deployment webhook signing secret: COCHLEA_WEBHOOK_SECRET, else the secret file
 * (generated on first start, 0600 in a 0700 directory, like the API key). With Redis and no
 * configured secret, replicas share one: the first to start stores its secret with SET NX.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';

export const REDIS_SECRET_KEY = 'cochlea:webhook-secret';

export function generateSecret(): string {
  return 'whsec_' + crypto.randomBytes(32).toString('base64url');
}

/** Read the secret file, or create it with a new secret. */
export function fileSecret(file: string): { secret: string; generated: boolean } {
  try {
    const s = fs.readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
    if (s) return { secret: s, generated: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const secret = generateSecret();
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    try {
      fs.writeSync(fd, `# Cochlea webhook signing secret (HMAC-SHA256). Generated ${new Date().toISOString()}\n${secret}\n`);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    // Another process created it first: use theirs.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return fileSecret(file);
    throw e;
  }
  return { secret, generated: true };
}

/** Redis mode without a configured secret: one shared secret for every replica. */
export async function sharedSecret(redis: Redis, file: string): Promise<string> {
  const local = fileSecret(file).secret;
  await redis.set(REDIS_SECRET_KEY, local, 'NX');
  const shared = (await redis.get(REDIS_SECRET_KEY)) ?? local;
  if (shared !== local) fs.writeFileSync(file, `# Cochlea webhook signing secret (HMAC-SHA256), shared through Redis\n${shared}\n`, { mode: 0o600 });
  return shared;
}
