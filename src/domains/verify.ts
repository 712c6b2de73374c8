/**
 * Checking that a sending domain's DNS records are published as `domain records` says.
 *
 * Receives: the domain, the records it should have, a DNS resolver (injected: tests and
 * air-gapped installs never query the internet). Promises: one result per record — ok, missing,
 * or mismatch with what was expected and found, plus a one-line fix; lookups that time out or
 * fail count as missing with the reason, never as a crash.
 */
import { promises as dns } from 'node:dns';
import type { DnsRecord } from './records.js';
import { withDeadline } from '../deadline.js';

export interface TxtResolver {
  resolveTxt(name: string): Promise<string[][]>;
}

export const systemTxtResolver: TxtResolver = { resolveTxt: (name) => dns.resolveTxt(name) };

export interface RecordCheck {
  host: string;
  type: DnsRecord['type'];
  purpose: string;
  status: 'ok' | 'missing' | 'mismatch';
  expected: string;
  found: string[];
  fix: string | null;
}

const LOOKUP_TIMEOUT_MS = 5000;

export async function verifyRecords(records: DnsRecord[], resolver: TxtResolver): Promise<RecordCheck[]> {
  return Promise.all(records.filter((r) => r.type === 'TXT').map((r) => checkTxt(r, resolver)));
}

async function checkTxt(record: DnsRecord, resolver: TxtResolver): Promise<RecordCheck> {
  const base = { host: record.host, type: record.type, purpose: record.purpose, expected: record.value };
  let found: string[];
  try {
    found = (await withDeadline(resolver.resolveTxt(record.host), LOOKUP_TIMEOUT_MS, `no answer within ${LOOKUP_TIMEOUT_MS / 1000} s`)).map((parts) => parts.join(''));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    return { ...base, status: 'missing', found: [], fix: `publish TXT ${record.host} "${record.value}" (lookup: ${code})` };
  }
  const kind = recordKind(record.value);
  const candidates = found.filter((v) => recordKind(v) === kind);
  if (candidates.length === 0) return { ...base, status: 'missing', found, fix: `publish TXT ${record.host} "${record.value}"` };
  if (candidates.some((v) => satisfies(kind, v, record.value))) return { ...base, status: 'ok', found: candidates, fix: null };
  return { ...base, status: 'mismatch', found: candidates, fix: fixFor(kind, record) };
}

type Kind = 'dkim' | 'spf' | 'dmarc' | 'other';

function recordKind(value: string): Kind {
  const v = value.trim().toLowerCase();
  if (v.startsWith('v=dkim1')) return 'dkim';
  if (v.startsWith('v=spf1')) return 'spf';
  if (v.startsWith('v=dmarc1')) return 'dmarc';
  return 'other';
}

function satisfies(kind: Kind, found: string, expected: string): boolean {
  if (kind === 'dkim') return tag(found, 'p') === tag(expected, 'p');
  // SPF: the mechanism that authorises us must be in the published record (which may hold more).
  if (kind === 'spf') return expected.split(/\s+/).filter((m) => /^(a|ip4|ip6|include|mx):/i.test(m)).every((m) => found.toLowerCase().split(/\s+/).includes(m.toLowerCase()));
  // DMARC: any valid policy is the operator's call; we never advise weakening a stricter one.
  if (kind === 'dmarc') return /^(none|quarantine|reject)$/i.test(tag(found, 'p') ?? '');
  return found.trim() === expected.trim();
}

function fixFor(kind: Kind, record: DnsRecord): string {
  if (kind === 'dkim') return `the public key at ${record.host} differs from this domain's key: replace it with "${record.value}"`;
  if (kind === 'spf') return `add ${record.value.split(/\s+/).filter((m) => /^(a|ip4|ip6|include|mx):/i.test(m)).join(' ')} to the existing SPF record at ${record.host} (keep one v=spf1 record)`;
  return `set a valid policy (p=none, quarantine or reject) at ${record.host}`;
}

function tag(value: string, name: string): string | undefined {
  for (const part of value.split(';')) {
    const [k, ...v] = part.split('=');
    if (k?.trim().toLowerCase() === name) return v.join('=').replace(/\s+/g, '');
  }
  return undefined;
}
