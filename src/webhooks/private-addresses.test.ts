import { describe, expect, it } from 'vitest';
import { isPublicAddress } from './private-addresses.js';

describe('isPublicAddress', () => {
  it('refuses private, loopback, link-local, ULA, CGNAT, multicast, unspecified and reserved addresses', () => {
    for (const ip of [
      '127.0.0.1', '127.255.255.254', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '100.127.255.255',
      '0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255', '192.0.2.1', '198.18.0.1', '203.0.113.9',
      '::', '::1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'ff02::1', '2001:db8::1',
      // IPv6 spellings that reach an IPv4 address: mapped, compatible, NAT64, 6to4
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::127.0.0.1', '64:ff9b::a00:1', '64:ff9b::169.254.169.254', '2002:a00:1::1', '2002:7f00:1::',
      'nonsense', '', '1.2.3', 'localhost',
    ]) {
      expect(isPublicAddress(ip), ip).toBe(false);
    }
  });

  it('allows globally routable addresses', () => {
    for (const ip of ['93.184.216.34', '8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '100.63.255.255', '192.169.0.1', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1']) {
      expect(isPublicAddress(ip), ip).toBe(true);
    }
  });
});
