/**
 * The site class of a destination: a bounded label for metrics (`site_class`), so Prometheus
 * never gets one series per recipient domain. Derived from the site name (delivery/sites.ts:
 * the registered domain of the first MX) or, before routing, from the recipient domain.
 *
 * Promises: one of SITE_CLASSES, always; a name not listed is "other".
 */
export const SITE_CLASSES = ['google', 'microsoft', 'yahoo', 'apple', 'docomo', 'au', 'softbank', 'other'] as const;
export type SiteClass = (typeof SITE_CLASSES)[number];

/** Site names (the presets' MX domains) and the recipient domains that go to them. */
const CLASS_OF: Record<string, SiteClass> = {
  'google.com': 'google', 'gmail.com': 'google', 'googlemail.com': 'google',
  'outlook.com': 'microsoft', 'hotmail.com': 'microsoft', 'live.com': 'microsoft', 'msn.com': 'microsoft', 'hotmail.co.jp': 'microsoft', 'outlook.jp': 'microsoft', 'microsoft.com': 'microsoft',
  'yahoodns.net': 'yahoo', 'yahoo.com': 'yahoo', 'yahoo.co.jp': 'yahoo', 'aol.com': 'yahoo', 'ymail.com': 'yahoo',
  'icloud.com': 'apple', 'me.com': 'apple', 'mac.com': 'apple', 'apple.com': 'apple',
  'docomo.ne.jp': 'docomo',
  'ezweb.ne.jp': 'au', 'au.com': 'au', 'kddi.com': 'au',
  'softbank.jp': 'softbank', 'softbank.ne.jp': 'softbank', 'i.softbank.jp': 'softbank',
};

export function siteClass(siteOrDomain: string | null | undefined): SiteClass {
  if (!siteOrDomain) return 'other';
  const name = siteOrDomain.toLowerCase();
  // Also a subdomain of a listed name (a route's domain, mx hosts named by a subdomain).
  for (let d = name; d.includes('.'); d = d.slice(d.indexOf('.') + 1)) {
    const c = CLASS_OF[d];
    if (c) return c;
  }
  return 'other';
}
