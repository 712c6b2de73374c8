/**
 * Inbound routes keep "nothing acknowledged with 250 is lost": Sokutatsu as a real child process
 * on the embedded Redis takes routed mail on port 25 while the route's URL is down, is SIGKILLed
 * together with its redis-server, and after a restart (the AOF loaded) POSTs every mail it said
 * 250 for, once the receiver is up. Needs redis-server on PATH.
 */
import { createServer, type Server } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { cleanupProcesses, createInstance, freePorts, killHard, PROCESS_ADMIN_TOKEN, redisPid, startProcess } from './support/process.js';
import { RawSmtp } from './support/raw-smtp.js';

const MAILS = 20;
let receiver: Server | undefined;

afterEach(async () => {
  await cleanupProcesses();
  if (receiver) {
    receiver.closeAllConnections();
    await new Promise<void>((r) => receiver!.close(() => r()));
  }
  receiver = undefined;
});

it('POSTs every routed mail acknowledged before a SIGKILL of app and redis-server', async () => {
  const [receiverPort] = await freePorts(1);
  const instance = await createInstance({ webhooks: { allowPrivateTargets: true, retry: { firstDelaySeconds: 5, maxDelaySeconds: 5, maxAgeSeconds: 3600 } } });
  const first = await startProcess(instance);
  const created = await fetch(`http://127.0.0.1:${instance.ports.http}/api/v1/inbound-routes`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${PROCESS_ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ pattern: 'orders+*@in.shop.example', url: `http://127.0.0.1:${receiverPort}/in` }),
  });
  expect(created.status).toBe(201);

  // Nothing listens on the receiver's port yet: every POST fails and waits for a retry.
  const acknowledged: string[] = [];
  const { client } = await RawSmtp.connect(instance.ports.inbound);
  await client.ehlo('mx.customer.example');
  for (let i = 0; i < MAILS; i++) {
    expect((await client.send('MAIL FROM:<c@customer.example>')).code).toBe(250);
    expect((await client.send(`RCPT TO:<orders+${i}@in.shop.example>`)).code).toBe(250);
    const reply = await client.data(`From: <c@customer.example>\r\nTo: <orders+${i}@in.shop.example>\r\nSubject: order ${i}\r\n\r\nbody ${i}\r\n`);
    expect(reply.code, reply.text).toBe(250);
    acknowledged.push(/queued as (\w+)/.exec(reply.text)![1]!);
  }
  await client.close();
  // Every first POST has failed (refused at once) and waits 5 s in "delayed": the kill finds no
  // POST in flight. (One in flight would come back too, after its BullMQ lock expires, 30-60 s:
  // the delivery queue's durability test covers that stalled-job path.)
  await new Promise((r) => setTimeout(r, 1000));

  await killHard(first.pid);
  await killHard(redisPid(instance)!);
  await startProcess(instance);

  const posted = new Map<string, string>();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; subject: string };
      posted.set(body.id, body.subject);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver!.listen(receiverPort, '127.0.0.1', r));
  const deadline = Date.now() + 30_000;
  while (posted.size < MAILS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect([...posted.keys()].sort()).toEqual([...acknowledged].sort());
  expect(new Set(posted.values()).size).toBe(MAILS);
}, 90_000);
