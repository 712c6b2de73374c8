/**
 * Cancelling a message's recipients that have not been delivered yet (`POST
 * /api/v1/messages/:id/cancel`): each queued or deferred recipient becomes `cancelled` with an
 * event, through store.record — the same atomic step as a delivery outcome, so a recipient
 * that is being delivered right now ends as whichever came first, never both.
 *
 * Promises: only queued/deferred recipients change (queue/cancel-recipient.ts, shared with the
 * queue purge); their delivery jobs are removed when they wait; the answer lists which
 * recipients were cancelled and the status of the others.
 */
import type { MessageStore } from '../store/messages.js';
import type { DeliveryQueue } from '../queue/delivery-queue.js';
import { cancelRecipient } from '../queue/cancel-recipient.js';
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
    const result = await cancelRecipient(store, queue, id, rcpt, state, reason);
    if (result.cancelled) out.cancelled.push(state.address);
    else out.unchanged.push({ address: state.address, status: result.status });
  }
  return out;
}
