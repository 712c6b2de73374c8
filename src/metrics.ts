/**
 * Every Prometheus metric, defined once. Names start with `sokutatsu_` (CONTRACT.md).
 * Each app instance has its own registry, so tests can run several side by side.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What /metrics serves: this process's registry, or (cluster primary) every worker's, summed. */
export interface MetricsSource {
  contentType: string;
  text(): Promise<string>;
}

export function registryMetrics(registry: Registry): MetricsSource {
  return { contentType: registry.contentType, text: () => registry.metrics() };
}

export interface Metrics {
  registry: Registry;
  /** messages accepted (250 after DATA), by listener */
  messagesReceived: Counter<'listener'>;
  /** recipients accepted in those messages */
  recipientsReceived: Counter<'listener'>;
  /** refusals sent to SMTP clients, by listener and reply code */
  smtpRejections: Counter<'listener' | 'code'>;
  /** delivery attempt outcomes per recipient: delivered, deferred, bounced, expired */
  deliveries: Counter<'outcome'>;
  throttled: Counter<string>;
  deliveryDuration: Histogram<'outcome'>;
  /** recorded events (src/events/event-log.ts), by type and machine verdict ('' for events without one) */
  events: Counter<'type' | 'machine'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sokutatsu_process_' });
  return {
    registry,
    messagesReceived: new Counter({ name: 'sokutatsu_messages_received_total', help: 'Messages accepted with 250 after DATA', labelNames: ['listener'], registers: [registry] }),
    recipientsReceived: new Counter({ name: 'sokutatsu_recipients_received_total', help: 'Recipients in accepted messages', labelNames: ['listener'], registers: [registry] }),
    smtpRejections: new Counter({ name: 'sokutatsu_smtp_rejections_total', help: 'Error replies sent to SMTP clients', labelNames: ['listener', 'code'], registers: [registry] }),
    throttled: new Counter({ name: 'sokutatsu_delivery_waits_total', help: 'Deliveries put back to wait for their site (connection limit, rate limit or backoff pause); not attempts', registers: [registry] }),
    deliveries: new Counter({ name: 'sokutatsu_deliveries_total', help: 'Delivery attempt outcomes per recipient (delivered, deferred, bounced, expired)', labelNames: ['outcome'], registers: [registry] }),
    events: new Counter({ name: 'sokutatsu_events_total', help: 'Recorded recipient events by type; opens and clicks by machine verdict (true/false; empty for other types)', labelNames: ['type', 'machine'], registers: [registry] }),
    deliveryDuration: new Histogram({
      name: 'sokutatsu_delivery_duration_seconds',
      help: 'Time of one delivery attempt, connection included',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
  };
}
