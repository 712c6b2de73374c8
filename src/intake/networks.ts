/**
 * Address classes intake decides on: trusted networks (relay without AUTH) and loopback
 * (AUTH allowed before TLS).
 */
import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1` is how an IPv4 client looks on a dual-stack socket. */
export function normalizeIp(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export function isLoopback(address: string): boolean {
  const ip = normalizeIp(address);
  return ip === '::1' || (isIP(ip) === 4 && ip.startsWith('127.'));
}

export interface NetworkList {
  contains(address: string): boolean;
}

/** How many client addresses a list remembers its answer for (then it starts over). */
const KNOWN_ADDRESSES = 4096;

export function networkList(cidrs: string[]): NetworkList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits] = cidr.split('/') as [string, string | undefined];
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  // BlockList.check builds a SocketAddress per call (~12 us, once per MAIL FROM); clients repeat.
  const known = new Map<string, boolean>();
  return {
    contains(address) {
      let found = known.get(address);
      if (found === undefined) {
        const ip = normalizeIp(address);
        const family = isIP(ip);
        found = family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
        if (known.size >= KNOWN_ADDRESSES) known.clear();
        known.set(address, found);
      }
      return found;
    },
  };
}
