import { afterEach, describe, expect, it, vi } from 'vitest';
import { collectWhenIdle, IdleGcTrigger } from './idle-gc.js';

const options = { intervalMs: 5000, busy: 0.05, quiet: 0.01, quietIntervals: 2 };

describe('idle GC trigger', () => {
  it('collects once after work, when the loop has been quiet for the given intervals', () => {
    const trigger = new IdleGcTrigger(options);
    expect([0.6, 0.8, 0.3].map((u) => trigger.observe(u))).toEqual([false, false, false]);
    expect(trigger.observe(0.002)).toBe(false); // quiet for one interval: not yet
    expect(trigger.observe(0.003)).toBe(true); // two: collect
    expect([0.002, 0.001, 0.004, 0.002].map((u) => trigger.observe(u))).toEqual([false, false, false, false]); // once per burst
  });

  it('never collects in a process that has not worked, nor while work trickles on', () => {
    const idle = new IdleGcTrigger(options);
    expect(Array.from({ length: 10 }, () => idle.observe(0.002))).not.toContain(true);

    const trickle = new IdleGcTrigger(options);
    trickle.observe(0.5);
    // a little work in between (above `quiet`) starts the quiet count again
    expect([0.002, 0.02, 0.002, 0.03, 0.002].map((u) => trickle.observe(u))).not.toContain(true);
    expect(trickle.observe(0.002)).toBe(true);
  });
});

describe('collectWhenIdle', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('does nothing without --expose-gc', () => {
    vi.useFakeTimers();
    const stop = collectWhenIdle(options, undefined);
    expect(vi.getTimerCount()).toBe(0);
    stop();
  });

  it('samples the event loop on an unref\'d timer and collects twice when it falls quiet after work', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout'] });
    const gc = vi.fn(() => Promise.resolve()) as unknown as NodeJS.GCFunction;
    const samples = [0.7, 0.9, 0.004, 0.003, 0.002, 0.002];
    const stop = collectWhenIdle(options, gc, () => samples.shift() ?? 0.001);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(gc).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(5_000); // the second quiet interval
    expect(gc).toHaveBeenCalledTimes(1);
    expect(gc).toHaveBeenCalledWith({ type: 'major', execution: 'async' });
    await vi.advanceTimersByTimeAsync(1_000); // and once more a second later
    expect(gc).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(gc).toHaveBeenCalledTimes(2);
    stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
