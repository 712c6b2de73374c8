/**
 * Purging the queue: every recipient still waiting for delivery whose job matches the selectors
 * (recipient domain, message tag, destination site) becomes `cancelled` with the operator's
 * reason — `POST /api/v1/queue/purge` and `sokutatsu queue purge`.
 *
 * Promises: bounded work per call — at most `limit` job ids of BullMQ's waiting, prioritized,
 * delayed and active lists are looked at, then a cursor says where to go on (null: done); each
 * match is cancelled by queue/cancel-recipient.ts (atomic with delivery; a waiting job removed),
 * so a call repeated or resumed from any cursor cancels nothing twice. Active jobs are included
 * because a job waiting for a paused site wakes up now and then to ask again: its recipient is
 * cancelled like the others (the job, locked, is left and ends without sending; one being
 * delivered this moment ends as whichever store.record came first, as with message cancel).
 * Selectors are ANDed; at least one is required (checked by the callers' schemas, asserted here).
 */
import type { MessageStore } from '../store/messages.js';
import type { DeliveryQueue } from './delivery-queue.js';
import { cancelRecipient } from './cancel-recipient.js';
import { jobData } from './overview.js';
import { domainOf } from '../mime/address.js';
import type { RecipientState } from '../store/types.js';

export interface PurgeSelector {
  /** the recipient's domain, exactly (lower case; subdomains are other domains) */
  domain?: string;
  /** the message's X-Sokutatsu-Tag / send API tag */
  tag?: string;
  /** the destination site a job waits for (jobs carry it once they wait for a pause or retry) */
  site?: string;
}

export interface PurgeResult {
  /** recipients that became cancelled in this call */
  cancelled: number;
  /** jobs that matched (cancelled now, or already final and only tidied away) */
  matched: number;
  /** job ids looked at */
  scanned: number;
  /** pass it back to go on; null when every list has been walked */
  next: string | null;
}

/** The lists walked, in this order; the cursor names one and an offset in it. */
const LISTS = ['waiting', 'prioritized', 'delayed', 'active'] as const;
type List = (typeof LISTS)[number];
export const PURGE_CURSOR = /^(waiting|prioritized|delayed|active):(\d{1,9})$/;
const PAGE = 200;

export async function purgeQueue(store: MessageStore, queue: DeliveryQueue, selector: PurgeSelector, reason: string, options: { cursor?: string; limit: number }): Promise<PurgeResult> {
  if (!selector.domain && !selector.tag && !selector.site) throw new Error('purge needs a selector: domain, tag or site');
  const want = { domain: selector.domain?.toLowerCase(), tag: selector.tag, site: selector.site?.toLowerCase() };
  const parsed = PURGE_CURSOR.exec(options.cursor ?? 'waiting:0');
  if (!parsed) throw new Error(`not a purge cursor: ${options.cursor}`);
  let list = parsed[1] as List;
  let offset = Number(parsed[2]);
  const result: PurgeResult = { cancelled: 0, matched: 0, scanned: 0, next: null };
  // A message's tag, read once per call however many of its recipients are looked at.
  const tags = new Map<string, string | null>();

  while (result.scanned < options.limit) {
    const count = Math.min(PAGE, options.limit - result.scanned);
    // Newest first: jobs added while we walk land before the offset (looked at again by a rerun,
    // not skipped), and jobs leaving at the old end (taken by workers, promoted) do not shift it.
    const ids = await queue.getRanges([list], offset, offset + count - 1, false);
    const data = await jobData(queue, ids);
    let removed = 0;
    for (const [i, id] of ids.entries()) {
      const job = data[i];
      if (!job) continue; // gone since the range was read
      if (want.site !== undefined && job.site !== want.site) continue;
      let state: RecipientState | null = null;
      if (want.domain !== undefined) {
        const to = job.to ?? (state = await store.recipient(job.messageId, job.rcpt))?.address;
        if (!to || domainOf(to) !== want.domain) continue;
      }
      if (want.tag !== undefined) {
        if (!tags.has(job.messageId)) tags.set(job.messageId, (await store.get(job.messageId))?.tag ?? null);
        if (tags.get(job.messageId) !== want.tag) continue;
      }
      result.matched++;
      state ??= await store.recipient(job.messageId, job.rcpt);
      const outcome = state ? await cancelRecipient(store, queue, job.messageId, job.rcpt, state, reason) : null;
      if (outcome?.cancelled) {
        result.cancelled++;
        if (outcome.jobRemoved) removed++;
      } else if ((await queue.remove(id).catch(() => 0)) === 1) {
        // Final already (or the message expired): the job would only end without sending.
        removed++;
      }
    }
    result.scanned += ids.length;
    // What we removed came out of the range we read: the next unread job moved up by that much.
    offset += ids.length - removed;
    if (ids.length < count) {
      const nextList = LISTS[LISTS.indexOf(list) + 1];
      if (!nextList) return result;
      list = nextList;
      offset = 0;
    }
  }
  result.next = `${list}:${offset}`;
  return result;
}
