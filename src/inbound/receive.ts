/**
 * Port 25's side of inbound routes: which recipients a route takes, and storing a mail for them.
 *
 * Receives: RCPT addresses (match), then the mail as DATA read it (bounded by smtp.maxMessageSize)
 * with the recipients the routes took. Promises: `receive` resolves only once ONE MULTI/EXEC has
 * written the raw mail (hash `inmsg:<id>`: raw, MAIL FROM, time, jobs still to finish; kept
 * `webhooks.retry.maxAgeSeconds` + a day at most), one POST job per route (queue 'inbound') and
 * one `inbound` event per recipient in the event stream — so a mail the client saw 250 for
 * survives a kill -9 with its POST queued, and is never half-stored. The events then go to the
 * event log's subscribers (webhook endpoints that want `inbound`); their failure never fails
 * the mail. `inbound` events are not counted in the sending statistics (they are not mail sent).
 */
import type { Queue } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import type { EventLog, MessageContext } from '../events/event-log.js';
import type { Keys } from '../redis/keys.js';
import type { MessageEvent } from '../store/types.js';
import { newMessageId } from '../store/messages.js';
import { addJobInTransaction } from '../queue/job-transaction.js';
import { INBOUND_JOB_OPTIONS, inboundJobId, type InboundJob } from './queue.js';
import type { InboundRoute, InboundRouteStore } from './routes.js';

export interface RoutedRecipient {
  address: string;
  route: Pick<InboundRoute, 'id' | 'pattern'>;
}

export interface ReceivedMail {
  id: string;
  /** route id → the recipients it took */
  routes: Map<string, string[]>;
}

/** What port 25 needs of inbound routes (src/intake/listener.ts). */
export interface InboundRouting {
  match(address: string): Promise<InboundRoute | null>;
  receive(raw: Buffer, from: string, recipients: RoutedRecipient[]): Promise<ReceivedMail>;
}

export class InboundReception implements InboundRouting {
  constructor(
    private readonly keys: Keys,
    private readonly routes: InboundRouteStore,
    private readonly queue: Queue<InboundJob>,
    private readonly events: EventLog,
    /** seconds the raw mail is kept at most (its POSTs' retry period + a margin) */
    private readonly keepSeconds: number,
  ) {}

  match(address: string): Promise<InboundRoute | null> {
    return this.routes.match(address);
  }

  async receive(raw: Buffer, from: string, recipients: RoutedRecipient[]): Promise<ReceivedMail> {
    const now = Date.now();
    const id = newMessageId(now);
    const byRoute = new Map<string, { pattern: string; to: string[] }>();
    for (const r of recipients) {
      const entry = byRoute.get(r.route.id) ?? { pattern: r.route.pattern, to: [] };
      if (!entry.to.includes(r.address)) entry.to.push(r.address);
      byRoute.set(r.route.id, entry);
    }
    const at = new Date(now).toISOString();
    const events: MessageEvent[] = [];
    for (const [routeId, { pattern, to }] of byRoute) {
      for (const address of to) {
        events.push({ type: 'inbound', at, rcpt: events.length, address, detail: `mail from <${from}> for route ${routeId} (${pattern})` });
      }
    }
    // The receiving domain plays the sending domain's part in the stream entry (webhook `domain`).
    const context: MessageContext = { messageId: id, tag: null, domain: domainOf(recipients[0]?.address ?? ''), metadata: {} };
    // BullMQ's own client: its job-insert scripts are defined on it; it wraps an ioredis client,
    // so its MULTI takes every ioredis command too (as store/messages.ts's accept does).
    const client = await this.queue.backend.client;
    const multi = client.multi() as ReturnType<typeof client.multi> & ChainableCommander;
    // Stream entries first: their answers are the first events.length of exec's.
    this.events.streamInTransaction(multi, context, events.map((e) => JSON.stringify(e)), now);
    const key = this.keys.inboundMessage(id);
    multi.hset(key, { raw, from, receivedAt: at, pending: String(byRoute.size) });
    multi.expire(key, this.keepSeconds);
    for (const [routeId, { to }] of byRoute) {
      addJobInTransaction(this.queue, multi, 'inbound', { mailId: id, routeId, to, attempt: 1 }, INBOUND_JOB_OPTIONS, inboundJobId(id, routeId));
    }
    const results = await multi.exec();
    if (!results) throw new Error('inbound mail transaction aborted');
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0]!;
    const ids = results.slice(0, events.length).map(([, streamId]) => String(streamId));
    await this.events.publishedMany(ids, events, context);
    return { id, routes: new Map([...byRoute].map(([routeId, { to }]) => [routeId, to])) };
  }
}

function domainOf(address: string): string | null {
  const at = address.lastIndexOf('@');
  return at > 0 ? address.slice(at + 1).toLowerCase() : null;
}
