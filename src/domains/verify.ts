/**
 * Checking that a sending domain's DNS records are published as `domain records` says.
 *
 * Receives: the records the domain should have and a DNS resolver (injected: tests and
 * air-gapped installs never query the internet). Promises: one result per record — ok,
 * missing, or mismatch with what was expected and found, plus a one-line fix. A lookup that
 * fails for a reason other than "no such record" (timeout, SERVFAIL) is reported as missing
 * with `lookupError` set, so callers can tell "not published" from "could not look".
 */
import type { DnsResolver } from '../dns.js';
import { withDeadline } from '../deadline.js';
import { tagValue, type DnsRecord } from './records.js';

export type RecordResolver = Pick<DnsResolver, 'resolveTxt' | 'resolveMx' | 'resolveCname'>;

export interface RecordCheck {
  kind: DnsRecord['kind'];
  host: string;
  type: DnsRecord['type'];
  purpose: string;
  required: boolean;
  selector?: string;
  status: 'ok' | 'missing' | 'mismatch';
  expected: string;
  found: string[];
  fix: string | null;
  /** why the lookup itself failed (ETIMEOUT, ESERVFAIL …): the record may well be there */
  lookupError?: string;
}

/** Definite answers: the name or the record type does not exist. */
const ABSENT = new Set(['ENOTFOUND', 'ENODATA']);

export async function verifyRecords(records: DnsRecord[], resolver: RecordResolver, timeoutMs = 10_000): Promise<RecordCheck[]> {
  // A replaced key's record is on its way out: nothing to check.
  const checked = records.filter((r) => r.kind !== 'dkim-retired');
  return Promise.all(checked.map((r) => checkRecord(r, resolver, timeoutMs)));
}

async function checkRecord(record: DnsRecord, resolver: RecordResolver, timeoutMs: number): Promise<RecordCheck> {
  const base = {
    kind: record.kind, host: record.host, type: record.type, purpose: record.purpose, required: record.required,
    ...(record.selector ? { selector: record.selector } : {}), expected: record.value,
  };
  let found: string[];
  try {
    found = await withDeadline(lookup(record, resolver), timeoutMs, 'ETIMEOUT');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const publish = `publish ${describeRecord(record)}`;
    if (ABSENT.has(code)) return { ...base, status: 'missing', found: [], fix: publish };
    return { ...base, status: 'missing', found: [], fix: `${publish} (the lookup failed: ${code}; if it is published, check again later)`, lookupError: code };
  }
  const candidates = record.type === 'TXT' ? found.filter((v) => recordKind(v) === recordKind(record.value)) : found;
  if (candidates.length === 0) return { ...base, status: 'missing', found, fix: `publish ${describeRecord(record)}` };
  if (candidates.some((v) => satisfies(record, v))) return { ...base, status: 'ok', found: candidates, fix: null };
  return { ...base, status: 'mismatch', found: candidates, fix: fixFor(record) };
}

/** The domain's published DMARC record with a valid policy, or null (none, or the lookup failed). */
export async function findDmarc(domain: string, resolver: RecordResolver, timeoutMs = 10_000): Promise<string | null> {
  try {
    const found = (await withDeadline(resolver.resolveTxt(`_dmarc.${domain}`), timeoutMs, 'ETIMEOUT')).map((parts) => parts.join(''));
    return found.find((v) => recordKind(v) === 'dmarc' && /^(none|quarantine|reject)$/i.test(tagValue(v, 'p') ?? '')) ?? null;
  } catch {
    return null;
  }
}

async function lookup(record: DnsRecord, resolver: RecordResolver): Promise<string[]> {
  if (record.type === 'MX') return (await resolver.resolveMx(record.host)).map((mx) => mx.exchange);
  if (record.type === 'CNAME') return resolver.resolveCname(record.host);
  return (await resolver.resolveTxt(record.host)).map((parts) => parts.join(''));
}

/** How a record is written in a zone file, for the one-line fix. */
export function describeRecord(r: DnsRecord): string {
  if (r.type === 'MX') return `MX ${r.host} ${r.priority ?? 10} ${r.value}`;
  if (r.type === 'CNAME') return `CNAME ${r.host} ${r.value}`;
  return `TXT ${r.host} "${r.value}"`;
}

function recordKind(value: string): 'dkim' | 'spf' | 'dmarc' | 'other' {
  const v = value.trim().toLowerCase();
  if (v.startsWith('v=dkim1')) return 'dkim';
  if (v.startsWith('v=spf1')) return 'spf';
  if (v.startsWith('v=dmarc1')) return 'dmarc';
  return 'other';
}

function satisfies(record: DnsRecord, found: string): boolean {
  if (record.type !== 'TXT') return sameName(found, record.value);
  switch (recordKind(record.value)) {
    case 'dkim':
      return tagValue(found, 'p') === tagValue(record.value, 'p');
    case 'spf': {
      // The mechanisms that authorise us must be in the published record (which may hold more).
      const published = found.toLowerCase().split(/\s+/);
      return authorising(record.value).every((m) => published.includes(m.toLowerCase()));
    }
    case 'dmarc':
      // Any valid policy is the operator's call; we never advise weakening a stricter one.
      return /^(none|quarantine|reject)$/i.test(tagValue(found, 'p') ?? '');
    default:
      return found.trim() === record.value.trim();
  }
}

function fixFor(record: DnsRecord): string {
  if (record.type === 'MX') return `point the MX of ${record.host} at ${record.value} (bounces must reach this appliance)`;
  if (record.type === 'CNAME') return `point ${record.host} (CNAME) at ${record.value}`;
  switch (recordKind(record.value)) {
    case 'dkim':
      return `the public key at ${record.host} differs from this domain's key: replace it with "${record.value}"`;
    case 'spf':
      return `add ${authorising(record.value).join(' ')} to the existing SPF record at ${record.host} (keep one v=spf1 record)`;
    default:
      return `set a valid policy (p=none, quarantine or reject) at ${record.host}`;
  }
}

function authorising(spf: string): string[] {
  return spf.split(/\s+/).filter((m) => /^(a|ip4|ip6|include|mx):/i.test(m));
}

function sameName(a: string, b: string): boolean {
  return a.toLowerCase().replace(/\.$/, '') === b.toLowerCase().replace(/\.$/, '');
}
