/**
 * Recently accepted message bodies, kept in this process so the delivery worker next to the
 * listener does not read them back from Redis (a 100 KB GET per recipient was a large share of
 * relay CPU). Bodies never change once stored, so a hit is always right; a miss reads Redis.
 * Bounded by bytes; oldest first out.
 */
export class BodyCache {
  private readonly entries = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  set(id: string, body: Buffer): void {
    if (body.length > this.maxBytes / 4) return; // one huge message must not flush everything
    this.delete(id);
    this.entries.set(id, body);
    this.bytes += body.length;
    for (const [oldest, buf] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= buf.length;
    }
  }

  get(id: string): Buffer | undefined {
    return this.entries.get(id);
  }

  delete(id: string): void {
    const buf = this.entries.get(id);
    if (!buf) return;
    this.entries.delete(id);
    this.bytes -= buf.length;
  }

  get size(): number {
    return this.bytes;
  }
}
