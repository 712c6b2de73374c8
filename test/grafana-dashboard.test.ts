/**
 * deploy/grafana/sokutatsu.json: valid JSON, and every metric its queries use is one Sokutatsu
 * exports (a renamed metric must not leave an empty panel behind).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createMetrics, createScrapeMetrics } from '../src/metrics.js';

describe('the Grafana dashboard', () => {
  it('queries only metrics that exist, and uses the ones issue 7 asks for', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/sokutatsu.json', import.meta.url), 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(sokutatsu_[a-z0-9_]+)/g)].map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ''))));
    const scrape = createScrapeMetrics({ jobCounts: async () => ({}), siteGauges: async () => ({ connections: 0, paused: 0 }) });
    const exported = new Set([...(await createMetrics().registry.getMetricsAsJSON()), ...(await scrape.getMetricsAsJSON())].map((m) => m.name));
    for (const name of used) expect(exported.has(name), name).toBe(true);
    for (const name of ['sokutatsu_deliveries_total', 'sokutatsu_intake_duration_seconds', 'sokutatsu_delivery_queue_seconds', 'sokutatsu_delivery_duration_seconds', 'sokutatsu_queue_jobs', 'sokutatsu_outbound_connections', 'sokutatsu_sites_paused', 'sokutatsu_bounces_total', 'sokutatsu_events_total', 'sokutatsu_webhook_deliveries_total', 'sokutatsu_messages_received_total']) {
      expect(used.has(name), name).toBe(true);
    }
    // Received messages carry a result: a panel either selects accepted mail or shows results apart, never sums refusals in.
    for (const expr of exprs.filter((e) => e.includes('sokutatsu_messages_received_total'))) expect(expr, expr).toMatch(/result="accepted"|by \([^)]*\bresult\b/);
  });
});
