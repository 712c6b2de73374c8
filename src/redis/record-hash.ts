/**
 * A small set of records kept as JSON in one Redis hash (id → record): what webhook endpoints and
 * inbound routes are stored as. Listing is oldest first; a change re-reads the record under WATCH
 * on a connection of its own (WATCH belongs to a connection, and this process's other commands
 * must not run inside it), so a concurrent change is not overwritten nor a concurrent delete
 * resurrected.
 */
import type { Redis } from 'ioredis';

export interface StoredRecord {
  id: string;
  /** ISO time */
  createdAt: string;
}

export class RecordHash<T extends StoredRecord> {
  constructor(private readonly redis: Redis, private readonly key: string) {}

  count(): Promise<number> {
    return this.redis.hlen(this.key);
  }

  async put(record: T): Promise<void> {
    await this.redis.hset(this.key, record.id, JSON.stringify(record));
  }

  async get(id: string): Promise<T | null> {
    const json = await this.redis.hget(this.key, id);
    return json ? (JSON.parse(json) as T) : null;
  }

  async list(): Promise<T[]> {
    const all = Object.values(await this.redis.hgetall(this.key)).map((j) => JSON.parse(j) as T);
    return all.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** The record as `change` makes it from the current one; null when there is no such record. */
  async update(id: string, change: (current: T) => T): Promise<T | null> {
    const conn = this.redis.duplicate({ enableAutoPipelining: false });
    try {
      for (;;) {
        await conn.watch(this.key);
        const json = await conn.hget(this.key, id);
        if (!json) return null;
        const next = change(JSON.parse(json) as T);
        if (await conn.multi().hset(this.key, id, JSON.stringify(next)).exec()) return next;
      }
    } finally {
      conn.disconnect();
    }
  }

  /** Deletes the record and the keys that belong to it (its log, …); true when it existed. */
  async remove(id: string, belonging: string[] = []): Promise<boolean> {
    const multi = this.redis.multi().hdel(this.key, id);
    if (belonging.length > 0) multi.del(...belonging);
    const [[, removed] = []] = (await multi.exec()) ?? [];
    return removed === 1;
  }
}
