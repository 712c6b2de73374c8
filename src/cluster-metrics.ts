/**
 * /metrics of a cluster (`processes: N`): every worker's registry and the primary's own, summed
 * with prom-client's AggregatorRegistry.aggregate (counters and histograms add up; each default
 * process metric by its own rule), over our own IPC messages.
 *
 * Why not AggregatorRegistry.clusterMetrics(): it asks the workers only, and the primary counts
 * things too (sends through the HTTP API, opens and clicks, webhook POSTs); its reply handler
 * cannot share the channel with another requester.
 *
 * Promises: one scrape asks each connected worker once and answers within `timeoutMs` — with
 * the workers that answered (a worker dying mid-scrape leaves its share out of that scrape
 * rather than failing it).
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { MetricsSource } from './metrics.js';

const REQUEST = 'metrics?';
const RESPONSE = 'metrics';

type Snapshot = MetricObjectWithValues<MetricValue<string>>[];
interface Message { sokutatsu?: string; id?: number; metrics?: Snapshot }

/** In a worker: answer the primary's requests with this registry's values. Returns the unsubscribe. */
export function answerMetricsRequests(registry: Registry): () => void {
  const onMessage = (msg: Message) => {
    if (msg?.sokutatsu !== REQUEST) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ sokutatsu: RESPONSE, id: msg.id, metrics }),
      () => process.send?.({ sokutatsu: RESPONSE, id: msg.id, metrics: [] }),
    );
  };
  process.on('message', onMessage);
  return () => void process.off('message', onMessage);
}

/** In the primary: its own registry and every worker's, summed. */
export function clusterMetrics(own: Registry, timeoutMs = 5000): MetricsSource {
  let next = 0;
  return {
    contentType: own.contentType,
    async text() {
      const id = next++;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
      const answers = await new Promise<Snapshot[]>((resolve) => {
        const got: Snapshot[] = [];
        const finish = () => {
          clearTimeout(timer);
          cluster.off('message', onMessage);
          resolve(got);
        };
        const onMessage = (_worker: Worker, msg: Message) => {
          if (msg?.sokutatsu !== RESPONSE || msg.id !== id) return;
          got.push(msg.metrics ?? []);
          if (got.length === workers.length) finish();
        };
        const timer = setTimeout(finish, timeoutMs);
        cluster.on('message', onMessage);
        for (const w of workers) w.send({ sokutatsu: REQUEST, id });
        if (workers.length === 0) finish();
      });
      return AggregatorRegistry.aggregate([await own.getMetricsAsJSON(), ...answers]).metrics();
    },
  };
}
