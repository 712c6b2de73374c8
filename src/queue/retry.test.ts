import { describe, expect, it } from 'vitest';
import { nextRetry } from './retry.js';

const policy = { firstDelaySeconds: 60, maxDelaySeconds: 3600, maxAgeSeconds: 432_000 };
const mid = () => 0.5; // no jitter

describe('retry schedule', () => {
  it('doubles from the first delay and caps at the maximum', () => {
    const delays = [1, 2, 3, 4, 7, 8, 20].map((n) => nextRetry(policy, n, 0, 1000, mid));
    expect(delays.map((d) => (d.kind === 'retry' ? d.delayMs / 1000 : null))).toEqual([60, 120, 240, 480, 3600, 3600, 3600]);
  });

  it('jitters by at most 10%', () => {
    const low = nextRetry(policy, 1, 0, 0, () => 0);
    const high = nextRetry(policy, 1, 0, 0, () => 0.9999);
    expect(low).toEqual({ kind: 'retry', delayMs: 54_000 });
    expect(high.kind === 'retry' && high.delayMs).toBeLessThanOrEqual(66_000);
  });

  it('never schedules past maxAge, and expires at it', () => {
    const created = 0;
    const almost = policy.maxAgeSeconds * 1000 - 5000;
    expect(nextRetry(policy, 30, created, almost, mid)).toEqual({ kind: 'retry', delayMs: 5000 });
    expect(nextRetry(policy, 31, created, policy.maxAgeSeconds * 1000, mid)).toEqual({ kind: 'expire' });
  });
});
