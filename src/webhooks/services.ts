/**
 * The webhook services of a process, built from config: endpoints, delivery log and sender for the
 * HTTP API (any process serving it, cluster primary included), and the dispatcher (queue + worker)
 * for processes that deliver.
 *
 * Receives: Redis, keys, `webhooks` config, the process's DNS resolver. Promises: one place that
 * wires them, so the single process and the cluster primary serve the same API.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { DnsResolver } from '../dns.js';
import type { Keys } from '../redis/keys.js';
import { DeliveryLog } from './delivery-log.js';
import { WebhookDispatcher, type WebhookDeps } from './dispatcher.js';
import { EndpointStore } from './endpoints.js';
import { WebhookSender } from './sender.js';

export interface WebhookServices {
  endpoints: EndpointStore;
  deliveries: DeliveryLog;
  sender: WebhookSender;
}

/** `ca`: a CA (PEM) trusted for https endpoints besides the system's (the app's deliveryCa). */
export function openWebhooks(redis: Redis, keys: Keys, config: Config['webhooks'], resolver: DnsResolver, ca?: string): WebhookServices {
  return {
    endpoints: new EndpointStore(redis, keys),
    deliveries: new DeliveryLog(redis, keys, config.logSize),
    sender: new WebhookSender(resolver, { ...config, ...(ca ? { ca } : {}) }),
  };
}

/** The dispatcher over these services; its worker is started separately (`startWorker`). */
export function createDispatcher(services: WebhookServices, redis: Redis, queueConnection: Redis, keys: Keys, config: Config['webhooks'], log: Logger, onResult?: WebhookDeps['onResult']): WebhookDispatcher {
  return new WebhookDispatcher({ ...services, redis, keys, config, log, ...(onResult ? { onResult } : {}) }, queueConnection);
}
