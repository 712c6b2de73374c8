/**
 * Recently accepted message bodies, kept in this process so the delivery worker next to the
 * listener does not read them back from Redis (a 100 KB GET per recipient was a large share of
 * relay CPU). Bodies never change once stored, so a hit is always right; a miss reads Redis.
 *
 * Bounded by bytes (oldest first out) and by age: a body is worth keeping only while its
 * delivery is about to start, soon after it was accepted. One not read within `maxAgeMs` waits
 * (for a paused or rate-limited site, a retry, a Send-At time) and is read from Redis when its
 * turn comes; without the age limit the cache stayed full for as long as mail waited (64 MB in
 * each process with 100,000 messages queued for a paused site). Expired bodies go when the next
 * one is cached, and a timer (armed only while the cache holds something, never keeping the
 * process alive) empties a cache nobody adds to.
 */
export class BodyCache {
  /** in the order they were cached, so the oldest come first */
  private readonly entries = new Map<string, { body: Buffer; at: number }>();
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly maxBytes: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  set(id: string, body: Buffer): void {
    if (body.length > this.maxBytes / 4) return; // one huge message must not flush everything
    this.delete(id);
    this.entries.set(id, { body, at: this.now() });
    this.bytes += body.length;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(oldest, entry.body);
    }
    this.expire();
    this.arm();
  }

  get(id: string): Buffer | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (this.now() - entry.at >= this.maxAgeMs) {
      this.drop(id, entry.body);
      return undefined;
    }
    return entry.body;
  }

  delete(id: string): void {
    const entry = this.entries.get(id);
    if (entry) this.drop(id, entry.body);
  }

  /** Drops every body older than the age limit. */
  expire(): void {
    const limit = this.now() - this.maxAgeMs;
    for (const [oldest, entry] of this.entries) {
      if (entry.at > limit) break;
      this.drop(oldest, entry.body);
    }
  }

  get size(): number {
    return this.bytes;
  }

  get count(): number {
    return this.entries.size;
  }

  private drop(id: string, body: Buffer): void {
    this.entries.delete(id);
    this.bytes -= body.length;
  }

  /** A timer for when the oldest body expires, so a cache nobody adds to still empties. */
  private arm(): void {
    if (this.timer || this.entries.size === 0) return;
    const oldest = this.entries.values().next().value!;
    const due = Math.max(oldest.at + this.maxAgeMs - this.now(), 0);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.expire();
      this.arm();
    }, Math.max(due, 1000)); // at most one wake-up a second: set() expires as it goes under load
    this.timer.unref();
  }
}
