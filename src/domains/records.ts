/**
 * The DNS records an operator publishes for a sending domain, each with its purpose.
 *
 * Today: the DKIM key, SPF authorising this appliance (its `hostname`'s address), and a DMARC
 * policy to start with (p=none with aggregate reports). The return-path and tracking-host
 * records join when VERP and tracking arrive.
 */
import type { SendingDomain } from './domain-store.js';
import { splitTxt } from './dkim-key.js';

export interface DnsRecord {
  type: 'TXT' | 'MX' | 'CNAME';
  host: string;
  value: string;
  /** the value as DNS strings (TXT over 255 bytes is split) */
  strings?: string[];
  purpose: string;
}

export function recordsFor(domain: SendingDomain, hostname: string): DnsRecord[] {
  const dkim = domain.dkimRecord;
  const spf = `v=spf1 a:${hostname} ~all`;
  const dmarc = `v=DMARC1; p=none; rua=mailto:dmarc-reports@${domain.domain}`;
  return [
    { type: 'TXT', host: `${domain.selector}._domainkey.${domain.domain}`, value: dkim, strings: splitTxt(dkim), purpose: 'DKIM: the public key receivers use to check the signature on your mail' },
    { type: 'TXT', host: domain.domain, value: spf, strings: [spf], purpose: `SPF: allows ${hostname} to send for ${domain.domain} (merge into an existing v=spf1 record; never publish two)` },
    { type: 'TXT', host: `_dmarc.${domain.domain}`, value: dmarc, strings: [dmarc], purpose: 'DMARC: start with p=none and read the reports; keep a stricter policy if you already have one' },
  ];
}
