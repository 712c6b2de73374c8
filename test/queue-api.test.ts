/**
 * /api/v1/queue as an operator uses it while a destination is paused: counts by state and by
 * site move as mail queues for it; a purge by recipient domain or by tag cancels exactly the
 * matching recipients (with the reason in their timelines) and leaves the others waiting;
 * repeating a purge changes nothing; small pages walk the queue through the cursor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from '../src/app.js';
import { apiCall, apiGet, eventually, startTestApp } from './support/app.js';
import { startSink, type Sink } from './support/sink.js';

let app: App;
let sink: Sink;
/** the autumn message ids of the second test, still waiting in the third */
let autumn: Map<string, string>;
beforeAll(async () => {
  sink = await startSink();
  app = await startTestApp({ smtp: { trustedNetworks: ['127.0.0.1/32'] }, delivery: { routes: [{ match: '*', host: '127.0.0.1', port: sink.port, tls: 'none' }] } });
});
afterAll(async () => {
  await app?.stop();
  await sink?.close();
});

/** Sends one message per recipient (trusted network, no AUTH); their message ids by address. */
async function send(tag: string, to: string[]): Promise<Map<string, string>> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: app.ports.submission, ignoreTLS: true });
  const ids = new Map<string, string>();
  try {
    for (const address of to) {
      const info = await transport.sendMail({ from: 'crm@shop.example', to: address, subject: `${tag} for ${address}`, text: 'hello', headers: { 'X-Sokutatsu-Tag': tag } });
      ids.set(address, /queued as (\S+)/.exec(info.response)![1]!);
    }
  } finally {
    transport.close();
  }
  return ids;
}

async function recipient(id: string): Promise<{ status: string; reason: string | null; events: { type: string; detail?: string }[] }> {
  return (await apiGet(app, `/api/v1/messages/${id}`)).body.recipients[0];
}

type SiteRow = { site: string; waiting: number; delayed: number; pausedUntil: string | null; reason: string | null };
const siteRow = (body: { sites: SiteRow[] }, site: string) => body.sites.find((s) => s.site === site);

describe('/api/v1/queue', () => {
  it('requires the admin token and validates queries and purge bodies', async () => {
    expect((await apiGet(app, '/api/v1/queue', null)).status).toBe(401);
    expect((await apiCall(app, 'POST', '/api/v1/queue/purge', { tag: 'x', reason: 'r' }, null)).status).toBe(401);
    expect((await apiGet(app, '/api/v1/queue?scan=-1')).body.error.message).toMatch(/^scan: /);
    expect((await apiGet(app, '/api/v1/queue?colour=red')).status).toBe(400);
    const purge = (body: unknown) => apiCall(app, 'POST', '/api/v1/queue/purge', body);
    expect(await purge({ reason: 'everything' })).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', message: expect.stringMatching(/at least one of domain, tag, site/) } } });
    expect((await purge({ tag: 'spring' })).body.error.message).toMatch(/^reason: /);
    expect((await purge({ tag: 'spring', reason: '   ' })).body.error.message).toMatch(/^reason: /);
    expect((await purge({ domain: 'not a domain', reason: 'r' })).body.error.message).toMatch(/^domain: not a domain name/);
    expect((await purge({ tag: 'spring', reason: 'r', cursor: 'failed:0' })).body.error.message).toMatch(/^cursor: /);
    expect((await purge({ tag: 'spring', reason: 'r', limit: 0 })).body.error.message).toMatch(/^limit: /);
    expect((await purge({ tag: 'spring', reason: 'r', everything: true })).status).toBe(400);
  });

  it('counts move as mail waits for paused sites; purge by domain, then by tag, cancels only the matching recipients', async () => {
    for (const site of ['held.example', 'other.example']) {
      expect((await apiCall(app, 'POST', `/api/v1/sites/${site}/pause`, { reason: `hold ${site}` })).status).toBe(200);
    }
    const spring = await send('spring', ['a@held.example', 'b@held.example', 'c@held.example', 'd@other.example', 'e@other.example']);
    autumn = await send('autumn', ['f@held.example', 'g@held.example', 'h@other.example']);

    // Each job comes back from its first try naming the paused site it waits for.
    const before = await eventually(async () => {
      const { body } = await apiGet(app, '/api/v1/queue');
      return siteRow(body, 'held.example')?.delayed === 5 && siteRow(body, 'other.example')?.delayed === 3 ? body : null;
    }, 15_000, 'jobs waiting for both paused sites');
    // A job waiting for a pause wakes now and then to ask again: it may be active for a moment.
    expect(before.counts).toMatchObject({ waiting: 0, failed: 0 });
    expect(before.counts.delayed + before.counts.active).toBe(8);
    expect(siteRow(before, 'held.example')).toEqual({ site: 'held.example', waiting: 0, delayed: 5, pausedUntil: expect.any(String), reason: 'hold held.example' });
    expect(before).toMatchObject({ unassigned: { waiting: 0, delayed: 0 }, complete: true, recent: { since: expect.any(String), cancelled: 0 } });

    const byDomain = await apiCall(app, 'POST', '/api/v1/queue/purge', { domain: 'Other.Example', reason: 'customer closed the account' });
    expect(byDomain).toMatchObject({ status: 200, body: { cancelled: 3, matched: 3, next: null } });
    for (const address of ['d@other.example', 'e@other.example']) {
      const r = await recipient(spring.get(address)!);
      expect(r).toMatchObject({ status: 'cancelled', reason: 'customer closed the account' });
      expect(r.events.at(-1)).toMatchObject({ type: 'cancelled', detail: 'customer closed the account' });
    }
    expect((await recipient(autumn.get('h@other.example')!)).status).toBe('cancelled');
    expect((await recipient(spring.get('a@held.example')!)).status).not.toBe('cancelled');

    const byTag = await apiCall(app, 'POST', '/api/v1/queue/purge', { tag: 'spring', reason: 'campaign withdrawn' });
    expect(byTag.body).toMatchObject({ cancelled: 3, matched: 3, next: null });
    for (const address of ['a@held.example', 'b@held.example', 'c@held.example']) {
      expect(await recipient(spring.get(address)!)).toMatchObject({ status: 'cancelled', reason: 'campaign withdrawn' });
    }
    // The cancelled ones from the domain purge keep their first reason.
    expect((await recipient(spring.get('d@other.example')!)).reason).toBe('customer closed the account');
    for (const address of ['f@held.example', 'g@held.example']) {
      expect((await recipient(autumn.get(address)!)).status).toMatch(/^(queued|deferred)$/);
    }

    // Again: nothing left to match, nothing cancelled twice.
    expect((await apiCall(app, 'POST', '/api/v1/queue/purge', { tag: 'spring', reason: 'campaign withdrawn' })).body).toMatchObject({ cancelled: 0, matched: 0, next: null });

    const after = (await apiGet(app, '/api/v1/queue')).body;
    expect(after.counts.delayed + after.counts.active).toBe(2);
    expect(siteRow(after, 'other.example')).toBeUndefined();
    expect(after.recent.cancelled).toBe(6);
  });

  it('a purge with a small limit goes on through the cursor until next is null', async () => {
    await apiCall(app, 'POST', '/api/v1/sites/paged.example/pause', { reason: 'paging test' });
    const ids = await send('paged', ['p1@paged.example', 'p2@paged.example', 'p3@paged.example']);
    await eventually(async () => siteRow((await apiGet(app, '/api/v1/queue')).body, 'paged.example')?.delayed === 3, 15_000, 'paged jobs waiting');

    let cursor: string | undefined;
    let cancelled = 0;
    let requests = 0;
    do {
      const page = await apiCall(app, 'POST', '/api/v1/queue/purge', { site: 'paged.example', reason: 'paged purge', limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.status).toBe(200);
      expect(page.body.scanned).toBeLessThanOrEqual(2);
      cancelled += page.body.cancelled;
      cursor = page.body.next ?? undefined;
      requests++;
    } while (cursor && requests < 20);
    expect(cancelled).toBe(3);
    expect(requests).toBeGreaterThan(1);
    for (const id of ids.values()) expect((await recipient(id)).status).toBe('cancelled');
    // The other site's mail is still there.
    for (const address of ['f@held.example', 'g@held.example']) expect((await recipient(autumn.get(address)!)).status).toMatch(/^(queued|deferred)$/);
    expect(sink.messages).toHaveLength(0);
  });

  it('sokutatsu queue purge: needs a selector and a reason; by tag it cancels the rest, with a summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-purge-'));
    const file = join(dir, 'config.yaml');
    writeFileSync(file, `dataDir: ${dir}/var\nredis: { url: "${app.config.redis.url}", namespace: ${app.config.redis.namespace} }\ndns: { servers: ["127.0.0.1:1"] }\n`);
    expect(await cli(['queue', 'purge', '--reason', 'all of it', '--config', file])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--domain, --tag or --site/) });
    expect((await cli(['queue', 'purge', '--tag', 'autumn', '--config', file])).code).not.toBe(0);
    const run = await cli(['queue', 'purge', '--tag', 'autumn', '--reason', 'season over', '--json', '--config', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ cancelled: 2, matched: 2 });
    for (const address of ['f@held.example', 'g@held.example']) expect(await recipient(autumn.get(address)!)).toMatchObject({ status: 'cancelled', reason: 'season over' });
    const again = await cli(['queue', 'purge', '--tag', 'autumn', '--reason', 'season over', '--config', file]);
    expect(again.stdout).toMatch(/^0 recipients cancelled/);
  });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
