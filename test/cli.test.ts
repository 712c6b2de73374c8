/**
 * The CLI as an operator runs it: a real process, a config file, the test Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { createKeys } from '../src/redis/keys.js';
import { createUserStore } from '../src/intake/users.js';
import { createTokenStore } from '../src/http/tokens.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, ...options.env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end(options.stdin ?? '');
  });
}

let file: string;
let namespace: string;
let redis: Redis;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-cli-'));
  namespace = `cli${randomBytes(4).toString('hex')}`;
  file = join(dir, 'config.yaml');
  // dns.servers: a closed loopback port, so `domain add` / `records` never query public DNS.
  writeFileSync(file, `dataDir: ${dir}/var\nredis:\n  url: ${inject('redisUrl')}\n  namespace: ${namespace}\ndns:\n  servers: ["127.0.0.1:1"]\n`);
  redis = new Redis(inject('redisUrl'));
});
afterAll(() => redis.disconnect());

describe('cli', () => {
  it('user add prints a generated password once; it works for AUTH and is stored hashed', async () => {
    const add = await cli(['user', 'add', 'alice', '--domain', 'shop.example', '--domain', 'news.example', '--config', file]);
    expect(add.code, add.stderr).toBe(0);
    const password = /password: (\S+)/.exec(add.stdout)?.[1];
    expect(password).toBeTruthy();
    const stored = await redis.hget(createKeys(namespace).users, 'alice');
    expect(stored).not.toContain(password!);
    expect(stored).toMatch(/"password":"scrypt\$/);
    const users = createUserStore(redis, createKeys(namespace));
    expect(await users.verify('alice', password!)).toMatchObject({ name: 'alice', domains: ['shop.example', 'news.example'] });
    expect(await users.verify('alice', 'wrong')).toBeNull();
  });

  it('user add --password-stdin, list --json and remove; --config may come first', async () => {
    const add = await cli(['--config', file, 'user', 'add', 'bob', '--domain', 'b.example', '--password-stdin'], { stdin: 'correct horse battery\n' });
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).not.toContain('password:');
    expect(await createUserStore(redis, createKeys(namespace)).verify('bob', 'correct horse battery')).not.toBeNull();
    const list = await cli(['user', 'list', '--json', '--config', file]);
    expect(JSON.parse(list.stdout).map((u: { name: string }) => u.name)).toContain('bob');
    expect(list.stdout).not.toMatch(/scrypt/);
    expect((await cli(['user', 'remove', 'bob', '--config', file])).code).toBe(0);
    const again = await cli(['user', 'remove', 'bob', '--config', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no user named bob/);
  });

  it('token create prints a token that the API accepts, stored only as a hash', async () => {
    const run = await cli(['token', 'create', 'crm', '--json', '--config', file]);
    expect(run.code, run.stderr).toBe(0);
    const { token } = JSON.parse(run.stdout) as { token: string };
    const tokens = createTokenStore(redis, createKeys(namespace), '');
    expect(await tokens.verify(token)).toBe('crm');
    expect(JSON.stringify(await redis.hgetall(createKeys(namespace).apiTokens))).not.toContain(token);
  });

  it('exits 2 on usage errors and 1 with an install hint when redis-server is missing', async () => {
    const usage = await cli(['user', 'add', 'x']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--domain/);
    expect((await cli(['user', 'add', 'bad name!', '--domain', 'a.example', '--config', file])).code).toBe(2);
    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-nored-'));
    const embedded = join(dir, 'c.yaml');
    writeFileSync(embedded, `dataDir: ${dir}/var\n`);
    const missing = await cli(['user', 'list', '--config', embedded], { env: { PATH: '/nonexistent' } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/redis-server was not found on PATH.*apt-get install redis-server/);
  });

  it('every command has --help', async () => {
    for (const args of [['--help'], ['start', '--help'], ['user', 'add', '--help'], ['queue', 'stats', '--help'], ['token', 'create', '--help']]) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/Usage: sokutatsu/);
    }
  });

  it('domain add prints the records to publish; records --json lists them; list and remove', async () => {
    const add = await cli(['domain', 'add', 'shop.example', '--selector', 'sel1', '--key', 'ed25519', '--config', file]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/TXT\tsel1\._domainkey\.shop\.example\n\t"v=DKIM1; k=ed25519; p=/);
    expect(add.stdout).toMatch(/TXT\t_dmarc\.shop\.example/);
    expect((await cli(['domain', 'add', 'shop.example', '--config', file])).code).toBe(1);
    expect((await cli(['domain', 'add', 'shop.example', '--key', 'dsa', '--config', file])).code).toBe(2);
    const records = JSON.parse((await cli(['domain', 'records', 'shop.example', '--json', '--config', file])).stdout) as { type: string; host: string; value: string; purpose: string }[];
    expect(records.map((r) => `${r.type} ${r.host}`)).toEqual(['TXT sel1._domainkey.shop.example', 'TXT shop.example', 'TXT _dmarc.shop.example', 'MX rp.shop.example', 'TXT rp.shop.example']);
    expect(JSON.stringify(records)).not.toMatch(/PRIVATE KEY/);
    expect((await cli(['domain', 'list', '--config', file])).stdout).toMatch(/^shop\.example\tsel1 ed25519\tnot verified/m);
    expect((await cli(['domain', 'remove', 'shop.example', '--config', file])).code).toBe(0);
    expect((await cli(['domain', 'records', 'shop.example', '--config', file])).code).toBe(1);
  });
});

