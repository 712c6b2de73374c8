/**
 * Cancelling a message's recipients that have not been delivered yet (`POST
 * /api/v1/messages/:id/cancel`): each queued or deferred recipient becomes `cancelled` with an
 * event, through store.record — the same atomic step as a delivery outcome, so a recipient
 * that is being delivered right now ends as whichever came first, never both.
 *
 * Promises: only queued/deferred recipients change; their delivery jobs are removed when they
 * wait (a job running or locked is left: the worker skips final recipients); the answer lists
 * which recipients were cancelled and the status of the others.
 */
import type { MessageStore } from '../store/messages.js';
import { deliveryJobId, type DeliveryQueue } from '../queue/delivery-queue.js';
import type { RecipientStatus } from '../store/types.js';

export interface CancelOutcome {
  id: string;
  cancelled: string[];
  /** recipients that were final already (or became final meanwhile), with that status */
  unchanged: { address: string; status: RecipientStatus }[];
}

export async function cancelMessage(store: MessageStore, queue: DeliveryQueue, id: string, reason: string): Promise<CancelOutcome | null> {
  const message = await store.get(id);
  if (!message) return null;
  const states = await store.recipients(id);
  const out: CancelOutcome = { id, cancelled: [], unchanged: [] };
  for (const [rcpt, state] of states.entries()) {
    if (state.status !== 'queued' && state.status !== 'deferred') {
      out.unchanged.push({ address: state.address, status: state.status });
      continue;
    }
    const now = Date.now();
    const recorded = await store.record(id, { ...state, status: 'cancelled', reason, updatedAt: now }, { type: 'cancelled', at: new Date(now).toISOString(), rcpt, address: state.address, detail: reason });
    if (!recorded) {
      const current = await store.recipient(id, rcpt);
      out.unchanged.push({ address: state.address, status: current?.status ?? state.status });
      continue;
    }
    out.cancelled.push(state.address);
    // Only tidiness: a job left behind finds its recipient final and ends without sending.
    const job = await queue.getJob(deliveryJobId(id, rcpt));
    await job?.remove().catch(() => undefined);
  }
  return out;
}
