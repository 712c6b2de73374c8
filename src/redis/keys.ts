/**
 * Every Redis key name Sokutatsu uses, built in one place.
 *
 * All keys share one hash tag (`{namespace}`), so on Redis Cluster they live in one slot and a
 * MULTI may span the message store and the BullMQ queue (whose prefix is the same tag).
 */
export interface Keys {
  /** BullMQ prefix for our queues */
  readonly queuePrefix: string;
  /** message envelope and metadata (hash) */
  message(id: string): string;
  /** the message as received, with our Received header (string/bytes) */
  body(id: string): string;
  /** recipient index → JSON RecipientState (hash) */
  recipients(id: string): string;
  /** the message's timeline: JSON events, append-only (list) */
  events(id: string): string;
  /** reports already applied to the message's recipients: "<rcpt>:<kind>" (set; a replayed DSN changes nothing) */
  reports(id: string): string;
  /** SMTP/API users: name → JSON user record (hash) */
  readonly users: string;
  /** admin API tokens: sha256(token) → JSON {name, createdAt} (hash) */
  readonly apiTokens: string;
  /** failed AUTH attempts from one IP within the lockout window (counter with TTL) */
  authFailures(ip: string): string;
  /** an admin API token's rate limit (admin.rateLimitPerMinute), shared by every process and node: the theoretical arrival time of its next request, ms (GCRA, string with TTL) */
  apiRateLimit(tokenName: string): string;
  /** sending domains: domain → JSON record with its DKIM key (hash) */
  readonly domains: string;
  /** bumped with every change of `domains` (counter): processes reload their cached copy when it moves */
  readonly domainsVersion: string;
  /** a sending domain's history: JSON events, newest first, capped (list) */
  domainEvents(domain: string): string;
  /** connections open to a destination site: lease id → expiry ms (sorted set; a crashed node's leases expire) */
  siteConnections(site: string): string;
  /** the site's rate limiter: the theoretical arrival time of the next message, ms (GCRA, string with TTL) */
  siteRate(site: string): string;
  /** the site's adaptive-backoff and pause state (hash; absent while the site behaves) */
  siteState(site: string): string;
  /** set for a moment when a process was refused a connection to the site (all leases taken): holders close their idle ones */
  siteWanted(site: string): string;
  /** sites with backoff or pause state (set): each process polls it, so only those sites cost a Redis call per message */
  readonly troubledSites: string;
  /** a domain's MTA-STS policy as fetched, with its expiry (JSON string, TTL max_age) */
  mtaStsPolicy(domain: string): string;
  /** every site delivered to recently (sorted set: site → last use ms), for `queue sites` */
  readonly sites: string;
  /** held by the process running the periodic DNS re-check of sending domains (string with TTL) */
  readonly domainRecheckLock: string;
  /** the suppression list: address (lower case) → JSON list of entries, global or per sending domain (hash) */
  readonly suppressions: string;
  /** soft bounces in a row of one address: {count, first, last} (JSON string with TTL; a delivery deletes it) */
  softBounces(address: string): string;
  /** a secret generated once and shared by every node (HMAC of VERP and tracking tokens): base64 string */
  secret(name: string): string;
  /** every message by acceptance time: id → createdAt ms (sorted set; entries older than the index retention trimmed at accept) — GET /api/v1/messages */
  readonly messageIndex: string;
  /** messages of one X-Sokutatsu-Tag by acceptance time (sorted set; expires with its newest entry) */
  tagIndex(tag: string): string;
  /** messages to one recipient address (lower case) by acceptance time (sorted set; expires with its newest entry) */
  recipientIndex(address: string): string;
  /** an Idempotency-Key of the send API (sha256 of token name + key): "p:<id>:<body hash>" while being sent, then "<id>:<body hash>" (string, 24 h) */
  idempotency(digest: string): string;
  /** the message's tracked links, in the rewriter's index order (list of URLs; '' where a URL was refused) */
  links(id: string): string;
  /** per recipient engagement: recipient index → JSON {opens, clicks, first human open/click, unsubscribed, …} (hash) */
  engagement(id: string): string;
  /** clicks per link and recipient: "<link>:<rcpt>" → clicks, "<link>:<rcpt>:h" → human clicks (hash) */
  clicks(id: string): string;
  /** the event stream: every recorded event with its message's context, trimmed by events.maxLength / retentionSeconds (stream) */
  readonly eventStream: string;
  /** statistics of one scope in one hour: counter name → count (hash; scope and hour: src/events/stats-scope.ts) */
  statsCounters(scope: string, hourStart: number): string;
  /** clicks per link of one scope in one hour: "<link>\t<url>\t<kind>" → count (hash) */
  statsLinks(scope: string, hourStart: number): string;
  /** the prefixes the recording scripts build those two from: prefix + scope + ':' + hour (Lua has no Keys) */
  readonly statsPrefixes: { counters: string; links: string };
  /** webhook endpoints: id → JSON {id, url, events, secret, enabled, createdAt} (hash) */
  readonly webhooks: string;
  /** an endpoint's recent delivery attempts: JSON entries, newest first, capped (list) */
  webhookLog(id: string): string;
  /** deliveries in flight to an endpoint: lease → expiry ms (sorted set; a crashed process's leases expire) */
  webhookInFlight(id: string): string;
  /** inbound routes: id → JSON {id, pattern, url, secret, enabled, createdAt} (hash) */
  readonly inboundRoutes: string;
  /** a message received on port 25 for inbound routes: raw bytes, envelope, jobs still to finish (hash with TTL) */
  inboundMessage(id: string): string;
  /** a route's recent POST attempts: JSON entries, newest first, capped (list) */
  inboundRouteLog(id: string): string;
}

export function createKeys(namespace: string): Keys {
  const tag = `{${namespace}}`;
  return {
    queuePrefix: tag,
    message: (id) => `${tag}:msg:${id}`,
    body: (id) => `${tag}:body:${id}`,
    recipients: (id) => `${tag}:rcpt:${id}`,
    events: (id) => `${tag}:ev:${id}`,
    reports: (id) => `${tag}:reports:${id}`,
    users: `${tag}:users`,
    apiTokens: `${tag}:tokens`,
    authFailures: (ip) => `${tag}:authfail:${ip}`,
    apiRateLimit: (tokenName) => `${tag}:apirate:${tokenName}`,
    domains: `${tag}:domains`,
    domainsVersion: `${tag}:domains:version`,
    siteConnections: (site) => `${tag}:site:${site}:conns`,
    siteRate: (site) => `${tag}:site:${site}:rate`,
    siteState: (site) => `${tag}:site:${site}:state`,
    siteWanted: (site) => `${tag}:site:${site}:wanted`,
    sites: `${tag}:sites`,
    mtaStsPolicy: (domain) => `${tag}:mtasts:${domain}`,
    troubledSites: `${tag}:sites:troubled`,
    domainEvents: (domain) => `${tag}:domev:${domain}`,
    domainRecheckLock: `${tag}:lock:domain-recheck`,
    secret: (name) => `${tag}:secret:${name}`,
    messageIndex: `${tag}:idx:msgs`,
    tagIndex: (t) => `${tag}:idx:tag:${t}`,
    recipientIndex: (address) => `${tag}:idx:rcpt:${address}`,
    idempotency: (digest) => `${tag}:idem:${digest}`,
    suppressions: `${tag}:suppressions`,
    softBounces: (address) => `${tag}:soft:${address}`,
    links: (id) => `${tag}:links:${id}`,
    engagement: (id) => `${tag}:eng:${id}`,
    clicks: (id) => `${tag}:clk:${id}`,
    eventStream: `${tag}:events`,
    statsCounters: (scope, hourStart) => `${tag}:stats:${scope}:${hourStart}`,
    statsLinks: (scope, hourStart) => `${tag}:statslinks:${scope}:${hourStart}`,
    statsPrefixes: { counters: `${tag}:stats:`, links: `${tag}:statslinks:` },
    webhooks: `${tag}:webhooks`,
    webhookLog: (id) => `${tag}:webhook:${id}:log`,
    webhookInFlight: (id) => `${tag}:webhook:${id}:inflight`,
    inboundRoutes: `${tag}:inroutes`,
    inboundMessage: (id) => `${tag}:inmsg:${id}`,
    inboundRouteLog: (id) => `${tag}:inroute:${id}:log`,
  };
}
