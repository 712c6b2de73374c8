import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, validate } from './load.js';

describe('config', () => {
  it('fills every default from an empty document', () => {
    const c = validate({});
    expect(c.smtp.submission.port).toBe(587);
    expect(c.smtp.maxMessageSize).toBe(26_214_400);
    expect(c.smtp.limits.maxRecipients).toBe(1000);
    expect(c.delivery.retry).toEqual({ firstDelaySeconds: 60, maxDelaySeconds: 3600, maxAgeSeconds: 432_000 });
    expect(c.policy.requireVerifiedDomains).toBe(true);
  });

  it('names the key, the value found and what was expected', () => {
    expect(() => validate({ smtp: { submission: { port: 70000 } } })).toThrow(/smtp\.submission\.port: .*65535.*\(found 70000\)/);
    expect(() => validate({ smtp: { trustedNetworks: ['300.1.1.1/8'] } })).toThrow(/smtp\.trustedNetworks\.0: expected an IP address or CIDR.*"300\.1\.1\.1\/8"/);
    expect(() => validate({ delivery: { routes: [{ match: 'bad domain!', host: 'x' }] } })).toThrow(/delivery\.routes\.0\.match/);
  });

  it('refuses unknown keys so typos are caught', () => {
    expect(() => validate({ smtp: { submision: { port: 1 } } })).toThrow(ConfigError);
    expect(() => validate({ smtp: { submision: { port: 1 } } })).toThrow(/smtp\.submision: unknown key/);
  });

  it('reads YAML and applies environment overrides over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-config-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'hostname: mx.example.org\nredis:\n  url: redis://file:6379\nadmin:\n  token: from-file\n');
    const c = loadConfig({ file, env: { SOKUTATSU_REDIS_URL: 'redis://env:6380', SOKUTATSU_ADMIN_TOKEN: 'from-env' } });
    expect(c.hostname).toBe('mx.example.org');
    expect(c.redis.url).toBe('redis://env:6380');
    expect(c.admin.token).toBe('from-env');
  });

  it('explains a file that is not YAML or not a mapping', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-config-'));
    writeFileSync(join(dir, 'bad.yaml'), 'smtp: [unclosed');
    writeFileSync(join(dir, 'list.yaml'), '- a\n- b\n');
    expect(() => loadConfig({ file: join(dir, 'bad.yaml'), env: {} })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ file: join(dir, 'list.yaml'), env: {} })).toThrow(/must contain a mapping/);
    expect(() => loadConfig({ file: join(dir, 'missing.yaml'), env: {} })).toThrow(/cannot read config file/);
  });

  it('accepts the shipped configs', () => {
    expect(() => loadConfig({ file: 'config/default.yaml', env: {} })).not.toThrow();
    expect(() => loadConfig({ file: 'config/production.example.yaml', env: {} })).not.toThrow();
  });
});
