/**
 * The DNS records an operator publishes for a sending domain, each with its purpose.
 *
 * Receives: the domain's state (keys, the DMARC record found at the last check) and the
 * settings that shape the records (hostname, SPF mechanisms, return-path and tracking labels).
 * Promises: DKIM TXT for every key that must be (or stay) published, SPF for the domain, DMARC
 * (the existing policy kept when there is one, else p=none with reports), the return-path
 * subdomain (MX to hostname + its own SPF) that is the envelope sender, and the tracking-host
 * CNAME. `required` records decide "verified"; the others are advice.
 */
import type { Config } from '../config/schema.js';
import { isDomainName } from '../mime/address.js';
import type { DomainState } from './domain-store.js';
import { splitTxt } from './dkim-key.js';

export type RecordKind = 'dkim' | 'dkim-pending' | 'dkim-retired' | 'spf' | 'dmarc' | 'return-path-mx' | 'return-path-spf' | 'tracking';

export interface DnsRecord {
  kind: RecordKind;
  type: 'TXT' | 'MX' | 'CNAME';
  host: string;
  value: string;
  /** TXT: the value as DNS strings (over 255 bytes it is split) */
  strings?: string[];
  /** MX preference */
  priority?: number;
  /** must be found for the domain to count as verified */
  required: boolean;
  /** DKIM records: the key's selector */
  selector?: string;
  purpose: string;
}

export type RecordSettings = Pick<Config, 'hostname' | 'domains'> & { http: Pick<Config['http'], 'publicUrl'> };

export function recordsFor(d: Pick<DomainState, 'domain' | 'keys' | 'existingDmarc'>, settings: RecordSettings, now = Date.now()): DnsRecord[] {
  const mechanisms = spfMechanisms(settings);
  const rpHost = returnPathHost(d.domain, settings);
  const records: DnsRecord[] = [...dkimRecords(d, settings, now)];
  records.push(txt('spf', d.domain, `v=spf1 ${mechanisms} ~all`, true, `SPF: allows ${describe(settings)} to send for ${d.domain} (merge into an existing v=spf1 record; never publish two)`));
  records.push(dmarcRecord(d, settings));
  if (rpHost) {
    records.push({ kind: 'return-path-mx', type: 'MX', host: rpHost, value: settings.hostname, priority: 10, required: true, purpose: `Return-path: bounces to the envelope sender (…@${rpHost}) come back to ${settings.hostname}` });
    records.push(txt('return-path-spf', rpHost, `v=spf1 ${mechanisms} -all`, true, `SPF of the return-path: receivers check it against the envelope sender; it aligns with ${d.domain} for DMARC`));
  }
  const tracking = trackingRecord(d.domain, settings);
  if (tracking) records.push(tracking);
  return records;
}

/** The envelope-sender domain of mail from `domain`, or null when no return-path label is configured. */
export function returnPathHost(domain: string, settings: Pick<Config, 'domains'>): string | null {
  return settings.domains.returnPathLabel ? `${settings.domains.returnPathLabel}.${domain}` : null;
}

function dkimRecords(d: Pick<DomainState, 'domain' | 'keys'>, settings: RecordSettings, now: number): DnsRecord[] {
  const out: DnsRecord[] = [];
  const order = { active: 0, pending: 1, retired: 2 };
  for (const k of [...d.keys].sort((a, b) => order[a.state] - order[b.state])) {
    const host = `${k.selector}._domainkey.${d.domain}`;
    if (k.state === 'active') {
      out.push({ ...txt('dkim', host, k.record, true, `DKIM: the public key receivers use to check the signature on your mail (selector ${k.selector}, ${k.keyType})`), selector: k.selector });
    } else if (k.state === 'pending') {
      out.push({ ...txt('dkim-pending', host, k.record, false, `DKIM, new key (rotation): publish it now; Sokutatsu signs with it once this record verifies, and the current key's record can go after the grace period`), selector: k.selector });
    } else if (k.retiredAt) {
      const removeAfter = Date.parse(k.retiredAt) + settings.domains.rotationGraceSeconds * 1000;
      if (removeAfter > now) {
        out.push({ ...txt('dkim-retired', host, k.record, false, `DKIM, replaced key: keep it published until ${new Date(removeAfter).toISOString()} (mail signed with it may still be checked), then delete it`), selector: k.selector });
      }
    }
  }
  return out;
}

function dmarcRecord(d: Pick<DomainState, 'domain' | 'existingDmarc'>, settings: RecordSettings): DnsRecord {
  const host = `_dmarc.${d.domain}`;
  if (d.existingDmarc) {
    const policy = tagValue(d.existingDmarc, 'p') ?? 'none';
    const strictSpf = tagValue(d.existingDmarc, 'aspf') === 's';
    return txt('dmarc', host, d.existingDmarc, true, `DMARC: your existing policy (p=${policy}) is kept as it is${strictSpf ? '; note aspf=s: SPF cannot align through the return-path subdomain, so DMARC passes on the DKIM signature alone' : ''}`);
  }
  const rua = settings.domains.dmarcReportAddress || `dmarc-reports@${d.domain}`;
  return txt('dmarc', host, `v=DMARC1; p=none; rua=mailto:${rua}`, true, `DMARC: none published yet; start with p=none and read the reports sent to ${rua} before moving to quarantine or reject`);
}

function trackingRecord(domain: string, settings: RecordSettings): DnsRecord | null {
  const label = settings.domains.trackingLabel;
  const target = new URL(settings.http.publicUrl).hostname;
  // A CNAME must point at a name: an IP address or localhost in publicUrl cannot be a target.
  if (!label || !isDomainName(target) || target === 'localhost') return null;
  return { kind: 'tracking', type: 'CNAME', host: `${label}.${domain}`, value: target, required: false, purpose: `Tracking host (optional): links and the open pixel in mail from ${domain} then point at your own domain instead of ${target}` };
}

function spfMechanisms(settings: RecordSettings): string {
  const { ip4, ip6, include } = settings.domains.spf;
  const list = [...ip4.map((a) => `ip4:${a}`), ...ip6.map((a) => `ip6:${a}`), ...include.map((i) => `include:${i}`)];
  return list.length ? list.join(' ') : `a:${settings.hostname}`;
}

function describe(settings: RecordSettings): string {
  const { ip4, ip6, include } = settings.domains.spf;
  return ip4.length + ip6.length + include.length ? 'this appliance' : `${settings.hostname} (its address)`;
}

function txt(kind: RecordKind, host: string, value: string, required: boolean, purpose: string): DnsRecord {
  return { kind, type: 'TXT', host, value, strings: splitTxt(value), required, purpose };
}

/** A tag of a tag=value record (DKIM, DMARC), whitespace removed, lower-case name. */
export function tagValue(record: string, name: string): string | undefined {
  for (const part of record.split(';')) {
    const [k, ...v] = part.split('=');
    if (k?.trim().toLowerCase() === name) return v.join('=').replace(/\s+/g, '');
  }
  return undefined;
}
