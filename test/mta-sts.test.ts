/**
 * MTA-STS: a recipient domain that publishes an enforce policy gets mail only over verified TLS
 * to an MX host its policy names; otherwise the recipient is deferred, never sent in clear.
 * DNS comes from the test DNS server, the policy from an injected fetcher, and MX delivery goes
 * to a sink on delivery.mxPort.
 */
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { startApp, type App } from '../src/app.js';
import { apiGet, eventually, testConfig } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';
import { startDnsServer, type DnsTestServer } from './support/dns-server.js';
import { makeTestCa } from './support/test-ca.js';

let app: App | undefined;
let sink: Sink | undefined;
let dns: DnsTestServer | undefined;
afterEach(async () => {
  await app?.stop();
  await sink?.close();
  await dns?.close();
  app = sink = dns = undefined;
});

const policies: Record<string, string> = {
  'enforce.example': 'version: STSv1\nmode: enforce\nmx: mx.enforce.example\nmax_age: 86400\n',
  'elsewhere.example': 'version: STSv1\nmode: enforce\nmx: mx.other-provider.example\nmax_age: 86400\n',
  'testing.example': 'version: STSv1\nmode: testing\nmx: mx.other-provider.example\nmax_age: 86400\n',
};
const fetched: string[] = [];

/** `verified`: the sink's certificate is valid for mx.enforce.example, from a CA Sokutatsu trusts */
async function start(verified?: { cert: string; key: string; ca: string }): Promise<App> {
  // without `verified`: smtp-server's self-signed certificate, not valid for any MX name
  sink = await startSink({ starttls: true, ...(verified ? { tls: { cert: verified.cert, key: verified.key } } : {}) });
  dns = await startDnsServer();
  for (const domain of [...Object.keys(policies), 'plain.example']) {
    dns.set(domain, { MX: [{ exchange: `mx.${domain}`, priority: 10 }] });
    dns.set(`mx.${domain}`, { A: ['127.0.0.1'] });
    if (policies[domain]) dns.set(`_mta-sts.${domain}`, { TXT: [['v=STSv1; id=20261126']] });
  }
  const config = testConfig({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, dns: { servers: [dns.address] }, delivery: { mxPort: sink.port, routes: [] } });
  return startApp({
    config, log: pino({ level: config.log.level }),
    mtaStsFetcher: async (domain) => (fetched.push(domain), policies[domain] ?? null),
    ...(verified ? { deliveryCa: verified.ca } : {}),
  });
}

async function send(a: App, to: string): Promise<string> {
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: a.ports.submission!, ignoreTLS: true }).sendMail({ from: 'crm@shop.example', to, subject: 'sts', text: 'hello' });
  return /queued as (\S+)/.exec(info.response)![1]!;
}

const lastEvent = async (a: App, id: string, type: string) =>
  eventually(async () => (await apiGet(a, `/api/v1/messages/${id}`)).body?.recipients?.[0]?.events?.find((e: { type: string }) => e.type === type), 15_000, `${type} event`);

describe('MTA-STS', () => {
  it('enforce, MX named by the policy, but TLS cannot be verified: deferred, nothing sent in clear', async () => {
    app = await start();
    const id = await send(app, 'taro@enforce.example');
    const deferred = await lastEvent(app, id, 'deferred');
    expect(deferred.detail).toMatch(/certificate|self.signed|TLS/i);
    expect(sink!.messages).toHaveLength(0);
    expect(fetched).toContain('enforce.example');
  });

  it('enforce, MX named by the policy with a certificate valid for its name: delivered over verified TLS', async () => {
    const ca = await makeTestCa();
    app = await start({ ...(await ca.issue('mx.enforce.example')), ca: ca.cert });
    const id = await send(app, 'taro@enforce.example');
    const delivered = await lastEvent(app, id, 'delivered');
    expect(delivered.tls).toMatch(/^TLSv1\.[23] /);
    expect(sink!.messages.map((m) => m.to)).toEqual([['taro@enforce.example']]);
  });

  it('enforce, no MX named by the policy: deferred with the reason', async () => {
    app = await start();
    const id = await send(app, 'taro@elsewhere.example');
    const deferred = await lastEvent(app, id, 'deferred');
    expect(deferred.detail).toMatch(/MTA-STS policy of elsewhere\.example \(enforce\) names none of its MX hosts \(mx\.elsewhere\.example\)/);
    expect(sink!.messages).toHaveLength(0);
  });

  it('testing mode and no policy: delivered as usual (opportunistic TLS)', async () => {
    app = await start();
    const ids = [await send(app, 'taro@testing.example'), await send(app, 'hanako@plain.example')];
    for (const id of ids) expect((await lastEvent(app, id, 'delivered')).tls).toMatch(/^TLSv1\.[23]/);
    expect(sink!.messages).toHaveLength(2);
  });
});
