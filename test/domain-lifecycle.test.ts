/**
 * A sending domain's life as an operator runs it with the CLI against (test) DNS: add, verify
 * while nothing is published, with a wrong key, then right; rotate the key and watch the new
 * one take over only once its record verifies; the periodic re-check records what changes and
 * never un-verifies a domain because DNS did not answer.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createKeys } from '../src/redis/keys.js';
import { validate } from '../src/config/load.js';
import { createResolver } from '../src/dns.js';
import { openDomains } from '../src/domains/domain-service.js';
import { startDomainRecheck } from '../src/domains/recheck.js';
import { generateDkimKey } from '../src/domains/dkim-key.js';
import type { DnsRecord } from '../src/domains/records.js';
import { startDnsServer, type DnsTestServer } from './support/dns-server.js';
import { publish } from './support/published-dns.js';

interface Run { code: number; stdout: string; stderr: string }

let dns: DnsTestServer;
let redis: Redis;
let file: string;
let namespace: string;
const SECRET = 'a long operator secret for DKIM keys';

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args, '--config', file], { env: { ...process.env, SOKUTATSU_KEY_ENCRYPTION_KEY: SECRET }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const json = async (args: string[]) => {
  const run = await cli([...args, '--json']);
  return { code: run.code, body: JSON.parse(run.stdout || 'null'), stderr: run.stderr };
};

beforeAll(async () => {
  dns = await startDnsServer();
  redis = new Redis(inject('redisUrl'));
  const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-domains-'));
  namespace = `lc${randomBytes(4).toString('hex')}`;
  file = join(dir, 'config.yaml');
  writeFileSync(file, [
    `hostname: mta.example.net`, `dataDir: ${dir}/var`,
    `redis: { url: "${inject('redisUrl')}", namespace: ${namespace} }`,
    `dns: { servers: ["${dns.address}"], timeoutSeconds: 2 }`,
    `domains: { spf: { ip4: [192.0.2.25] }, rotationGraceSeconds: 172800 }`, '',
  ].join('\n'));
});
afterAll(async () => {
  redis.disconnect();
  await dns.close();
});

describe('domain lifecycle (CLI)', () => {
  it('add → verify (missing, wrong key, right) → rotate → the new key signs once published → the old one is retired with a date', async () => {
    const add = await json(['domain', 'add', 'shop.example', '--selector', 's1']);
    expect(add.code, add.stderr).toBe(0);
    const records = add.body.records as DnsRecord[];
    expect(records.map((r) => `${r.type} ${r.host}`)).toEqual(['TXT s1._domainkey.shop.example', 'TXT shop.example', 'TXT _dmarc.shop.example', 'MX rp.shop.example', 'TXT rp.shop.example']);
    expect(await redis.hget(createKeys(namespace).domains, 'shop.example')).toMatch(/"privateKey":"enc:v1:/); // sealed at rest

    const nothing = await json(['domain', 'verify', 'shop.example']);
    expect(nothing.code).toBe(1);
    expect(nothing.body.records.map((c: { status: string }) => c.status)).toEqual(['missing', 'missing', 'missing', 'missing', 'missing']);

    const wrong = generateDkimKey('rsa2048').record;
    publish(dns, records.map((r) => (r.kind === 'dkim' ? { ...r, value: wrong, strings: undefined } : r)));
    const mismatch = await json(['domain', 'verify', 'shop.example']);
    expect(mismatch.code).toBe(1);
    expect(mismatch.body.records[0]).toMatchObject({ status: 'mismatch', expected: records[0]!.value, found: [wrong] });
    expect(mismatch.body.records[0].fix).toMatch(/^the public key at s1\._domainkey\.shop\.example differs/);

    publish(dns, records);
    const human = await cli(['domain', 'verify', 'shop.example']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^OK {7}TXT {3}s1\._domainkey\.shop\.example$/m);
    expect(human.stdout).toMatch(/^OK {7}MX {4}rp\.shop\.example$/m);
    expect(human.stdout).toMatch(/shop\.example: verified$/m);

    const rotate = await cli(['domain', 'rotate', 'shop.example', '--selector', 's2']);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toMatch(/selector s2\. The current key keeps signing until this record verifies/);
    expect(rotate.stdout).toMatch(/TXT\ts2\._domainkey\.shop\.example\t\(optional\)/);
    expect(rotate.stdout).toMatch(/keep the old key's record published for 2 days/);
    expect((await cli(['domain', 'rotate', 'shop.example'])).stderr).toMatch(/already waiting for its DNS record/);

    const pendingRecords = (await json(['domain', 'records', 'shop.example'])).body as DnsRecord[];
    expect(pendingRecords.filter((r) => r.selector).map((r) => [r.selector, r.kind])).toEqual([['s1', 'dkim'], ['s2', 'dkim-pending']]);
    // Not yet published: nothing changes, s1 keeps signing.
    const stillOld = await json(['domain', 'verify', 'shop.example']);
    expect(stillOld.body).toMatchObject({ verified: true, events: [] });

    publish(dns, pendingRecords);
    const switched = await json(['domain', 'verify', 'shop.example']);
    expect(switched.code).toBe(0);
    expect(switched.body.events.map((e: { type: string }) => e.type)).toEqual(['key_retired', 'key_activated']);
    expect(switched.body.events[0].detail).toMatch(/key s1 replaced by s2; keep its DNS record until \d{4}-\d\d-\d\dT.*then delete s1\._domainkey\.shop\.example/);

    const after = (await json(['domain', 'records', 'shop.example'])).body as DnsRecord[];
    expect(after.filter((r) => r.selector).map((r) => [r.selector, r.kind])).toEqual([['s2', 'dkim'], ['s1', 'dkim-retired']]);
    const list = await json(['domain', 'list']);
    expect(list.body[0].keys.map((k: { selector: string; state: string }) => `${k.selector}:${k.state}`)).toEqual(['s1:retired', 's2:active']);
    const history = await json(['domain', 'events', 'shop.example']);
    expect(history.body.map((e: { type: string }) => e.type)).toEqual(['key_activated', 'key_retired', 'key_added', 'verified', 'added']);
  });
});

describe('DMARC advice', () => {
  it('keeps the policy a domain already publishes (p=reject) from the moment it is added', async () => {
    const config = validate({ hostname: 'mta.example.net', dns: { servers: [dns.address], timeoutSeconds: 1 } });
    const { service } = openDomains(redis, createKeys(`dm${randomBytes(4).toString('hex')}`), config, createResolver(config.dns));
    const strict = 'v=DMARC1; p=reject; rua=mailto:dmarc@strict.example';
    dns.set('_dmarc.strict.example', { TXT: [[strict]] });
    const { records } = await service.add('strict.example');
    expect(records.find((r) => r.kind === 'dmarc')).toMatchObject({ value: strict, purpose: expect.stringMatching(/existing policy \(p=reject\) is kept/) });
    const { records: none } = await service.add('fresh.example');
    expect(none.find((r) => r.kind === 'dmarc')!.value).toBe('v=DMARC1; p=none; rua=mailto:dmarc-reports@fresh.example');
  });
});

describe('periodic re-check', () => {
  it('records a lost record as "unverified", a DNS outage as "check_failed" without un-verifying, and runs on one process at a time', async () => {
    const config = validate({ hostname: 'mta.example.net', dns: { servers: [dns.address], timeoutSeconds: 1 }, domains: { recheckIntervalSeconds: 0 } });
    const keys = createKeys(`rc${randomBytes(4).toString('hex')}`);
    const log = pino({ level: 'silent' });
    const { service, store } = openDomains(redis, keys, config, createResolver(config.dns), log);
    await service.add('news.example', { selector: 'n1', keyType: 'ed25519' });
    const { records } = await service.records('news.example');
    publish(dns, records);
    expect((await service.verify('news.example', 'cli')).domain.verified).toBe(true);

    const a = startDomainRecheck({ service, redis, keys, intervalSeconds: 3600, log });
    const b = startDomainRecheck({ service, redis, keys, intervalSeconds: 3600, log });
    try {
      dns.set('_dmarc.news.example', { hang: true });
      const [ranA, ranB] = await Promise.all([a.runOnce(), b.runOnce()]);
      expect([ranA, ranB].filter(Boolean)).toEqual([{ checked: 1 }]); // the lock lets one of them run
      expect(await store.get('news.example')).toMatchObject({ verified: true });
      expect((await service.events('news.example'))[0]).toMatchObject({ type: 'check_failed' });
      expect((await service.events('news.example'))[0]!.detail).toMatch(/TXT _dmarc\.news\.example: ETIMEOUT.*stays verified/);

      publish(dns, records.filter((r) => r.kind !== 'dkim'));
      dns.remove('n1._domainkey.news.example');
      await redis.del(keys.domainRecheckLock);
      expect(await a.runOnce()).toEqual({ checked: 1 });
      expect(await store.get('news.example')).toMatchObject({ verified: false });
      const [lost] = await service.events('news.example');
      expect(lost).toMatchObject({ type: 'unverified' });
      expect(lost!.detail).toMatch(/TXT n1\._domainkey\.news\.example missing/);
    } finally {
      a.stop();
      b.stop();
    }
  });
});
