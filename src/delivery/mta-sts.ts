/**
 * MTA-STS (RFC 8461): domains that publish an "enforce" policy get mail only over verified TLS,
 * and only to the MX hosts the policy names.
 *
 * Receives: a recipient domain and its MX targets. Promises: for an enforce policy, the targets
 * that match it, each to be reached with TLS required (certificate verified against the MX
 * name), or a reason to defer when none match — never a fall-back to plain text; for testing or
 * no policy, the targets unchanged. Policies are cached in Redis for their max_age (shared by the
 * nodes, and kept across restarts, so a DNS or HTTPS outage cannot strip a known policy); the DNS
 * id is checked again at most every `recheckMs`. mailauth parses policies and matches MX names;
 * the HTTPS fetch is injectable (tests) and bounded (time, size, no redirects).
 */
import { get } from 'node:https';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { parsePolicy, resolvePolicy, validateMx } from 'mailauth/lib/mta-sts.js';
import type { MTASTSPolicy } from 'mailauth';
import type { Keys } from '../redis/keys.js';
import type { DnsResolver } from '../dns.js';
import type { Target } from './routes.js';

/** Fetches https://mta-sts.<domain>/.well-known/mta-sts.txt; null when there is none (404). */
export type PolicyFetcher = (domain: string) => Promise<string | null>;

export type StsDecision = { kind: 'targets'; targets: Target[]; policy: string | null } | { kind: 'defer'; reason: string };

interface Cached {
  policy: MTASTSPolicy;
  /** ms: until when the policy may be used without fetching (max_age) */
  expires: number;
  /** ms: when the DNS id was last checked */
  checkedAt: number;
}

const MAX_POLICY_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 15_000;

export class MtaSts {
  private readonly local = new Map<string, Cached>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly resolver: Pick<DnsResolver, 'resolveTxt'>,
    private readonly log: Logger,
    private readonly fetchPolicy: PolicyFetcher = httpsPolicyFetcher,
    private readonly recheckMs = 3600_000,
  ) {}

  async apply(domain: string, targets: Target[]): Promise<StsDecision> {
    const policy = await this.policyFor(domain.toLowerCase());
    if (!policy || policy.mode === 'none') return { kind: 'targets', targets, policy: null };
    const matching = targets.filter((t) => validateMx(t.host, policy).valid);
    if (policy.mode === 'testing') {
      if (matching.length < targets.length) this.log.warn({ domain, mx: targets.map((t) => t.host) }, `MTA-STS (testing) of ${domain}: some MX hosts are not in its policy`);
      return { kind: 'targets', targets, policy: 'testing' };
    }
    if (matching.length === 0) {
      return { kind: 'defer', reason: `MTA-STS policy of ${domain} (enforce) names none of its MX hosts (${targets.map((t) => t.host).join(', ')}): not sending` };
    }
    return { kind: 'targets', targets: matching.map((t) => ({ ...t, tls: 'required', via: `${t.via}, MTA-STS enforce` })), policy: 'enforce' };
  }

  private async policyFor(domain: string): Promise<MTASTSPolicy | null> {
    const now = Date.now();
    let cached = this.local.get(domain) ?? (await this.readShared(domain));
    if (cached && cached.expires > now && now - cached.checkedAt < this.recheckMs) return cached.policy;

    let id: string | false;
    try {
      id = await resolvePolicy(domain, { resolver: (name: string) => this.resolver.resolveTxt(name) });
    } catch (err) {
      // DNS trouble: keep what we know (RFC 8461 §5.1: a cached policy stays in force until max_age).
      this.log.warn({ domain, err: (err as Error).message }, `MTA-STS lookup of ${domain} failed; using the cached policy if any`);
      return cached && cached.expires > now ? cached.policy : null;
    }
    if (!id) {
      // No record: a cached unexpired policy still applies (a removed record is no downgrade signal).
      return cached && cached.expires > now ? cached.policy : null;
    }
    if (cached && cached.policy.id === id && cached.expires > now) {
      cached = { ...cached, checkedAt: now };
    } else {
      const fetched = await this.fetch(domain, id);
      if (!fetched) return cached && cached.expires > now ? cached.policy : null;
      cached = fetched;
    }
    await this.store(domain, cached);
    return cached.policy;
  }

  private async fetch(domain: string, id: string): Promise<Cached | null> {
    try {
      const text = await this.fetchPolicy(domain);
      if (text === null) return null;
      const policy = { ...parsePolicy(text), id };
      const maxAge = Math.min(Math.max(Number(policy.maxAge) || 86_400, 60), 31_557_600);
      return { policy, expires: Date.now() + maxAge * 1000, checkedAt: Date.now() };
    } catch (err) {
      this.log.warn({ domain, err: (err as Error).message }, `MTA-STS policy of ${domain} could not be fetched or parsed`);
      return null;
    }
  }

  private async readShared(domain: string): Promise<Cached | null> {
    const raw = await this.redis.get(this.keys.mtaStsPolicy(domain));
    const cached = raw ? (JSON.parse(raw) as Cached) : null;
    if (cached) this.local.set(domain, cached);
    return cached;
  }

  private async store(domain: string, cached: Cached): Promise<void> {
    this.local.set(domain, cached);
    await this.redis.set(this.keys.mtaStsPolicy(domain), JSON.stringify(cached), 'PX', Math.max(cached.expires - Date.now(), 1000));
  }
}

/** The RFC 8461 fetch: HTTPS with a valid certificate for mta-sts.<domain>, 200 only, no redirects, bounded. */
export const httpsPolicyFetcher: PolicyFetcher = (domain) =>
  new Promise((resolve, reject) => {
    const req = get({ host: `mta-sts.${domain}`, path: '/.well-known/mta-sts.txt', timeout: FETCH_TIMEOUT_MS, headers: { 'User-Agent': 'Sokutatsu MTA-STS' } }, (res) => {
      if (res.statusCode === 404) {
        res.resume();
        return resolve(null);
      }
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`HTTP ${res.statusCode} from mta-sts.${domain}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_POLICY_BYTES) req.destroy(new Error(`policy of ${domain} is larger than ${MAX_POLICY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from mta-sts.${domain} within ${FETCH_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
  });
