/**
 * A small authoritative DNS server for tests, on 127.0.0.1 (UDP and TCP, same free port), so
 * tests give Sokutatsu `dns.servers: [server.address]` and never query public DNS.
 *
 * Receives: a zone (name → A / AAAA / MX / TXT / CNAME), changeable while running. Promises:
 * records of the asked type → NOERROR with answers (TTL: the entry's `ttl`, default 60); a known
 * name without that type → NOERROR, no answers (node: ENODATA); an unknown name → NXDOMAIN (node:
 * ENOTFOUND) — both negative answers with an SOA in the authority section whose TTL and MINIMUM
 * are the entry's ttl (default 60), as real servers send for negative caching; a name set with
 * `hang: true` → no answer at all (node: ETIMEOUT); `fail` → that rcode (SERVFAIL, REFUSED). A UDP answer larger than 512 bytes (or
 * than the query's EDNS payload size) is sent truncated (TC), so the client retries over TCP.
 * Names are case-insensitive, without trailing dot; malformed packets are ignored.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';

export interface ZoneEntry {
  A?: string[];
  AAAA?: string[];
  MX?: { exchange: string; priority: number }[];
  /** each entry is one TXT record; each element one character-string (longer than 255 bytes: split) */
  TXT?: string[][];
  CNAME?: string;
  /** never answer queries for this name (timeout tests) */
  hang?: boolean;
  /** answer every query for this name with this error rcode */
  fail?: 'SERVFAIL' | 'REFUSED';
  /** TTL of this name's records and of its negative answers, in seconds (default 60) */
  ttl?: number;
}
export type Zone = Record<string, ZoneEntry>;

export interface DnsTestServer {
  port: number;
  /** "127.0.0.1:<port>" for dns.servers */
  address: string;
  set(name: string, records: ZoneEntry): void;
  remove(name: string): void;
  /** every well-formed query received, in order (e.g. to check a TCP retry happened) */
  queries: { name: string; type: string; transport: 'udp' | 'tcp'; edns: number | undefined }[];
  close(): Promise<void>;
}

const TYPES: Record<number, string> = { 1: 'A', 5: 'CNAME', 15: 'MX', 16: 'TXT', 28: 'AAAA', 41: 'OPT', 255: 'ANY' };
const TTL = 60;
const FAIL_RCODES = { SERVFAIL: 2, REFUSED: 5 } as const;
const OUR_EDNS_PAYLOAD = 4096;

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

interface Query {
  id: number;
  flags: number;
  /** question section bytes as received (name, type, class) */
  question: Buffer;
  name: string;
  qtype: number;
  /** EDNS UDP payload size if the query carries an OPT record */
  edns: number | undefined;
}

/** Parses one query message; undefined if it is not a well-formed single-question query. */
function parseQuery(msg: Buffer): Query | undefined {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000 || msg.readUInt16BE(4) !== 1 || msg.readUInt16BE(6) !== 0) return undefined;
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) return undefined;
    const len = msg[off]!;
    off += 1;
    if (len === 0) break;
    if (len & 0xc0 || off + len > msg.length || off - 12 > 255) return undefined;
    labels.push(msg.toString('latin1', off, off + len));
    off += len;
  }
  if (off + 4 > msg.length) return undefined;
  const qtype = msg.readUInt16BE(off);
  const question = Buffer.from(msg.subarray(12, off + 4));
  off += 4;
  // Skip authority records (normally none), then look for an OPT record among the additional ones.
  let edns: number | undefined;
  const records = msg.readUInt16BE(8) + msg.readUInt16BE(10);
  for (let i = 0; i < records; i++) {
    const nameStart = off;
    for (;;) {
      if (off >= msg.length) return undefined;
      const len = msg[off]!;
      if ((len & 0xc0) === 0xc0) {
        off += 2;
        break;
      }
      off += 1 + len;
      if (len === 0) break;
    }
    if (off + 10 > msg.length) return undefined;
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    if (type === 41 && msg[nameStart] === 0) edns = Math.max(512, msg.readUInt16BE(off + 2));
    off += 10 + rdlen;
    if (off > msg.length) return undefined;
  }
  return { id: msg.readUInt16BE(0), flags, question, name: norm(labels.join('.')), qtype, edns };
}

function encodeName(name: string): Buffer {
  const labels = norm(name).split('.').filter((l) => l !== '');
  const parts = labels.map((l) => {
    const b = Buffer.from(l, 'latin1');
    if (b.length > 63) throw new Error(`DNS label too long in ${name}`);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** One TXT record's rdata: each string as one or more character-strings of at most 255 bytes. */
function encodeTxt(strings: string[]): Buffer {
  const out: Buffer[] = [];
  for (const s of strings.length > 0 ? strings : ['']) {
    const b = Buffer.from(s, 'utf8');
    let i = 0;
    do {
      const chunk = b.subarray(i, i + 255);
      out.push(Buffer.from([chunk.length]), chunk);
      i += 255;
    } while (i < b.length);
  }
  return Buffer.concat(out);
}

function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) throw new Error(`not an IPv4 address: ${address}`);
  return Buffer.from(parts);
}

function ipv6Bytes(address: string): Buffer {
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address); // "::ffff:192.0.2.1"
  if (v4) {
    const b = ipv4Bytes(v4[2]!);
    address = `${v4[1]}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head = '', tail] = address.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (all.length !== 8) throw new Error(`not an IPv6 address: ${address}`);
  const b = Buffer.alloc(16);
  all.forEach((g, i) => {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) throw new Error(`not an IPv6 address: ${address}`);
    b.writeUInt16BE(parseInt(g, 16), i * 2);
  });
  return b;
}

/** Resource records (type, rdata) of one type for one entry. */
function rdatas(entry: ZoneEntry, qtype: number): [number, Buffer][] {
  switch (TYPES[qtype]) {
    case 'A':
      return (entry.A ?? []).map((a) => [1, ipv4Bytes(a)]);
    case 'AAAA':
      return (entry.AAAA ?? []).map((a) => [28, ipv6Bytes(a)]);
    case 'MX':
      return (entry.MX ?? []).map((mx) => {
        const pref = Buffer.alloc(2);
        pref.writeUInt16BE(mx.priority);
        return [15, Buffer.concat([pref, encodeName(mx.exchange)])];
      });
    case 'TXT':
      return (entry.TXT ?? []).map((txt) => [16, encodeTxt(txt)]);
    case 'CNAME':
      return entry.CNAME ? [[5, encodeName(entry.CNAME)]] : [];
    default:
      return [];
  }
}

function record(owner: Buffer, type: number, rdata: Buffer, ttl = TTL): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2); // class IN
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
}

/** The SOA of a negative answer (RFC 2308): `ttl` as its TTL and as MINIMUM, the negative-caching time. */
function soaRecord(owner: Buffer, ttl: number): Buffer {
  const times = Buffer.alloc(20);
  [1, 3600, 600, 86400, ttl].forEach((v, i) => times.writeUInt32BE(v, i * 4)); // serial, refresh, retry, expire, minimum
  return record(owner, 6, Buffer.concat([encodeName('ns.test'), encodeName('hostmaster.test'), times]), ttl);
}

function optRecord(): Buffer {
  const b = Buffer.alloc(11); // root name, type OPT, payload size, ext-rcode/version/flags 0, rdlen 0
  b.writeUInt16BE(41, 1);
  b.writeUInt16BE(OUR_EDNS_PAYLOAD, 3);
  return b;
}

/** The answer to a query, or undefined when the name is set to hang. `limit`: max size (UDP). */
function answer(zone: Map<string, ZoneEntry>, q: Query, limit: number): Buffer | undefined {
  const resolved = lookup(zone, q);
  if (!resolved) return undefined;
  const { rcode, answers, authority } = resolved;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR, opcode 0, AA, RD as asked, RA; anything but a standard query is NOTIMP.
  const opcode = (q.flags >> 11) & 0xf;
  header.writeUInt16BE(0x8000 | 0x0400 | (q.flags & 0x0100) | 0x0080 | (opcode === 0 ? rcode : 4), 2);
  header.writeUInt16BE(1, 4);
  const extra = q.edns === undefined ? [] : [optRecord()];
  const sections = opcode === 0 ? [...answers, ...authority] : [];
  header.writeUInt16BE(opcode === 0 ? answers.length : 0, 6);
  header.writeUInt16BE(opcode === 0 ? authority.length : 0, 8);
  header.writeUInt16BE(extra.length, 10);
  const full = Buffer.concat([header, q.question, ...sections, ...extra]);
  if (full.length <= limit) return full;
  header.writeUInt16BE(header.readUInt16BE(2) | 0x0200, 2); // TC
  header.writeUInt16BE(0, 6);
  header.writeUInt16BE(0, 8);
  return Buffer.concat([header, q.question, ...extra]);
}

/** rcode, answer and authority records for a query; undefined when a name on the way hangs. */
function lookup(zone: Map<string, ZoneEntry>, q: Query): { rcode: number; answers: Buffer[]; authority: Buffer[] } | undefined {
  let entry = zone.get(q.name);
  if (entry?.hang) return undefined;
  if (entry?.fail) return { rcode: FAIL_RCODES[entry.fail], answers: [], authority: [] };
  const answers: Buffer[] = [];
  // Follow CNAMEs (asked A/TXT/... for an alias): the CNAME record, then the target's records.
  let owner: Buffer = Buffer.from([0xc0, 12]);
  let name = q.name;
  for (let hops = 0; entry && hops < 8; hops++) {
    const found = rdatas(entry, q.qtype);
    const ttl = entry.ttl;
    if (found.length > 0 || !entry.CNAME || q.qtype === 5) {
      answers.push(...found.map(([type, rdata]) => record(owner, type, rdata, ttl)));
      if (found.length > 0) return { rcode: 0, answers, authority: [] };
      break;
    }
    answers.push(record(owner, 5, encodeName(entry.CNAME), ttl));
    owner = encodeName(entry.CNAME);
    name = norm(entry.CNAME);
    entry = zone.get(name); // a target outside the zone: just the CNAME
    if (entry?.hang) return undefined;
  }
  // Negative: each name is its own zone apex here; an unknown name gets the root's SOA.
  const soa = soaRecord(entry ? encodeName(name) : Buffer.from([0]), entry?.ttl ?? TTL);
  return { rcode: entry || answers.length > 0 ? 0 : 3, answers, authority: [soa] };
}

function bindUdp(): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function listenTcp(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** Encodes every record once, so a bad address throws in the test, not in the packet handler. */
function checked(name: string, entry: ZoneEntry): ZoneEntry {
  encodeName(name);
  for (const qtype of [1, 5, 15, 16, 28]) rdatas(entry, qtype);
  return entry;
}

export async function startDnsServer(records: Zone = {}): Promise<DnsTestServer> {
  const zone = new Map<string, ZoneEntry>();
  for (const [name, entry] of Object.entries(records)) zone.set(norm(name), checked(name, entry));
  const queries: DnsTestServer['queries'] = [];

  const handle = (msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    const q = parseQuery(msg);
    if (!q) return undefined;
    queries.push({ name: q.name, type: TYPES[q.qtype] ?? String(q.qtype), transport, edns: q.edns });
    return answer(zone, q, transport === 'tcp' ? 65535 : (q.edns ?? 512));
  };

  let bound: { udp: UdpSocket; tcp: Server } | undefined;
  for (let attempt = 0; attempt < 20 && !bound; attempt++) {
    const u = await bindUdp();
    const t = await listenTcp(u.address().port);
    if (t) bound = { udp: u, tcp: t };
    else await new Promise<void>((r) => u.close(() => r()));
  }
  if (!bound) throw new Error('test DNS server: no port free for both UDP and TCP');
  const { udp, tcp } = bound;
  const port = udp.address().port;

  udp.on('message', (msg, rinfo) => {
    const reply = handle(msg, 'udp');
    if (reply) udp.send(reply, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {});

  const connections = new Set<Socket>();
  tcp.on('connection', (socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + msg.length);
        const reply = handle(msg, 'tcp');
        if (!reply) continue;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([len, reply]));
      }
    });
  });

  return {
    port,
    address: `127.0.0.1:${port}`,
    queries,
    set: (name, entry) => void zone.set(norm(name), checked(name, entry)),
    remove: (name) => void zone.delete(norm(name)),
    close: async () => {
      for (const s of connections) s.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}
