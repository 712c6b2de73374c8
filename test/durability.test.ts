/**
 * "Nothing acknowledged with 250 is ever lost", with Sokutatsu as a real child process on the
 * embedded Redis (appendonly yes, appendfsync always):
 *  - SIGKILL of the app with 300 messages queued for a destination that is down: the restarted
 *    app adopts the orphaned redis-server and delivers all 300 once the destination is up;
 *  - the same, with the redis-server SIGKILLed too: the new redis-server loads the AOF;
 *  - SIGTERM during a slow delivery and an open SMTP transaction: the delivery completes and is
 *    recorded, the transaction may finish (and its message is delivered), new SMTP sessions get
 *    421, the process exits 0 within the grace period and stops its redis-server;
 *  - SIGKILL while deliveries are in flight (~30-60 s): BullMQ's stalled job check gives them
 *    back once their locks (30 s) expire.
 * Delivery is at-least-once: duplicates are allowed, and counted in the output.
 * Needs redis-server on PATH (as the embedded default does). TEST_LOG=1 raises the child's log level.
 */
import { afterEach, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { Redis } from 'ioredis';
import { SMTPServer } from 'smtp-server';
import { join } from 'node:path';
import { createKeys } from '../src/redis/keys.js';
import { DELIVERY_QUEUE } from '../src/queue/delivery-queue.js';
import { startSink, type Sink } from './support/sink.js';
import {
  cleanupProcesses, createInstance, isAlive, killHard, PROCESS_ADMIN_TOKEN, redisPid, sleep, startProcess,
  type Instance, type Running,
} from './support/process.js';
import { greetingCode, RawSmtp } from './support/raw-smtp.js';

const MESSAGES = 300;
const SEQ_HEADER = /^X-Test-Seq: (\d+)\r?$/m;

let sink: Sink | undefined;
let slowSink: SlowSink | undefined;

afterEach(async () => {
  await cleanupProcesses();
  await sink?.close();
  await slowSink?.close();
  sink = undefined;
  slowSink = undefined;
});

/** Submits `count` messages over a few pooled connections; every one must get 250 "queued as". */
async function submitMany(port: number, count: number): Promise<string[]> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, pool: true, maxConnections: 5, maxMessages: Infinity });
  try {
    return await Promise.all(
      Array.from({ length: count }, async (_, seq) => {
        const info = await transport.sendMail({
          from: 'crm@shop.example',
          to: `user${seq}@dest.example`,
          subject: `Order ${seq}`,
          text: `Message number ${seq}.`,
          headers: { 'X-Test-Seq': String(seq) },
        });
        const id = /^250 .*queued as (\S+)/.exec(info.response)?.[1];
        if (!id) throw new Error(`message ${seq} not acknowledged with 250 queued as: ${info.response}`);
        return id;
      }),
    );
  } finally {
    transport.close();
  }
}

/**
 * SIGKILLs the app. It is first frozen (SIGSTOP) until a moment when no delivery job is "active":
 * a job active at the crash keeps its BullMQ lock (lockDuration 30 s) and is recovered by the
 * stalled-job check only after 30-60 s — correct, but too slow for this suite (see the opt-in
 * test below for that path). Falls back to killing anyway after many tries.
 */
async function crashApp(proc: Running, instance: Instance): Promise<{ activeAtCrash: number; tries: number }> {
  const redis = new Redis({ path: join(instance.dataDir, 'redis', 'redis.sock'), maxRetriesPerRequest: 1 });
  const activeKey = `${createKeys('sokutatsu').queuePrefix}:${DELIVERY_QUEUE}:active`;
  try {
    for (let tries = 1; ; tries++) {
      process.kill(proc.pid, 'SIGSTOP');
      await sleep(100); // whatever the app had already sent, Redis has executed by now
      const active = await redis.llen(activeKey);
      if (active === 0 || tries >= 50) {
        process.kill(proc.pid, 'SIGKILL');
        await proc.exited;
        return { activeAtCrash: active, tries };
      }
      process.kill(proc.pid, 'SIGCONT');
      await sleep(20 + Math.random() * 80);
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * Waits until every seq in 0..count-1 has arrived, then a little longer for late duplicates;
 * returns how many copies of each seq arrived.
 */
async function waitForAll(sink: Sink, count: number, timeoutMs: number): Promise<Map<number, number>> {
  const tally = () => {
    const copies = new Map<number, number>();
    for (const m of sink.messages) {
      const seq = Number(SEQ_HEADER.exec(m.text)?.[1] ?? -1);
      copies.set(seq, (copies.get(seq) ?? 0) + 1);
    }
    return copies;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const arrived = [...tally().keys()].filter((s) => s >= 0 && s < count).length;
    if (arrived === count) break;
    if (Date.now() > deadline) return tally();
    await sleep(100);
  }
  await sleep(1000);
  return tally();
}

function report(label: string, copies: Map<number, number>, count: number): { missing: number[]; duplicates: number } {
  const missing = Array.from({ length: count }, (_, s) => s).filter((s) => !copies.has(s));
  const duplicates = [...copies.values()].reduce((sum, n) => sum + n - 1, 0);
  console.log(`durability (${label}): ${count - missing.length}/${count} delivered, ${duplicates} duplicates` + (missing.length ? `; missing seq ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ' …' : ''}` : ''));
  return { missing, duplicates };
}

async function stopGracefully(proc: Running, timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  proc.child.kill('SIGTERM');
  const result = await Promise.race([proc.exited, sleep(timeoutMs).then(() => null)]);
  if (!result) throw new Error(`sokutatsu did not exit within ${timeoutMs} ms of SIGTERM:\n${proc.output()}`);
  return result;
}

describe('durability: nothing acknowledged with 250 is lost', () => {
  it('survives SIGKILL of the app: the restarted app adopts the running redis-server and delivers all', async () => {
    const instance = await createInstance({}); // its sinkPort is reserved: nothing listens there until after the restart
    const first = await startProcess(instance);
    const redisBefore = redisPid(instance);
    expect(redisBefore).toBeDefined();

    const ids = await submitMany(instance.ports.submission, MESSAGES);
    expect(new Set(ids).size).toBe(MESSAGES);
    const crash = await crashApp(first, instance);
    console.log(`durability (app killed): SIGKILL with ${crash.activeAtCrash} jobs active (after ${crash.tries} tries)`);
    expect(redisPid(instance), 'the orphaned redis-server keeps running').toBe(redisBefore);

    const second = await startProcess(instance);
    expect(redisPid(instance), 'the restarted app adopts the running redis-server').toBe(redisBefore);
    sink = await startSink({ port: instance.sinkPort });
    const copies = await waitForAll(sink, MESSAGES, crash.activeAtCrash ? 150_000 : 30_000);
    const { missing } = report('app killed', copies, MESSAGES);
    expect(missing, second.output()).toEqual([]);

    expect(await stopGracefully(second)).toEqual({ code: 0, signal: null });
    expect(isAlive(redisBefore!), 'SIGTERM stops the adopted redis-server too').toBe(false);
  }, 200_000);

  it('survives SIGKILL of the app and then of its redis-server: the new redis-server loads the AOF', async () => {
    const instance = await createInstance({});
    const first = await startProcess(instance);
    const redisBefore = redisPid(instance)!;
    expect(redisBefore).toBeDefined();

    await submitMany(instance.ports.submission, MESSAGES);
    const crash = await crashApp(first, instance);
    console.log(`durability (app and redis killed): SIGKILL with ${crash.activeAtCrash} jobs active (after ${crash.tries} tries)`);
    await killHard(redisBefore);

    const second = await startProcess(instance);
    const redisAfter = redisPid(instance);
    expect(redisAfter, 'a new redis-server was started').toBeDefined();
    expect(redisAfter).not.toBe(redisBefore);
    sink = await startSink({ port: instance.sinkPort });
    const copies = await waitForAll(sink, MESSAGES, crash.activeAtCrash ? 150_000 : 30_000);
    const { missing } = report('app and redis killed', copies, MESSAGES);
    expect(missing, second.output()).toEqual([]);

    expect(await stopGracefully(second)).toEqual({ code: 0, signal: null });
  }, 200_000);

  it('survives SIGKILL of its redis-server while running: Sokutatsu starts it again and loses nothing', async () => {
    const instance = await createInstance({});
    const app = await startProcess(instance);
    const before = redisPid(instance)!;
    await submitMany(instance.ports.submission, 100);
    await killHard(before);
    for (let i = 0; i < 100 && !(redisPid(instance) && redisPid(instance) !== before); i++) await sleep(100);
    expect(redisPid(instance), 'a new redis-server').not.toBe(before);
    // Once Redis is back, intake acknowledges again (until then it answers 451, never 250).
    let late: string[] = [];
    for (let i = 0; i < 50 && late.length === 0; i++) late = await submitMany(instance.ports.submission, 1).catch(() => []);
    expect(late).toHaveLength(1);
    sink = await startSink({ port: instance.sinkPort });
    // A delivery that was running when Redis died comes back through the stalled-job check (~30-45 s).
    await sink.waitFor(101, 90_000).catch((err: Error) => {
      const got = sink!.messages.map((m) => SEQ_HEADER.exec(m.text)?.[1]).sort((a, b) => Number(a) - Number(b));
      throw new Error(`${err.message}; seqs: ${got.join(',')}; late: ${late.join(',')}\n${app.output().slice(-3000)}`);
    });
    const seqs = sink.messages.map((m) => SEQ_HEADER.exec(m.text)?.[1]);
    for (let n = 1; n < 100; n++) expect(seqs.includes(String(n)), `seq ${n}`).toBe(true);
    // seq 0 twice: the first batch's and the late single message's
    expect(seqs.filter((q) => q === '0').length).toBeGreaterThanOrEqual(2);
    expect(await stopGracefully(app)).toEqual({ code: 0, signal: null });
  }, 150_000);

  it('on SIGTERM finishes the delivery and the SMTP transaction in flight, refuses new sessions, exits 0, stops redis-server', async () => {
    const graceSeconds = 10;
    slowSink = await startSlowSink(1500);
    const instance = await createInstance({ sinkPort: slowSink.port, graceSeconds });
    const proc = await startProcess(instance);
    const redis = redisPid(instance)!;
    expect(redis).toBeDefined();

    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: instance.ports.submission, secure: false, ignoreTLS: true });
    const info = await transport.sendMail({ from: 'crm@shop.example', to: 'slow@dest.example', subject: 'In flight', text: 'Deliver me.', headers: { 'X-Test-Seq': '0' } });
    const first = /queued as (\S+)/.exec(info.response)?.[1];
    expect(first, info.response).toBeTruthy();
    await Promise.race([slowSink.dataStarted, sleep(15_000).then(() => { throw new Error(`delivery never reached the sink:\n${proc.output()}`); })]);

    // A client in the middle of a transaction when the signal comes: it may finish.
    const { client } = await RawSmtp.connect(instance.ports.submission);
    expect((await client.send('EHLO client.test')).code).toBe(250);
    expect((await client.send('MAIL FROM:<crm@shop.example>')).code).toBe(250);

    const termAt = Date.now();
    proc.child.kill('SIGTERM');
    let exitedAt = 0;
    void proc.exited.then(() => (exitedAt = Date.now()));

    await sleep(200);
    expect(proc.child.exitCode, 'still shutting down (delivery and transaction in flight)').toBeNull();
    const greeting = await greetingCode(instance.ports.submission);
    // The listener stays open for the transaction in flight, so a new session is told 421.
    expect(greeting).toBe(421);

    expect((await client.send('RCPT TO:<late@dest.example>')).code).toBe(250);
    const accepted = await client.data('From: crm@shop.example\r\nTo: late@dest.example\r\nSubject: Sent during shutdown\r\nX-Test-Seq: 1\r\n\r\nAccepted while stopping.\r\n');
    expect(accepted.code, accepted.text).toBe(250);
    const second = /queued as (\S+)/.exec(accepted.text)?.[1];
    expect(second, accepted.text).toBeTruthy();
    await client.close();
    const afterDrain = await greetingCode(instance.ports.submission);
    expect([421, 'refused']).toContain(afterDrain);

    const result = await Promise.race([proc.exited, sleep((graceSeconds + 5) * 1000).then(() => null)]);
    expect(result, proc.output()).toEqual({ code: 0, signal: null });
    const elapsed = exitedAt - termAt;
    console.log(`durability (SIGTERM): new session during shutdown got ${greeting}, after the drain ${afterDrain}; exit 0 after ${elapsed} ms; sink replied 250 ${slowSink.repliedAt ? slowSink.repliedAt - termAt : '—'} ms after SIGTERM`);
    expect(elapsed).toBeLessThan(graceSeconds * 1000);
    expect(slowSink.messages.length).toBeGreaterThanOrEqual(1);
    expect(slowSink.repliedAt, 'the sink acknowledged before the process exited').toBeLessThanOrEqual(exitedAt);
    expect(isAlive(redis), 'the embedded redis-server is stopped').toBe(false);
    expect(redisPid(instance)).toBeUndefined();

    // Both were recorded durably: after a restart the first is "delivered" at attempt 1 and not
    // sent again, and the one accepted during shutdown is delivered (now, or already before exit).
    const again = await startProcess(instance);
    const status = async (id: string) => {
      const res = await fetch(`http://127.0.0.1:${instance.ports.http}/api/v1/messages/${id}`, { headers: { Authorization: `Bearer ${PROCESS_ADMIN_TOKEN}` } });
      return ((await res.json()) as { recipients: { status: string; attempts: number }[] }).recipients[0];
    };
    expect(await status(first!)).toMatchObject({ status: 'delivered', attempts: 1 });
    const deadline = Date.now() + 15_000;
    while ((await status(second!))?.status !== 'delivered' && Date.now() < deadline) await sleep(100);
    expect(await status(second!)).toMatchObject({ status: 'delivered', attempts: 1 });
    await sleep(500);
    const seqs = slowSink.messages.map((m) => SEQ_HEADER.exec(m.toString('latin1'))?.[1]).sort();
    console.log(`durability (SIGTERM): sink received seq ${seqs.join(', ')}`);
    expect(seqs).toEqual(['0', '1']);
    expect(await stopGracefully(again)).toEqual({ code: 0, signal: null });
  }, 60_000);

  // Slow (30-60 s): a crash while deliveries are in flight. The jobs that were "active" keep
  // their BullMQ lock for lockDuration (30 s); the stalled-job check then puts them back.
  it('recovers deliveries that were in flight at a SIGKILL (stalled jobs)', async () => {
    // A destination that accepts TCP and never greets: every attempt stays in flight.
    const blackhole = await startBlackhole();
    const instance = await createInstance({ sinkPort: blackhole.port, delivery: { connectTimeoutSeconds: 120 } });
    const first = await startProcess(instance);
    await submitMany(instance.ports.submission, 20);
    const redis = new Redis({ path: join(instance.dataDir, 'redis', 'redis.sock') });
    const activeKey = `${createKeys('sokutatsu').queuePrefix}:${DELIVERY_QUEUE}:active`;
    const deadline = Date.now() + 10_000;
    while ((await redis.llen(activeKey)) < 20 && Date.now() < deadline) await sleep(50);
    const active = await redis.llen(activeKey);
    redis.disconnect();
    first.child.kill('SIGKILL');
    await first.exited;
    blackhole.close();
    console.log(`durability (in flight): SIGKILL with ${active} jobs active`);
    expect(active).toBeGreaterThan(0);

    const second = await startProcess(instance);
    sink = await startSink({ port: blackhole.port });
    const copies = await waitForAll(sink, 20, 150_000);
    const { missing } = report('in flight', copies, 20);
    expect(missing, second.output()).toEqual([]);
  }, 200_000);
});

interface SlowSink {
  port: number;
  messages: Buffer[];
  /** resolves when the first DATA begins */
  dataStarted: Promise<void>;
  /** when the sink sent its 250 for the first message */
  repliedAt: number | undefined;
  close(): Promise<void>;
}

/** An SMTP destination that holds its reply to DATA for `delayMs` (a slow remote MTA). */
async function startSlowSink(delayMs: number): Promise<SlowSink> {
  let started!: () => void;
  const dataStarted = new Promise<void>((r) => (started = r));
  const sinkState: SlowSink = {
    port: 0,
    messages: [],
    dataStarted,
    repliedAt: undefined,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      started();
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        setTimeout(() => {
          sinkState.messages.push(Buffer.concat(chunks));
          sinkState.repliedAt ??= Date.now();
          callback(null, 'slow sink: ok');
        }, delayMs);
      });
    },
  });
  sinkState.port = await new Promise<number>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
  return sinkState;
}

/** Accepts TCP connections and never says anything. */
async function startBlackhole(): Promise<{ port: number; close(): void }> {
  const { createServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as import('node:net').AddressInfo).port)));
  return {
    port,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
