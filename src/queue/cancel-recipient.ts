/**
 * Cancelling one recipient that has not been delivered yet — the step both `POST
 * /api/v1/messages/:id/cancel` (http/message-cancel.ts) and the queue purge (queue/purge.ts) take.
 *
 * Promises: only a queued or deferred recipient changes; it becomes `cancelled` with an event
 * carrying the reason, through store.record — the same atomic step as a delivery outcome, so a
 * recipient being delivered right now ends as whichever came first, never both; a recipient
 * already final is left and its status told. Its delivery job is removed when it waits (a job
 * running or locked is left: the worker skips final recipients). Repeating it changes nothing.
 */
import type { MessageStore } from '../store/messages.js';
import type { RecipientState, RecipientStatus } from '../store/types.js';
import { deliveryJobId, type DeliveryQueue } from './delivery-queue.js';

/** `jobRemoved`: the waiting job went with it (false when it was running, locked or gone) */
export type CancelResult = { cancelled: true; jobRemoved: boolean } | { cancelled: false; status: RecipientStatus };

export async function cancelRecipient(store: MessageStore, queue: DeliveryQueue, id: string, rcpt: number, state: RecipientState, reason: string): Promise<CancelResult> {
  if (state.status !== 'queued' && state.status !== 'deferred') return { cancelled: false, status: state.status };
  const now = Date.now();
  const recorded = await store.record(id, { ...state, status: 'cancelled', reason, updatedAt: now }, { type: 'cancelled', at: new Date(now).toISOString(), rcpt, address: state.address, detail: reason });
  if (!recorded) {
    const current = await store.recipient(id, rcpt);
    return { cancelled: false, status: current?.status ?? state.status };
  }
  // Only tidiness: a job left behind finds its recipient final and ends without sending.
  const removed = await queue.remove(deliveryJobId(id, rcpt)).catch(() => 0);
  return { cancelled: true, jobRemoved: removed === 1 };
}
