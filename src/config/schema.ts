/**
 * The config schema: every key Sokutatsu reads, its default and its constraint, in one place.
 *
 * Receives: the parsed YAML object (after env overrides).
 * Promises: a fully-defaulted, validated `Config`; unknown keys are errors (typos are caught).
 * config/production.example.yaml documents every key here; keep the two in step.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { REASONS } from '../bounce/rules.js';

const port = z.number().int().min(0).max(65535);

const cidr = z.string().refine(isCidr, { message: 'expected an IP address or CIDR such as 10.0.0.0/8 or ::1/128' });

function isCidr(value: string): boolean {
  const [addr, bits, extra] = value.split('/');
  if (extra !== undefined || !addr) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return Number.isInteger(n) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

const listener = z.strictObject({
  enabled: z.boolean().default(true),
  port,
});

const tlsFiles = z.strictObject({
  cert: z.string().default(''),
  key: z.string().default(''),
});

const smtpLimits = z.strictObject({
  /** recipients per message; the next RCPT gets 452 4.5.3 */
  maxRecipients: z.number().int().min(1).default(1000),
  /** concurrent connections from one IP address; more get 421 4.7.0 */
  maxConnectionsPerIp: z.number().int().min(1).default(50),
  /** concurrent connections per listener */
  maxConnections: z.number().int().min(1).default(1000),
  /** failed AUTH attempts on one connection before it is closed */
  authFailuresPerConnection: z.number().int().min(1).default(3),
  /** failed AUTH attempts from one IP within authLockoutSeconds before the IP is locked out */
  authFailuresPerIp: z.number().int().min(1).default(10),
  authLockoutSeconds: z.number().int().min(1).default(900),
  /** idle time on a connection before it is closed */
  socketTimeoutSeconds: z.number().int().min(1).default(300),
  /** total time a DATA transfer may take, however slowly the bytes trickle in */
  dataTimeoutSeconds: z.number().int().min(1).default(600),
  /** how long a client waits for Redis to store its message before it gets 451 4.3.0 */
  storeTimeoutSeconds: z.number().int().min(1).default(30),
});

const smtp = z.strictObject({
  host: z.string().default('0.0.0.0'),
  submission: listener.default({ enabled: true, port: 587 }),
  submissions: listener.default({ enabled: true, port: 465 }),
  inbound: listener.default({ enabled: true, port: 25 }),
  tls: tlsFiles.default({ cert: '', key: '' }),
  maxMessageSize: z.number().int().min(1024).default(26_214_400),
  trustedNetworks: z.array(cidr).default([]),
  limits: smtpLimits.default(smtpLimits.parse({})),
});

const routeMatch = z.string().refine((m) => m === '*' || /^(\*\.)?[a-z0-9.-]+$/i.test(m), {
  message: 'expected "*", "example.com" or "*.example.com"',
});

const route = z.strictObject({
  match: routeMatch,
  host: z.string().min(1),
  port: port.default(25),
  tls: z.enum(['opportunistic', 'required', 'none']).default('opportunistic'),
  auth: z.strictObject({ user: z.string().min(1), pass: z.string() }).optional(),
});

const retry = z
  .strictObject({
    firstDelaySeconds: z.number().int().min(1).default(60),
    maxDelaySeconds: z.number().int().min(1).default(3600),
    maxAgeSeconds: z.number().int().min(1).default(432_000),
  })
  .refine((r) => r.maxDelaySeconds >= r.firstDelaySeconds, {
    message: 'maxDelaySeconds must be >= firstDelaySeconds',
  });

/** Webhook delivery (src/webhooks/): where it may go, how long it may take, how long it is retried. */
const webhookSettings = z.strictObject({
  /** true allows loopback/private/link-local webhook URLs (tests, CRMs on the LAN); false refuses them (SSRF) */
  allowPrivateTargets: z.boolean().default(false),
  /** seconds one POST may take, from connecting to the end of the response; longer is a failure (retried) */
  timeoutSeconds: z.number().min(0.1).max(300).default(10),
  /** POSTs in flight to one endpoint at once, across every process and node */
  concurrencyPerEndpoint: z.number().int().min(1).max(1000).default(4),
  /** webhook jobs one process works on at once (over all endpoints) */
  concurrency: z.number().int().min(1).max(1000).default(16),
  /** failed POSTs are retried on this schedule (doubling, capped, jittered) until maxAgeSeconds after the event */
  retry: retry.default(retry.parse({ firstDelaySeconds: 30, maxDelaySeconds: 3600, maxAgeSeconds: 86_400 })),
  /** delivery log entries kept per endpoint (GET /api/v1/webhooks/:id/deliveries) */
  logSize: z.number().int().min(1).max(10_000).default(100),
});

/** Inbound routes (src/inbound/): mail received on port 25 for a route, parsed and POSTed as JSON (routes themselves: /api/v1/inbound-routes). */
const inboundRouteSettings = z.strictObject({
  /** attachments are POSTed base64 while they fit in what is left of this many bytes (a mail's attachments together, in order); one that does not fit is listed without content (contentOmitted: true) */
  attachmentContentBytes: z.number().int().min(0).max(50 * 1024 * 1024).default(5 * 1024 * 1024),
  /** inbound POST jobs one process works on at once */
  concurrency: z.number().int().min(1).max(100).default(4),
});

/** Limits of one destination site; in `sites` every field is optional (the rest comes from presets and `default`). */
const siteOverride = z.strictObject({
  /** simultaneous connections to the site across all processes and nodes */
  connections: z.number().int().min(1).optional(),
  /** messages per minute, spread evenly (not in bursts); 0: unlimited */
  perMinute: z.number().int().min(0).optional(),
  /** messages over one connection before it is closed (default: delivery.maxMessagesPerConnection) */
  messagesPerConnection: z.number().int().min(1).optional(),
  /** idle seconds before a connection is closed (default: delivery.idleConnectionSeconds) */
  idleSeconds: z.number().int().min(1).optional(),
});
const siteLimit = siteOverride.extend({
  connections: z.number().int().min(1).default(20),
  perMinute: z.number().int().min(0).default(0),
});

const backoff = z.strictObject({
  /** "try later" answers in a row (421, 4.7.x, refused connections) that make a site back off */
  threshold: z.number().int().min(1).default(3),
  /** first pause of a site that backs off; each further backoff doubles it up to maxPauseSeconds */
  firstPauseSeconds: z.number().int().min(1).default(30),
  maxPauseSeconds: z.number().int().min(1).default(1800),
  /** successful deliveries that earn a backed-off site one connection back */
  successesPerStep: z.number().int().min(1).default(10),
});

const delivery = z.strictObject({
  routes: z.array(route).default([]),
  retry: retry.default(retry.parse({})),
  throttle: z
    .strictObject({
      default: siteLimit.default({ connections: 20, perMinute: 0 }),
      sites: z.record(z.string(), siteOverride).default({}),
    })
    .default({ default: { connections: 20, perMinute: 0 }, sites: {} }),
  /** adaptive backoff of a site that pushes back (AIMD: halve its connections and pause, then add one back per successesPerStep) */
  backoff: backoff.default(backoff.parse({})),
  /** enforce MTA-STS (RFC 8461) policies of recipient domains: verified TLS to the MX hosts they name, else defer */
  mtaSts: z.boolean().default(true),
  /** port of MX hosts (25; another only for tests or networks that redirect outbound SMTP) */
  mxPort: port.default(25),
  /** the longest an MX answer is reused, in seconds: each is kept for its DNS TTL, at most this (0: never kept) */
  mxCacheSeconds: z.number().int().min(0).default(300),
  /** deliveries in progress at once in this process */
  concurrency: z.number().int().min(1).max(1000).default(50),
  /** seconds to wait for TCP connect + greeting, and for each SMTP reply */
  connectTimeoutSeconds: z.number().int().min(1).default(30),
  commandTimeoutSeconds: z.number().int().min(1).default(300),
  /** idle pooled connections to one host are closed after this long */
  idleConnectionSeconds: z.number().int().min(1).default(10),
  /** messages sent over one connection before it is closed and a new one opened */
  maxMessagesPerConnection: z.number().int().min(1).default(100),
});

/**
 * Mailbox providers whose DMARC policy (p=reject / quarantine) makes mail From their addresses
 * fail when sent by any other server: such From domains are refused at intake.
 */
export const FREE_MAIL_DOMAINS = [
  'gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.jp', 'ymail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com',
  'icloud.com', 'me.com', 'mac.com', 'aol.com', 'gmx.com', 'gmx.net', 'web.de', 'mail.ru', 'yandex.ru', 'proton.me', 'protonmail.com',
  'docomo.ne.jp', 'ezweb.ne.jp', 'au.com', 'softbank.ne.jp', 'i.softbank.jp',
];

const policy = z.strictObject({
  requireVerifiedDomains: z.boolean().default(true),
  /** From domains (and their subdomains) refused with 550 5.7.1: free-mail providers that publish strict DMARC */
  freeMailDomains: z.array(z.string().min(1).transform((d) => d.toLowerCase())).default(FREE_MAIL_DOMAINS),
});

const dnsSettings = z.strictObject({
  /** DNS servers to ask ("192.0.2.53", "[2001:db8::53]:53", "127.0.0.1:5353"); empty: the system's (/etc/resolv.conf) */
  servers: z.array(z.string().min(1)).default([]),
  /** seconds before one lookup is given up (counts as a temporary failure, never as "no such domain") */
  timeoutSeconds: z.number().int().min(1).max(60).default(5),
});

const domainLabel = z.string().regex(/^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)?$/i, { message: 'expected one DNS label (letters, digits, -) or ""' });

const domainSettings = z.strictObject({
  /** secret that encrypts DKIM private keys stored in Redis (AES-256-GCM); or SOKUTATSU_KEY_ENCRYPTION_KEY. Empty: keys stored as PEM */
  keyEncryptionKey: z.string().default(''),
  /** what the SPF records authorise; all empty: "a:<hostname>" (the address hostname resolves to) */
  spf: z
    .strictObject({
      ip4: z.array(cidr.refine((v) => isIP(v.split('/')[0] ?? '') === 4, { message: 'expected an IPv4 address or CIDR' })).default([]),
      ip6: z.array(cidr.refine((v) => isIP(v.split('/')[0] ?? '') === 6, { message: 'expected an IPv6 address or CIDR' })).default([]),
      include: z.array(z.string().min(1)).default([]),
    })
    .default({ ip4: [], ip6: [], include: [] }),
  /** label of the return-path subdomain (<label>.<domain>: MX to hostname, its own SPF) used as envelope sender */
  returnPathLabel: domainLabel.default('rp'),
  /** label of the tracking host (<label>.<domain> CNAME to http.publicUrl's host); "" for none */
  trackingLabel: domainLabel.default('track'),
  /** where DMARC aggregate reports go (rua); empty: dmarc-reports@<domain> */
  dmarcReportAddress: z.string().default(''),
  /** seconds between automatic DNS re-checks of every sending domain; 0: only `domain verify` checks */
  recheckIntervalSeconds: z.number().int().min(0).default(3600),
  /** seconds the record of a replaced DKIM key should stay published after rotation */
  rotationGraceSeconds: z.number().int().min(0).default(604_800),
});

const regexSource = z.string().min(1).refine((v) => {
  try {
    new RegExp(v, 'i');
    return true;
  } catch {
    return false;
  }
}, { message: 'expected a valid regular expression (JavaScript syntax)' });

/** one operator bounce rule: every given condition must match (see src/bounce/rules.ts) */
const bounceRule = z
  .strictObject({
    reason: z.enum(REASONS),
    /** regex on the enhanced status code, e.g. "^5\\.7\\.1$" */
    status: regexSource.optional(),
    /** regex on the SMTP reply code, e.g. "^55[0-4]$" */
    code: regexSource.optional(),
    /** case-insensitive regex on the diagnostic text */
    pattern: regexSource.optional(),
    why: z.string().optional(),
  })
  .refine((r) => r.status !== undefined || r.code !== undefined || r.pattern !== undefined, { message: 'a bounce rule needs at least one of status, code, pattern' });

const bounce = z.strictObject({
  /** checked in order before the built-in rule table */
  rules: z.array(bounceRule).default([]),
});

const suppression = z.strictObject({
  /** soft bounces (mailbox full, suspended, expired…) in a row that suppress an address… */
  softBounceCount: z.number().int().min(1).default(3),
  /** …when they span at least this many hours (one bad day must not lose a subscriber) */
  softBounceMinHours: z.number().min(0).default(72),
});

/** what a message's copies track: X-Sokutatsu-Track's values */
export const TRACK_CHOICES = ['none', 'opens', 'clicks', 'opens,clicks'] as const;

const tracking = z.strictObject({
  /** the open pixel in HTML parts, unless the message's X-Sokutatsu-Track or its tag says otherwise */
  opens: z.boolean().default(true),
  /** click tracking of http(s) links in HTML parts, unless X-Sokutatsu-Track or the tag says otherwise */
  clicks: z.boolean().default(true),
  /** per X-Sokutatsu-Tag: what mail with that tag tracks (e.g. transactional: none); the message's X-Sokutatsu-Track wins */
  tags: z.record(z.string().min(1), z.enum(TRACK_CHOICES)).default({}),
  /** an invisible link beside the pixel: a client that "clicks" it is a scanner, and so are its other clicks */
  honeypot: z.boolean().default(true),
  /** which mail gets List-Unsubscribe (one-click, RFC 8058) and List-Unsubscribe-Post: tagged (bulk) mail, all, or none; a message that has its own List-Unsubscribe keeps it */
  listUnsubscribe: z.enum(['tagged', 'all', 'none']).default('tagged'),
  /** seconds links and engagement data are kept; 0: store.retentionSeconds + delivery.retry.maxAgeSeconds */
  retentionSeconds: z.number().int().min(0).default(0),
  /** a click sooner than this after delivery, or an open sooner than openDelaySeconds, counts as a machine (scanner, prefetch) */
  machine: z
    .strictObject({ clickDelaySeconds: z.number().min(0).default(10), openDelaySeconds: z.number().min(0).default(2) })
    .default({ clickDelaySeconds: 10, openDelaySeconds: 2 }),
});

/** the event stream (what webhooks and other followers read) and the statistics counters (src/events) */
const events = z.strictObject({
  /** seconds an event stays in the stream (older entries are trimmed as new ones arrive); 0: no time limit */
  retentionSeconds: z.number().int().min(0).default(604_800),
  /** entries the stream keeps at most (trimmed approximately, in whole blocks of ~100); 0: no length limit */
  maxLength: z.number().int().min(0).default(1_000_000),
  /** days the hourly statistics counters are kept */
  statsRetentionDays: z.number().int().min(1).default(400),
});

export const configSchema = z.strictObject({
  hostname: z.string().min(1).default('localhost'),
  /** worker processes for SMTP and delivery: 1 (one process), N, or "auto" (one per core) */
  processes: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default(1),
  dataDir: z.string().min(1).default('./var'),
  log: z
    .strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') })
    .default({ level: 'info' }),
  redis: z
    .strictObject({
      url: z.string().default(''),
      /** key namespace (a Redis Cluster hash tag): several installations may share one Redis */
      namespace: z.string().regex(/^[A-Za-z0-9_-]+$/).default('sokutatsu'),
    })
    .default({ url: '', namespace: 'sokutatsu' }),
  smtp: smtp.default(smtp.parse({})),
  policy: policy.default(policy.parse({})),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().default('0.0.0.0'),
      port: port.default(8025),
      publicUrl: z.url().default('http://localhost:8025'),
      /** reverse proxies in front of the HTTP port: the client address is the X-Forwarded-For entry the outermost one added; 0 = the socket's address */
      trustProxyHops: z.number().int().min(0).max(10).default(0),
    })
    .default({ enabled: true, host: '0.0.0.0', port: 8025, publicUrl: 'http://localhost:8025', trustProxyHops: 0 }),
  admin: z
    .strictObject({
      token: z.string().default(''),
      /** admin API requests per minute per token, shared by every node through Redis (GCRA; burst = one minute's worth); 0: unlimited */
      rateLimitPerMinute: z.number().int().min(0).default(6000),
    })
    .default({ token: '', rateLimitPerMinute: 6000 }),
  metrics: z
    .strictObject({
      /** when set, GET /metrics needs `Authorization: Bearer <token>` (or SOKUTATSU_METRICS_TOKEN) */
      token: z.string().default(''),
      /** serve /metrics on this port instead of http.port (only there); absent: on http.port */
      port: port.optional(),
      /** address of that port (default: loopback only) */
      host: z.string().default('127.0.0.1'),
    })
    .default({ token: '', host: '127.0.0.1' }),
  delivery: delivery.default(delivery.parse({})),
  store: z
    .strictObject({
      /** seconds a message's envelope, recipient states and events are kept after every recipient is final */
      retentionSeconds: z.number().int().min(0).default(604_800),
      /** seconds the message body is kept after every recipient is final (bodies dominate memory) */
      bodyRetentionSeconds: z.number().int().min(0).default(0),
    })
    .default({ retentionSeconds: 604_800, bodyRetentionSeconds: 0 }),
  dns: dnsSettings.default(dnsSettings.parse({})),
  domains: domainSettings.default(domainSettings.parse({})),
  webhooks: webhookSettings.default(webhookSettings.parse({})),
  inbound: inboundRouteSettings.default(inboundRouteSettings.parse({})),
  bounce: bounce.default({ rules: [] }),
  suppression: suppression.default(suppression.parse({})),
  tracking: tracking.default(tracking.parse({})),
  events: events.default(events.parse({})),
  shutdown: z
    .strictObject({
      /** seconds SIGTERM waits for SMTP transactions and deliveries in flight */
      graceSeconds: z.number().int().min(1).default(30),
    })
    .default({ graceSeconds: 30 }),
});

export type Config = z.infer<typeof configSchema>;
export type Route = z.infer<typeof route>;
export type RetryPolicy = z.infer<typeof retry>;
