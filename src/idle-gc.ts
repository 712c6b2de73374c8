/**
 * Full garbage collections when a worker process falls quiet after a burst of work.
 *
 * V8 collects as the program allocates. A worker that stops after a burst (a campaign accepted,
 * its destination paused) keeps the burst's garbage until V8's memory reducer gets to it, which
 * took from 25 s to several minutes in `npm run bench -- --queued 100000`: ~50 MB of heap per
 * worker, plus the message Buffers that only this garbage still references (their memory is
 * outside the heap and is freed only when the heap is collected). Collecting at the change from
 * busy to quiet gives it back within seconds: two full collections a second apart (V8's memory
 * reducer makes up to three), as one was not enough — the first frees the garbage and usually
 * shrinks the young generation, the second compacts the old generation's half-empty pages and
 * gets the Buffers the first left to its background sweeper (a worker measured 166 → 133 → 120
 * MB). A worker that keeps working, even slowly, is never "quiet" and is left to V8.
 *
 * Needs node's `--expose-gc` (cluster.ts starts workers with it); without it this does nothing.
 */
import { performance } from 'node:perf_hooks';

export interface IdleGcOptions {
  /** how often the event loop's utilization is looked at */
  intervalMs: number;
  /** an interval this busy (share of the time the loop was running JavaScript) counts as work */
  busy: number;
  /** and one below this as quiet (an idle worker: BullMQ's and the throttle's polling only) */
  quiet: number;
  /**
   * quiet intervals in a row before collecting. Longer than the body cache keeps an unread body
   * (store/messages.ts), so the bodies it dropped are garbage by then too.
   */
  quietIntervals: number;
}

export const IDLE_GC_DEFAULTS: IdleGcOptions = { intervalMs: 5000, busy: 0.05, quiet: 0.01, quietIntervals: 2 };

/** Decides, one interval's loop utilization at a time, when to collect: once per busy → quiet. */
export class IdleGcTrigger {
  private worked = false;
  private quietFor = 0;

  constructor(private readonly options: IdleGcOptions = IDLE_GC_DEFAULTS) {}

  /** true: collect now */
  observe(utilization: number): boolean {
    if (utilization >= this.options.quiet) {
      this.quietFor = 0;
      if (utilization >= this.options.busy) this.worked = true;
      return false;
    }
    if (!this.worked || ++this.quietFor < this.options.quietIntervals) return false;
    this.worked = false;
    this.quietFor = 0;
    return true;
  }
}

/** The event loop's utilization since the last call (performance.eventLoopUtilization). */
export function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    return utilization;
  };
}

/** Starts watching this process; returns the function that stops it. */
export function collectWhenIdle(
  options: IdleGcOptions = IDLE_GC_DEFAULTS,
  gc: NodeJS.GCFunction | undefined = globalThis.gc,
  sample: () => number = loopUtilization(),
): () => void {
  if (typeof gc !== 'function') return () => undefined;
  const trigger = new IdleGcTrigger(options);
  // Each runs from a task, not from within the timer's callback: tens of ms, while idle.
  const collect = () => gc({ type: 'major', execution: 'async' });
  const aSecond = () => new Promise<void>((resolve) => setTimeout(resolve, 1000).unref());
  const timer = setInterval(() => {
    if (trigger.observe(sample())) collect().then(aSecond).then(collect).catch(() => undefined);
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
