/**
 * Is an open or a click likely a machine's? Privacy proxies prefetch every pixel and security
 * scanners fetch every link, so counting them as people inflates opens and clicks.
 *
 * Receives: what the request and the recipient's state showed (all passed in: a pure function).
 * Promises: a verdict with the reason for it, either way. These are HEURISTICS: a person behind an
 * odd client can be taken for a machine and a scanner that imitates a browser for a person. Every
 * rule below says what it rests on; the stats keep human and machine counts apart instead of
 * throwing either away, so a wrong rule skews a split, not the totals.
 */

export interface RequestFacts {
  /** honeypot: the invisible link the rewriter adds, which no person sees */
  kind: 'open' | 'click' | 'honeypot';
  method: string;
  userAgent: string;
  ip: string;
  /** epoch ms of the request */
  at: number;
  /** epoch ms the copy was delivered (the recipient's state), null when unknown (e.g. bounced later) */
  deliveredAt: number | null;
  /** no delivery of the copy is recorded (queued, deferred, expired…): a server that was still taking it, or refused it, fetched it */
  undelivered: boolean;
  link?: number;
  /** the recipient's previous click, for bursts across links */
  previousClick?: { at: number; ip: string; link: number } | null;
  /** the last fetch of the recipient's honeypot link */
  honeypotHit?: { at: number; ip: string } | null;
}

export interface MachineOptions {
  /** a click sooner than this after delivery is a scanner's (config: tracking.machine.clickDelaySeconds) */
  clickDelaySeconds: number;
  /** an open sooner than this after delivery is a prefetch (config: tracking.machine.openDelaySeconds) */
  openDelaySeconds: number;
}

export const DEFAULT_MACHINE_OPTIONS: MachineOptions = { clickDelaySeconds: 10, openDelaySeconds: 2 };

export interface Verdict {
  machine: boolean;
  why: string;
}

/**
 * Scanners and tools that say who they are. Mail security gateways (Proofpoint, Mimecast,
 * Barracuda, Microsoft Safe Links' BingPreview, …) fetch links when mail arrives or is clicked;
 * HTTP libraries and headless browsers are never a person reading mail; link-preview bots fetch
 * what is pasted into chats. Many scanners send a plain browser agent instead: the timing rules
 * below catch some of those.
 */
const SCANNER_AGENTS: [RegExp, string][] = [
  [/bingpreview/i, 'Microsoft BingPreview (Outlook / Safe Links scanner)'],
  [/barracuda/i, 'Barracuda scanner'],
  [/proofpoint/i, 'Proofpoint scanner'],
  [/mimecast/i, 'Mimecast scanner'],
  [/symantec|messagelabs|trend ?micro|forcepoint|sophos|fortiguard|ironport|zscaler|trustwave|fireeye|vadesecure|hornetsecurity|spamtitan|checkpoint/i, 'mail security scanner'],
  [/headlesschrome|phantomjs|puppeteer|playwright|selenium|slimerjs/i, 'headless browser'],
  [/python-requests|python-urllib|aiohttp|python-httpx|scrapy/i, 'Python HTTP client'],
  [/^curl\/|\bwget\//i, 'command-line HTTP client'],
  [/go-http-client/i, 'Go HTTP client'],
  [/\bjava\/|okhttp|apache-httpclient|jakarta commons/i, 'Java HTTP client'],
  [/libwww-perl|\blwp::/i, 'Perl HTTP client'],
  [/node-fetch|\baxios\/|\bundici\b|\bgot\b \(/i, 'Node.js HTTP client'],
  [/facebookexternalhit|slackbot|twitterbot|linkedinbot|whatsapp|telegrambot|discordbot|skypeuripreview/i, 'link preview bot'],
  [/microsoft office existence discovery/i, 'Microsoft Office link check'],
  // "Googlebot/2.1", "AhrefsBot/7.0", "… crawler": a name ending in bot before a version, not a phone called Cubot.
  [/bot\/|\b(bot|crawler|spider|scanner)\b/i, 'self-declared bot'],
];

/**
 * Apple Mail Privacy Protection fetches every remote image through Apple's proxies soon after the
 * mail reaches the device, opened or not. Its requests carry the bare user agent "Mozilla/5.0",
 * which no browser sends (observed and published by several ESPs since iOS 15; Apple documents
 * neither). They come from Apple's network: 17.0.0.0/8 is Apple's own allocation (ARIN), so an
 * open from there is taken for the proxy too; Apple's Private Relay egress (Akamai, Cloudflare,
 * Fastly ranges) is not listed, as people browse through it.
 */
const APPLE_PROXY_AGENT = 'Mozilla/5.0';
const APPLE_NETWORK_FIRST_OCTET = 17;

/**
 * Gmail and Yahoo load images through their own proxies when the person opens the message (they
 * show no sender the reader's address), so an open through them counts as a person's. Both are
 * also seen to fetch right after delivery; the open delay rule takes those as prefetches.
 */
const OPEN_ON_VIEW_PROXIES: [RegExp, string][] = [
  [/GoogleImageProxy/, 'Gmail image proxy (fetches when the message is opened)'],
  [/YahooMailProxy/, 'Yahoo Mail image proxy (fetches when the message is opened)'],
];

/** A second link clicked this soon by the same client is a scanner walking the links. */
const BURST_MS = 2_000;
/** Later clicks by a client that fetched the honeypot this recently are its too. */
const HONEYPOT_MEMORY_MS = 10 * 60_000;

export function classifyRequest(f: RequestFacts, options: MachineOptions = DEFAULT_MACHINE_OPTIONS): Verdict {
  return requestSignal(f) ?? timingSignal(f, options) ?? historySignal(f) ?? personVerdict(f);
}

function requestSignal(f: RequestFacts): Verdict | null {
  if (f.kind === 'honeypot') return machine('fetched the invisible honeypot link no person sees');
  if (f.method.toUpperCase() === 'HEAD') return machine('HEAD request: link checkers use it, browsers GET');
  const agent = f.userAgent.trim();
  if (!agent) return machine('no user agent');
  const scanner = SCANNER_AGENTS.find(([pattern]) => pattern.test(agent));
  if (scanner) return machine(`user agent of a ${scanner[1]}`);
  if (agent === APPLE_PROXY_AGENT) return machine('Apple Mail Privacy Protection proxy (user agent "Mozilla/5.0" alone)');
  if (f.kind === 'open' && isAppleNetwork(f.ip)) return machine('Apple Mail Privacy Protection proxy (Apple network 17.0.0.0/8)');
  return null;
}

function timingSignal(f: RequestFacts, options: MachineOptions): Verdict | null {
  const what = f.kind === 'open' ? 'opened' : 'clicked';
  if (f.undelivered) return machine(`${what} while no delivery of this copy was recorded: a scanner at a receiving server`);
  if (f.deliveredAt === null) return null;
  const seconds = (f.at - f.deliveredAt) / 1000;
  const limit = f.kind === 'open' ? options.openDelaySeconds : options.clickDelaySeconds;
  return seconds < limit ? machine(`${what} ${seconds.toFixed(1)} s after delivery (under ${limit} s: a prefetch or scanner)`) : null;
}

function historySignal(f: RequestFacts): Verdict | null {
  if (f.kind !== 'click') return null;
  const pot = f.honeypotHit;
  if (pot && pot.ip === f.ip && f.at - pot.at < HONEYPOT_MEMORY_MS) return machine('the same client fetched the honeypot link');
  const prev = f.previousClick;
  if (prev && prev.ip === f.ip && prev.link !== f.link && f.at - prev.at < BURST_MS) {
    return machine(`another link clicked ${f.at - prev.at} ms before by the same client: a scanner walking the links`);
  }
  return null;
}

function personVerdict(f: RequestFacts): Verdict {
  const proxy = f.kind === 'open' ? OPEN_ON_VIEW_PROXIES.find(([pattern]) => pattern.test(f.userAgent)) : undefined;
  return { machine: false, why: proxy ? proxy[1] : 'no sign of a machine' };
}

function machine(why: string): Verdict {
  return { machine: true, why };
}

function isAppleNetwork(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) && Number(v4.split('.')[0]) === APPLE_NETWORK_FIRST_OCTET;
}
