/**
 * Where a queued job's audio waits for its worker. Files (embedded: beside the database; Redis mode:
 * COCHLEA_JOBS_DIR, a directory every replica mounts) are written and fsynced before the job is
 * acknowledged; in Redis mode without a shared directory the bytes live in Redis under a TTL.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';

export interface AudioStore {
  put(id: string, audio: Buffer): Promise<void>;
  get(id: string): Promise<Buffer | undefined>;
  delete(id: string): Promise<void>;
}

const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

export class FileAudioStore implements AudioStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  private file(id: string): string {
    if (!SAFE_ID.test(id)) throw new Error(`bad job id ${JSON.stringify(id)}`);
    return path.join(this.dir, `${id}.audio`);
  }
  async put(id: string, audio: Buffer): Promise<void> {
    const final = this.file(id);
    const tmp = `${final}.${process.pid}.tmp`;
    const fh = await fs.promises.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(audio);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, final);
  }
  async get(id: string): Promise<Buffer | undefined> {
    try {
      return await fs.promises.readFile(this.file(id));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  async delete(id: string): Promise<void> {
    await fs.promises.rm(this.file(id), { force: true });
  }
  /** Ids with audio on disk (for orphan clean-up). */
  ids(): string[] {
    return fs.readdirSync(this.dir).filter((f) => f.endsWith('.audio')).map((f) => f.slice(0, -'.audio'.length));
  }
}

export class RedisAudioStore implements AudioStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlSeconds: number,
  ) {}
  async put(id: string, audio: Buffer): Promise<void> {
    await this.redis.set(`cochlea:audio:${id}`, audio, 'EX', Math.max(60, Math.ceil(this.ttlSeconds)));
  }
  async get(id: string): Promise<Buffer | undefined> {
    return (await this.redis.getBuffer(`cochlea:audio:${id}`)) ?? undefined;
  }
  async delete(id: string): Promise<void> {
    await this.redis.del(`cochlea:audio:${id}`);
  }
}
