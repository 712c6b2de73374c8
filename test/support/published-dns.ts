/**
 * Publishing what `domain records` advises into the test DNS server, and a mailauth resolver
 * over it — the receiver's view of the operator's DNS.
 */
import type { DNSResolver } from 'mailauth';
import type { DnsRecord } from '../../src/domains/records.js';
import { createResolver } from '../../src/dns.js';
import type { DnsTestServer, Zone } from './dns-server.js';

/** Sets every name the records use (replacing what the server had for those names), plus `extra`. */
export function publish(server: DnsTestServer, records: Pick<DnsRecord, 'type' | 'host' | 'value' | 'strings' | 'priority'>[], extra: Zone = {}): void {
  const zone: Zone = structuredClone(extra);
  for (const r of records) {
    const entry = (zone[r.host] ??= {});
    if (r.type === 'TXT') (entry.TXT ??= []).push(r.strings ?? [r.value]);
    if (r.type === 'MX') (entry.MX ??= []).push({ exchange: r.value, priority: r.priority ?? 10 });
    if (r.type === 'CNAME') entry.CNAME = r.value;
  }
  for (const [name, entry] of Object.entries(zone)) server.set(name, entry);
}

/** mailauth's `resolver(name, type)` over the test DNS server. */
export function mailauthResolver(server: DnsTestServer): DNSResolver {
  const r = createResolver({ servers: [server.address], timeoutSeconds: 2 });
  return async (name, type) => {
    switch (type) {
      case 'TXT': return r.resolveTxt(name);
      // mailauth reads MX answers as node returns them; its declared type only covers TXT/A.
      case 'MX': return (await r.resolveMx(name)) as unknown as string[];
      case 'A': return r.resolve4(name);
      case 'AAAA': return r.resolve6(name);
      case 'CNAME': return r.resolveCname(name);
      default: throw Object.assign(new Error(`no ${type} lookups in tests`), { code: 'ENOTFOUND' });
    }
  };
}
