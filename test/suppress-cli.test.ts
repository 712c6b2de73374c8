/**
 * `sokutatsu suppress …` as an operator runs it (a real process, a config file, the test Redis),
 * and what it means for delivery: an address added by hand is `suppressed` when mail is sent to
 * it, and delivered again after `suppress remove`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import nodemailer from 'nodemailer';
import type { App } from '../src/app.js';
import { createKeys } from '../src/redis/keys.js';
import { SuppressionList } from '../src/store/suppressions.js';
import { apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('SOKUTATSU_')) delete env[k];
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env, timeout: 45_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A config file for the CLI on the test Redis, in `namespace`. */
function configFor(namespace: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-suppress-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, `dataDir: ${dir}/var\nredis:\n  url: ${inject('redisUrl')}\n  namespace: ${namespace}\n`);
  return file;
}

let dir: string;
let redis: Redis;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sokutatsu-suppress-files-'));
  redis = new Redis(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

// Each CLI run is a fresh node + tsx process (seconds each on a busy machine).
describe('suppress (CLI)', { timeout: 150_000 }, () => {
  it('add, list, remove: validated, global by default, per sending domain with --domain', async () => {
    const namespace = `sup${randomBytes(4).toString('hex')}`;
    const config = configFor(namespace);
    const list = new SuppressionList(redis, createKeys(namespace));

    expect((await cli(['suppress', 'add', 'Kijitora@Example.JP', '--config', config])).stdout).toMatch(/^kijitora@example\.jp suppressed \(prohibited\) for every sender: manual$/m);
    const stopped = await cli(['suppress', 'add', 'kijitora@example.jp', '--domain', 'shop.example', '--state', 'stopped', '--reason', 'unsubscribed, by phone', '--json', '--config', config]);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(JSON.parse(stopped.stdout)).toEqual({ address: 'kijitora@example.jp', scope: 'shop.example', state: 'stopped', reason: 'unsubscribed, by phone', source: 'manual', createdAt: expect.any(String) });
    expect((await list.entries('kijitora@example.jp')).map((e) => e.scope).sort()).toEqual(['global', 'shop.example']);

    const table = await cli(['suppress', 'list', '--config', config]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^ADDRESS\s+SCOPE\s+STATE\s+SINCE\s+SOURCE\s+REASON$/m);
    expect(table.stdout).toMatch(/^kijitora@example\.jp\s+shop\.example\s+stopped\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+manual\s+unsubscribed, by phone$/m);
    expect(table.stdout).toMatch(/^2 entries \(1 for every sender, 1 for one sending domain\): 1 prohibited, 1 stopped$/m);
    const domainOnly = JSON.parse((await cli(['suppress', 'list', '--domain', 'shop.example', '--json', '--config', config])).stdout) as { scope: string }[];
    expect(domainOnly.map((e) => e.scope)).toEqual(['shop.example']);

    expect((await cli(['suppress', 'remove', 'kijitora@example.jp', '--config', config])).stdout).toMatch(/removed from the suppression list \(every sender\)/);
    const again = await cli(['suppress', 'remove', 'kijitora@example.jp', '--config', config]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not suppressed for every sender/);
    expect(await list.entries('kijitora@example.jp')).toEqual([expect.objectContaining({ scope: 'shop.example' })]);
    expect((await cli(['suppress', 'remove', 'kijitora@example.jp', '--all', '--config', config])).code).toBe(0);
    expect(await list.count()).toBe(0);
  });

  it('exits 2 on usage errors and changes nothing', async () => {
    const namespace = `sup${randomBytes(4).toString('hex')}`;
    const config = configFor(namespace);
    for (const args of [['suppress', 'add', 'not-an-address'], ['suppress', 'add', 'a@b.example', '--state', 'deliverable'], ['suppress', 'add', 'a@b.example', '--domain', 'bad domain'], ['suppress', 'list', '--global', '--domain', 'shop.example'], ['suppress', 'remove', 'a@b.example', '--all', '--domain', 'x.example']]) {
      const run = await cli([...args, '--config', config]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^sokutatsu: /);
    }

    expect(await new SuppressionList(redis, createKeys(namespace)).count()).toBe(0);
  });

  it('import reports bad rows by line and skips them, keeps quoted commas; export round-trips; --dry-run changes nothing', async () => {
    const namespace = `sup${randomBytes(4).toString('hex')}`;
    const config = configFor(namespace);
    const list = new SuppressionList(redis, createKeys(namespace));
    const csv = join(dir, 'in.csv');
    writeFileSync(csv, [
      'address,scope,state,reason,created_at',
      'a@x.example,,,"hard bounce, user unknown",2026-01-02T03:04:05Z',
      'B@X.example,shop.example,stopped,"said ""stop"", twice",',
      'not-an-address,,,oops,',
      'c@x.example,,,"spans',
      'two lines",',
      'd@x.example,,prohibited,unquoted, comma,',
      'e@x.example,,,,yesterday',
      '',
    ].join('\n'));

    const dry = await cli(['suppress', 'import', csv, '--dry-run', '--config', config]);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/^6 rows: would import 3, 3 bad rows skipped$/m);
    expect(await list.count()).toBe(0);

    const run = await cli(['suppress', 'import', csv, '--domain', 'news.example', '--config', config]);
    expect(run.code, run.stderr).toBe(1); // some rows were bad; the good ones are in
    expect(run.stderr).toContain(`${csv}:4: skipped: not a mail address: "not-an-address"`);
    expect(run.stderr).toMatch(new RegExp(`${csv}:7: skipped: 6 fields, but the header has 5`));
    expect(run.stderr).toMatch(new RegExp(`${csv}:8: skipped: not a date/time`));
    expect(run.stdout).toMatch(/^6 rows: imported 3 \(3 new, 0 replaced an entry\), 3 bad rows skipped$/m);
    expect(await list.entries('a@x.example')).toEqual([{ address: 'a@x.example', scope: 'news.example', state: 'prohibited', reason: 'hard bounce, user unknown', source: 'import', createdAt: '2026-01-02T03:04:05.000Z' }]);
    expect(await list.entries('b@x.example')).toEqual([expect.objectContaining({ scope: 'shop.example', state: 'stopped', reason: 'said "stop", twice' })]);
    expect((await list.entries('c@x.example'))[0]!.reason).toBe('spans\ntwo lines');

    // Export to stdout, then into a fresh namespace through import: the same entries.
    const exported = await cli(['suppress', 'export', '--config', config]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout.split('\r\n')[0]).toBe('address,scope,state,reason,source,created_at');
    expect(exported.stdout).toContain('"hard bounce, user unknown"');
    const file = join(dir, 'out.csv');
    writeFileSync(file, exported.stdout);
    const otherNs = `sup${randomBytes(4).toString('hex')}`;
    const other = configFor(otherNs);
    const back = await cli(['suppress', 'import', file, '--json', '--config', other]);
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toEqual({ rows: 3, imported: 3, replaced: 0, bad: 0, dryRun: false });
    const sorted = async (l: SuppressionList) => {
      const all = [];
      for await (const e of l.all()) all.push(e);
      return all.sort((a, b) => `${a.address} ${a.scope}`.localeCompare(`${b.address} ${b.scope}`));
    };
    expect(await sorted(new SuppressionList(redis, createKeys(otherNs)))).toEqual(await sorted(list));
    // To a file too, byte for byte the same as stdout.
    const toFile = join(dir, 'again.csv');
    const written = await cli(['suppress', 'export', toFile, '--config', other]);
    expect(written.stderr).toMatch(/3 entries written to/);
    expect(readFileSync(toFile, 'utf8').split('\r\n').slice(1).sort()).toEqual(exported.stdout.split('\r\n').slice(1).sort());

    const missing = await cli(['suppress', 'import', join(dir, 'nope.csv'), '--config', config]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*nope\.csv: no such file/);
  });

  it('imports thousands of rows in batches, with progress on stderr', async () => {
    const namespace = `sup${randomBytes(4).toString('hex')}`;
    const config = configFor(namespace);
    const rows = ['address,state'];
    for (let i = 0; i < 25_000; i++) rows.push(`user${i}@bulk.example,${i % 2 ? 'prohibited' : 'stopped'}`);
    rows.push('user0@bulk.example,stopped'); // the same address and scope again: replaces
    const csv = join(dir, 'bulk.csv');
    writeFileSync(csv, rows.join('\n') + '\n');
    const started = Date.now();
    const run = await cli(['suppress', 'import', csv, '--config', config]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^… 10000 rows read, 10000 imported$/m);
    expect(run.stderr).toMatch(/^… 20000 rows read, 20000 imported$/m);
    expect(run.stdout).toMatch(/^25001 rows: imported 25001 \(25000 new, 1 replaced an entry\), 0 bad rows skipped$/m);
    expect(await new SuppressionList(redis, createKeys(namespace)).count()).toBe(25_000);
    expect(Date.now() - started).toBeLessThan(40_000);
  });

  it('every suppress command has --help', async () => {
    for (const sub of ['list', 'add', 'remove', 'import', 'export']) {
      const run = await cli(['suppress', sub, '--help']);
      expect(run.code, sub).toBe(0);
      expect(run.stdout).toMatch(new RegExp(`Usage: sokutatsu suppress ${sub}`));
    }
  });
});

describe('suppress and delivery', { timeout: 120_000 }, () => {
  let app: App | undefined;
  let sink: Sink | undefined;
  afterEach(async () => {
    await app?.stop();
    await sink?.close();
    app = sink = undefined;
  });

  it('an address suppressed by hand gets status suppressed; after suppress remove it is delivered again', async () => {
    sink = await startSink();
    app = await startTestApp({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
    const config = configFor(app.config.redis.namespace);
    const send = async () => {
      const info = await nodemailer.createTransport({ host: '127.0.0.1', port: app!.ports.submission!, ignoreTLS: true })
        .sendMail({ from: 'news@shop.example', to: ['kijitora@example.jp', 'noraneko@example.jp'], subject: 'Campaign', text: 'Hello' });
      return /queued as (\S+)/.exec(info.response)![1]!;
    };
    const recipient = async (id: string, address: string) => (await apiGet(app!, `/api/v1/messages/${id}`)).body.recipients.find((r: { address: string }) => r.address === address);
    const final = (id: string, address: string) => eventually(async () => {
      const r = await recipient(id, address);
      return r && !['queued', 'deferred'].includes(r.status) ? r : null;
    }, 15_000, `${address} final`);

    const add = await cli(['suppress', 'add', 'kijitora@example.jp', '--reason', 'asked us by phone', '--config', config]);
    expect(add.code, add.stderr).toBe(0);
    const first = await send();
    expect(await final(first, 'kijitora@example.jp')).toMatchObject({ status: 'suppressed', reason: 'asked us by phone' });
    expect((await final(first, 'kijitora@example.jp')).events.at(-1)).toMatchObject({ type: 'suppressed', detail: expect.stringMatching(/^prohibited since .* \(every sender\): asked us by phone$/) });
    expect(await final(first, 'noraneko@example.jp')).toMatchObject({ status: 'delivered' });
    await sink.waitFor(1);
    expect(sink.messages.map((m) => m.to)).toEqual([['noraneko@example.jp']]);

    // A suppression for another sending domain does not stop mail from shop.example.
    expect((await cli(['suppress', 'remove', 'kijitora@example.jp', '--config', config])).code).toBe(0);
    expect((await cli(['suppress', 'add', 'kijitora@example.jp', '--domain', 'other.example', '--state', 'stopped', '--config', config])).code).toBe(0);
    const second = await send();
    expect(await final(second, 'kijitora@example.jp')).toMatchObject({ status: 'delivered' });
    await sink.waitFor(3);
    expect(sink.messages.slice(1).flatMap((m) => m.to).sort()).toEqual(['kijitora@example.jp', 'noraneko@example.jp']);
  });
});
