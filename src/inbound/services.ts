/**
 * The inbound-route services of a process, built from config: the route store and its POST log
 * for the HTTP API (any process serving it, cluster primary included), port 25's reception and
 * the forwarder (queue worker) for processes that run listeners and delivery.
 *
 * Receives: Redis, keys, config, the webhook services (their sender: one SSRF check, one signing,
 * one POST for webhooks and inbound routes). Promises: one place that wires them.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { EventLog } from '../events/event-log.js';
import type { Keys } from '../redis/keys.js';
import { DeliveryLog } from '../webhooks/delivery-log.js';
import type { WebhookServices } from '../webhooks/services.js';
import { InboundForwarder, type ForwarderDeps } from './forwarder.js';
import { createInboundQueue, type InboundJob } from './queue.js';
import { InboundReception } from './receive.js';
import { InboundRouteStore } from './routes.js';

export interface InboundRouteServices {
  routes: InboundRouteStore;
  deliveries: DeliveryLog;
  sender: WebhookServices['sender'];
}

export function openInboundRoutes(redis: Redis, keys: Keys, config: Config, webhooks: WebhookServices): InboundRouteServices {
  return {
    routes: new InboundRouteStore(redis, keys),
    deliveries: new DeliveryLog(redis, keys, config.webhooks.logSize, keys.inboundRouteLog),
    sender: webhooks.sender,
  };
}

export interface InboundRuntime {
  reception: InboundReception;
  forwarder: InboundForwarder;
  queue: Queue<InboundJob>;
  close(): Promise<void>;
}

/** Port 25's reception and the forwarder; its worker is started separately (`forwarder.start`). */
export function startInboundRuntime(services: InboundRouteServices, redis: Redis, queueConnection: Redis, keys: Keys, config: Config, events: EventLog, log: Logger, onResult?: ForwarderDeps['onResult']): InboundRuntime {
  const queue = createInboundQueue(queueConnection, keys);
  // Kept through the POSTs' whole retry period, and a day more for a look at what failed.
  const reception = new InboundReception(keys, services.routes, queue, events, config.webhooks.retry.maxAgeSeconds + 86_400);
  const forwarder = new InboundForwarder({ config, log, keys, redis, routes: services.routes, deliveries: services.deliveries, sender: services.sender, ...(onResult ? { onResult } : {}) });
  return {
    reception, forwarder, queue,
    async close() {
      await forwarder.close();
      await queue.close();
    },
  };
}
