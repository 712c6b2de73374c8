/**
 * MX lookups WITH their TTL, asked by ourselves over UDP (TCP when truncated): node's resolver
 * (c-ares) returns no TTL for MX answers, and the delivery cache must not keep an answer longer
 * than DNS allows (issue 4: "MX answers are cached with their TTL").
 *
 * Receives: a name, the servers to ask (in order) and one overall time budget. Promises: the MX
 * records of the final name of the answer (CNAMEs in the answer followed), each with the TTL of
 * the whole answer (the smallest along the CNAME chain); or an error with node's codes, since
 * callers branch on `code`: ENOTFOUND (NXDOMAIN), ENODATA (no MX record), ETIMEOUT, ESERVFAIL,
 * EREFUSED, ENOTIMP, EFORMERR, EBADRESP, ECONNREFUSED (no server reachable), EBADNAME. ENOTFOUND
 * and ENODATA carry `ttl`, the negative-caching time of RFC 2308, when the server sent an SOA.
 * The budget is a real bound: no lookup settles later than it.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { decode, encode, RECURSION_DESIRED, TRUNCATED_RESPONSE, type Answer, type DecodedPacket, type SoaAnswer, type StringAnswer } from 'dns-packet';

export interface MxRecord {
  exchange: string;
  priority: number;
  /** seconds this answer may be kept; absent when the resolver cannot tell (test fakes) */
  ttl?: number;
}

export interface DnsServer {
  host: string;
  port: number;
}

/** An error shaped like node's DNS errors (`code`, `syscall`, `hostname`, same message form). */
export class DnsLookupError extends Error {
  readonly syscall = 'queryMx';
  constructor(
    readonly code: string,
    readonly hostname: string,
    /** negative-caching seconds (RFC 2308) of an ENOTFOUND / ENODATA answer, if the server told */
    readonly ttl?: number,
  ) {
    super(`queryMx ${code} ${hostname}`);
  }
}

/** Like c-ares' `tries: 2` that createResolver gives node's resolver: every server asked twice. */
const TRIES_PER_SERVER = 2;
/** A longer chain is a loop or a misconfiguration; c-ares stops too. */
const MAX_CNAME_HOPS = 8;

export async function queryMx(name: string, servers: DnsServer[], timeoutMs: number): Promise<MxRecord[]> {
  const qname = checkName(name);
  const reply = await askServers(qname, servers, Date.now() + timeoutMs);
  return mxRecords(reply, qname);
}

/** "Example.COM." → "Example.COM"; a name DNS cannot carry → EBADNAME (as node). */
function checkName(name: string): string {
  const qname = name.replace(/\.$/, '');
  const labels = qname.split('.');
  if (qname === '' || qname.length > 253 || labels.some((l) => l === '' || Buffer.byteLength(l) > 63)) {
    throw new DnsLookupError('EBADNAME', name);
  }
  return qname;
}

/**
 * Each server in turn, the list twice, until one gives a definite answer (NOERROR or NXDOMAIN).
 * Each try gets an equal share of the time left, so a hanging first server leaves time for the
 * next one and the whole lookup still ends by `deadline`. Fails with the last try's error.
 */
async function askServers(qname: string, servers: DnsServer[], deadline: number): Promise<DecodedPacket> {
  const tries = Array.from({ length: servers.length * TRIES_PER_SERVER }, (_, i) => servers[i % servers.length]!);
  let failure = new DnsLookupError(servers.length === 0 ? 'ECONNREFUSED' : 'ETIMEOUT', qname);
  for (let i = 0; i < tries.length; i++) {
    const shareMs = (deadline - Date.now()) / (tries.length - i);
    if (shareMs <= 0) break;
    try {
      return await askServer(qname, tries[i]!, shareMs, deadline);
    } catch (err) {
      if (!(err instanceof DnsLookupError)) throw err;
      failure = err;
    }
  }
  throw failure;
}

/** One query to one server: UDP, then TCP if the answer was truncated; rcode checked. */
async function askServer(qname: string, server: DnsServer, shareMs: number, deadline: number): Promise<DecodedPacket> {
  // A random id (and a new socket per try) so that a forged or late reply is not taken as ours.
  const id = randomInt(0, 0x10000);
  // No EDNS: plain queries work with every server; an MX answer over 512 bytes is rare and
  // comes over TCP then.
  const query = encode({ type: 'query', id, flags: RECURSION_DESIRED, questions: [{ type: 'MX', name: qname, class: 'IN' }] });
  const until = () => Math.min(Date.now() + shareMs, deadline);
  const reply = await udpExchange(query, server, until(), (msg) => parseReply(msg, id, qname), qname);
  if (reply !== 'truncated') return checkRcode(reply, qname);
  // Over TCP the stream is ours: anything but our complete reply is a broken server.
  const tcpReply = parseReply(await tcpExchange(query, server, until(), qname), id, qname);
  if (tcpReply === undefined || tcpReply === 'truncated') throw new DnsLookupError('EBADRESP', qname);
  return checkRcode(tcpReply, qname);
}

/** The reply to our query, 'truncated' (TC set), or undefined when it is not ours or not DNS. */
function parseReply(msg: Buffer, id: number, qname: string): DecodedPacket | 'truncated' | undefined {
  if (msg.length < 12 || msg.readUInt16BE(0) !== id || !(msg.readUInt16BE(2) & 0x8000)) return undefined;
  // A truncated message may end mid-record, so it is not decoded: it only sends us to TCP.
  if (msg.readUInt16BE(2) & TRUNCATED_RESPONSE) return 'truncated';
  let packet: DecodedPacket;
  try {
    packet = decode(msg);
  } catch {
    return undefined;
  }
  const q = packet.questions?.[0];
  return q && q.type === 'MX' && sameName(q.name, qname) ? packet : undefined;
}

/** rcode as dns-packet names it; its type declarations omit the field. */
const rcodeOf = (packet: DecodedPacket): string => (packet as DecodedPacket & { rcode?: string }).rcode ?? '';

/** The error codes c-ares gives for these rcodes; each makes askServers try the next server. */
const RCODE_ERRORS: Record<string, string> = { SERVFAIL: 'ESERVFAIL', REFUSED: 'EREFUSED', NOTIMP: 'ENOTIMP', FORMERR: 'EFORMERR' };

function checkRcode(packet: DecodedPacket, qname: string): DecodedPacket {
  const rcode = rcodeOf(packet);
  if (rcode === 'NOERROR' || rcode === 'NXDOMAIN') return packet;
  throw new DnsLookupError(RCODE_ERRORS[rcode] ?? 'EBADRESP', qname);
}

/** A definite answer → the MX records of its final name, or ENOTFOUND / ENODATA. */
function mxRecords(packet: DecodedPacket, qname: string): MxRecord[] {
  const answers = packet.answers ?? [];
  const chain = followCnames(answers, qname);
  if (rcodeOf(packet) === 'NXDOMAIN') throw new DnsLookupError('ENOTFOUND', qname, negativeTtl(packet));
  const mx = answers.flatMap((a) => (a.type === 'MX' && sameName(a.name, chain.name) ? [a] : []));
  if (mx.length === 0) throw new DnsLookupError('ENODATA', qname, negativeTtl(packet));
  const ttl = Math.min(chain.ttl, ...mx.map((a) => a.ttl ?? 0));
  // The null MX (RFC 7505) exchange "." comes as "" from node: the same here.
  return mx.map((a) => ({ exchange: a.data.exchange === '.' ? '' : a.data.exchange, priority: a.data.preference ?? 0, ttl }));
}

/** The name the answer ends at and the smallest CNAME TTL on the way (Infinity: no CNAME). */
function followCnames(answers: Answer[], qname: string): { name: string; ttl: number } {
  let name = qname;
  let ttl = Infinity;
  for (let hops = 0; hops < MAX_CNAME_HOPS; hops++) {
    const cname = answers.find((a): a is StringAnswer => a.type === 'CNAME' && sameName(a.name, name));
    if (!cname) break;
    name = cname.data;
    ttl = Math.min(ttl, cname.ttl ?? 0);
  }
  return { name, ttl };
}

/** RFC 2308 §5: a negative answer is kept for the smaller of the SOA's TTL and its MINIMUM field. */
function negativeTtl(packet: DecodedPacket): number | undefined {
  const soa = (packet.authorities ?? []).find((a): a is SoaAnswer => a.type === 'SOA');
  if (!soa) return undefined;
  return Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0);
}

const sameName = (a: string, b: string): boolean => a.replace(/\.$/, '').toLowerCase() === b.replace(/\.$/, '').toLowerCase();

/**
 * Sends `query` over UDP and resolves with the first reply `accept` takes (others are ignored:
 * stray or forged packets must not end the wait). ETIMEOUT at `until`; a socket error (e.g. ICMP
 * port unreachable) → ECONNREFUSED, as c-ares reports an unreachable server.
 */
function udpExchange<T>(query: Buffer, server: DnsServer, until: number, accept: (msg: Buffer) => T | undefined, qname: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.close();
      finish();
    };
    const timer = setTimeout(() => settle(() => reject(new DnsLookupError('ETIMEOUT', qname))), Math.max(0, until - Date.now()));
    socket.on('message', (msg) => {
      const reply = accept(msg);
      if (reply !== undefined) settle(() => resolve(reply));
    });
    socket.on('error', () => settle(() => reject(new DnsLookupError('ECONNREFUSED', qname))));
    // connect(): the kernel then drops datagrams from any other address than the server's.
    socket.connect(server.port, server.host, () => {
      if (!settled) socket.send(query); // a try whose share ran out while connecting has closed the socket
    });
  });
}

/** Sends `query` over TCP (2-byte length prefix) and resolves with the one reply message. */
function tcpExchange(query: Buffer, server: DnsServer, until: number, qname: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      finish();
    };
    const timer = setTimeout(() => settle(() => reject(new DnsLookupError('ETIMEOUT', qname))), Math.max(0, until - Date.now()));
    const length = Buffer.alloc(2);
    length.writeUInt16BE(query.length);
    socket.on('connect', () => socket.write(Buffer.concat([length, query])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        settle(() => resolve(received.subarray(2, 2 + received.readUInt16BE(0))));
      }
    });
    socket.on('error', () => settle(() => reject(new DnsLookupError('ECONNREFUSED', qname))));
    socket.on('close', () => settle(() => reject(new DnsLookupError('EBADRESP', qname))));
  });
}
