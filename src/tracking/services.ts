/**
 * The tracking services of one process, built from the config: tokens (the shared secret in
 * Redis), the link store, the engagement recorder and the unsubscriber — what the delivery worker
 * (tokens, links), the HTTP routes (all) and the inbound listener (unsubscribe mail) use.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Keys } from '../redis/keys.js';
import type { SuppressionList } from '../store/suppressions.js';
import type { TrackingHttpDeps } from '../http/tracking.js';
import type { InboundUnsubscribes } from '../intake/listener.js';
import { EngagementTracker } from './engagement.js';
import { LinkStore } from './links.js';
import { TrackingTokens, unsubscribeTokenOf } from './tokens.js';
import { Unsubscriber } from './unsubscribe.js';
import type { EventLog } from '../events/event-log.js';

export interface Tracking {
  tokens: TrackingTokens;
  links: LinkStore;
  engagement: EngagementTracker;
  unsubscriber: Unsubscriber;
  http: TrackingHttpDeps;
  inbound: InboundUnsubscribes;
}

/** `events`: where opens, clicks and unsubscribes go (default: a log without metrics or subscribers). */
export async function openTracking(redis: Redis, keys: Keys, config: Config, suppressions: SuppressionList, log: Logger, events?: EventLog): Promise<Tracking> {
  const tokens = await TrackingTokens.load(redis, keys);
  const ttlSeconds = trackingRetentionSeconds(config);
  const links = new LinkStore(redis, keys, ttlSeconds);
  const engagement = new EngagementTracker(redis, keys, links, { ttlSeconds, machine: config.tracking.machine, ...(events ? { events } : {}) });
  const unsubscriber = new Unsubscriber({ redis, keys, tokens, suppressions, engagement });
  const inbound: InboundUnsubscribes = {
    accepts: (address) => {
      const token = unsubscribeTokenOf(address);
      return token !== null && tokens.parse(token)?.kind === 'unsubscribe';
    },
    unsubscribe: async (address) => (await unsubscriber.unsubscribeByToken(unsubscribeTokenOf(address) ?? '', 'mail')).outcome,
  };
  return { tokens, links, engagement, unsubscriber, inbound, http: { tokens, engagement, unsubscriber, trustProxyHops: config.http.trustProxyHops, log } };
}

/** Links must outlive the slowest delivery of the message and then its retention (tracking.retentionSeconds 0). */
export function trackingRetentionSeconds(config: Config): number {
  return config.tracking.retentionSeconds || Math.max(1, config.store.retentionSeconds + config.delivery.retry.maxAgeSeconds);
}
