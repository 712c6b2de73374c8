/**
 * Sending one webhook body to one endpoint now: the target checked (again: DNS may have changed
 * since the endpoint was stored), the body signed, POSTed.
 *
 * Receives: an endpoint, the JSON body. Promises: never throws for the endpoint's sake — a refused
 * or unresolvable target, a network error, a timeout or a non-2xx status is a result with `ok`
 * false and the reason; only a 2xx is `ok`.
 */
import type { DnsResolver } from '../dns.js';
import type { Endpoint } from './endpoints.js';
import { signature } from './payload.js';
import { postJson, type PostResult } from './post.js';
import { resolveTarget, TargetError, type Target, type TargetResolver } from './target.js';

export interface SendResult extends PostResult {
  ok: boolean;
}

export interface SenderSettings {
  allowPrivateTargets: boolean;
  timeoutSeconds: number;
  /** a CA (PEM) trusted for https endpoints besides the system's (tests; NODE_EXTRA_CA_CERTS does this for operators) */
  ca?: string;
}

export const USER_AGENT = 'Sokutatsu-Webhooks/1';

export class WebhookSender {
  constructor(private readonly resolver: TargetResolver | DnsResolver, private readonly settings: SenderSettings) {}

  /** The URL checked as a delivery would check it (for the API, before storing it). */
  checkUrl(url: string): Promise<Target> {
    return resolveTarget(url, this.resolver, this.settings.allowPrivateTargets);
  }

  /** `endpoint`: a webhook endpoint, or anything else with a URL and a secret (an inbound route) */
  async send(endpoint: Pick<Endpoint, 'url' | 'secret'>, body: string, eventType: string, eventId: string): Promise<SendResult> {
    const started = Date.now();
    let target;
    try {
      target = await resolveTarget(endpoint.url, this.resolver, this.settings.allowPrivateTargets);
    } catch (err) {
      const error = err instanceof TargetError ? err.message : `target check failed: ${(err as Error).message}`;
      return { ok: false, status: null, error, durationMs: Date.now() - started };
    }
    const headers = {
      'User-Agent': USER_AGENT,
      'X-Sokutatsu-Signature': signature(endpoint.secret, body, Math.floor(Date.now() / 1000)),
      'X-Sokutatsu-Event': eventType,
      'X-Sokutatsu-Event-Id': eventId,
    };
    const result = await postJson(target, body, headers, this.settings.timeoutSeconds * 1000, this.settings.ca);
    const ok = result.status !== null && result.status >= 200 && result.status < 300;
    const error = ok || result.error ? result.error : `HTTP ${result.status}${result.status !== null && result.status >= 300 && result.status < 400 ? ' (redirects are not followed)' : ''}`;
    return { ...result, ok, error, durationMs: Date.now() - started };
  }
}
