/**
 * Bounding a wait: the one helper for every "give up after N seconds" (Redis writes at intake,
 * DNS lookups, shutdown grace periods).
 */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
  readonly code = 'ETIMEOUT';
}

/** `work`, or a DeadlineError with `message` once `ms` have passed (the work itself goes on). */
export function withDeadline<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DeadlineError(message)), ms)));
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Waits for `work` at most `ms`; calls `onTimeout` if the time ran out first. Never rejects on a timeout. */
export async function waitAtMost(work: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  try {
    await withDeadline(work, ms, 'deadline');
  } catch (err) {
    if (!(err instanceof DeadlineError)) throw err;
    onTimeout();
  }
}
