import { describe, expect, it } from 'vitest';
import { SITE_CLASSES, siteClass } from './site-class.js';
import { SITE_PRESETS } from './sites.js';

describe('siteClass', () => {
  it('names every preset site and its recipient domains, subdomains included; the rest is other', () => {
    expect(siteClass('google.com')).toBe('google');
    expect(siteClass('gmail.com')).toBe('google');
    expect(siteClass('outlook.com')).toBe('microsoft');
    expect(siteClass('mail.protection.outlook.com')).toBe('microsoft');
    expect(siteClass('yahoodns.net')).toBe('yahoo');
    expect(siteClass('yahoo.co.jp')).toBe('yahoo');
    expect(siteClass('icloud.com')).toBe('apple');
    expect(siteClass('docomo.ne.jp')).toBe('docomo');
    expect(siteClass('ezweb.ne.jp')).toBe('au');
    expect(siteClass('au.com')).toBe('au');
    expect(siteClass('i.softbank.jp')).toBe('softbank');
    expect(siteClass('softbank.ne.jp')).toBe('softbank');
    expect(siteClass('Example.COM')).toBe('other');
    expect(siteClass('com')).toBe('other');
    expect(siteClass(null)).toBe('other');
    for (const site of Object.keys(SITE_PRESETS)) expect(siteClass(site), site).not.toBe('other');
    expect(new Set(Object.keys(SITE_PRESETS).map(siteClass)).size).toBe(SITE_CLASSES.length - 1);
  });
});
