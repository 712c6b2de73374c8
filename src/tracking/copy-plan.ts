/**
 * What one recipient's copy of a message carries for engagement: which links and pixel the
 * rewriter puts in (tokens for this message and recipient, under http.publicUrl or the sending
 * domain's verified tracking host), and the List-Unsubscribe fields of bulk mail.
 *
 * Receives: the stored message's envelope (its X-Sokutatsu-Track and tag), the recipient index,
 * the sending domain's tracking host, and the domain whose port 25 takes unsubscribe mail.
 * Promises: the message's own X-Sokutatsu-Track wins over its tag's setting (tracking.tags),
 * which wins over tracking.opens / tracking.clicks; a link whose URL may not be stored (not
 * http(s), control characters) or past MAX_LINKS is left as written; nothing here touches Redis.
 */
import type { Config } from '../config/schema.js';
import type { StoredMessage } from '../store/types.js';
import type { TrackingOptions } from '../transform/tracking-rewrite.js';
import { MAX_LINKS, storableUrl } from './links.js';
import { isTrackingUrl, recipientUrls, type RecipientUrls, type TrackingTokens } from './tokens.js';

export interface CopyPlan {
  /**
   * null: nothing to rewrite; else what the rewriter needs, made when asked — only for a message
   * that has HTML (the tokens' HMACs cost ~2% of a worker's CPU when made for every plain-text copy)
   */
  tracking: (() => TrackingOptions) | null;
  /** header fields to add ("Name: value\r\n"), unless the message has its own List-Unsubscribe */
  listUnsubscribe: string[] | null;
}

export interface CopyContext {
  message: Pick<StoredMessage, 'id' | 'tag' | 'track'>;
  rcpt: number;
  /** <trackingLabel>.<domain> of the sending domain when its CNAME checked ok */
  trackingHost: string | null;
  /** where u+TOKEN@… mail reaches our port 25 (the return-path host or our hostname) */
  mailboxDomain: string;
}

export function planCopy(ctx: CopyContext, config: Pick<Config, 'tracking' | 'http'>, tokens: TrackingTokens): CopyPlan {
  const settings = config.tracking;
  const { opens, clicks } = trackedFeatures(ctx.message, settings);
  const publicBase = config.http.publicUrl;
  const base = ctx.trackingHost ? onHost(publicBase, ctx.trackingHost) : publicBase;
  let made: RecipientUrls | null = null;
  const urls = () => (made ??= recipientUrls(tokens, base, ctx.message.id, ctx.rcpt));
  const bases = ctx.trackingHost ? [publicBase, base] : [publicBase];
  const tracking = opens || clicks
    ? (): TrackingOptions => ({
        clickUrl: clicks ? (index, url) => (index < MAX_LINKS && storableUrl(url) !== null ? urls().click(index) : null) : null,
        pixelUrl: opens ? urls().open : null,
        honeypotUrl: clicks && settings.honeypot ? urls().honeypot : null,
        isTrackingUrl: (url) => isTrackingUrl(url, bases),
        maxLinks: MAX_LINKS,
      })
    : null;
  const bulk = settings.listUnsubscribe === 'all' || (settings.listUnsubscribe === 'tagged' && ctx.message.tag !== null);
  const listUnsubscribe = bulk
    ? [`List-Unsubscribe: <${urls().unsubscribe}>,\r\n <mailto:${urls().unsubscribeMailbox(ctx.mailboxDomain)}>\r\n`, 'List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n']
    : null;
  return { tracking, listUnsubscribe };
}

/** Opens and clicks for this message: its X-Sokutatsu-Track, else its tag's setting, else the defaults. */
export function trackedFeatures(message: Pick<StoredMessage, 'tag' | 'track'>, settings: Config['tracking']): { opens: boolean; clicks: boolean } {
  const choice = message.track ?? (message.tag !== null ? settings.tags[message.tag] : undefined);
  if (!choice) return { opens: settings.opens, clicks: settings.clicks };
  const parts = choice.split(',');
  return { opens: parts.includes('opens'), clicks: parts.includes('clicks') };
}

/** publicUrl with its host replaced (scheme, port and path kept: the CNAME points at publicUrl's host). */
function onHost(publicUrl: string, host: string): string {
  const url = new URL(publicUrl);
  url.hostname = host;
  return url.toString().replace(/\/+$/, '');
}
