import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventPayload, pingPayload, signature } from './payload.js';

describe('signature', () => {
  it('is t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>', () => {
    const body = '{"id":"1-0","type":"delivered"}';
    const expected = createHmac('sha256', 'whsec_test').update(`1765000000.${body}`).digest('hex');
    expect(signature('whsec_test', body, 1765000000)).toBe(`t=1765000000,v1=${expected}`);
    // Any change of body, time or secret changes it.
    expect(signature('whsec_test', body + ' ', 1765000000)).not.toBe(signature('whsec_test', body, 1765000000));
    expect(signature('whsec_test', body, 1765000001)).not.toBe(signature('whsec_test', body, 1765000000));
    expect(signature('whsec_tesT', body, 1765000000)).not.toBe(signature('whsec_test', body, 1765000000));
  });
});

describe('eventPayload', () => {
  it('always has the stable keys, adds known optional ones, and nothing unreviewed', () => {
    const payload = eventPayload({
      id: '1-0', type: 'opened', at: '2026-12-06T00:00:00.000Z', rcpt: 1, address: 'a@b.example', messageId: 'm1', tag: null, domain: 'b.example', metadata: {},
      machine: true, why: 'Apple Mail Privacy Protection', count: 2, ip: '198.51.100.1', userAgent: 'x', dkim: 'd=b.example s=s1',
    });
    expect(payload).toEqual({
      id: '1-0', type: 'opened', at: '2026-12-06T00:00:00.000Z', messageId: 'm1', recipient: 'a@b.example', tag: null, domain: 'b.example', metadata: {},
      reason: null, group: null, hard: null, reply: null, detail: null, url: null, machine: true, rcpt: 1, count: 2, ip: '198.51.100.1', userAgent: 'x',
    });
  });

  it('pings name the endpoint and carry nulls for the message keys', () => {
    expect(pingPayload('wh_0123456789abcdef', new Date(0))).toMatchObject({ id: expect.stringMatching(/^ping-[0-9a-f]{16}$/), type: 'ping', at: '1970-01-01T00:00:00.000Z', webhookId: 'wh_0123456789abcdef', messageId: null, recipient: null, metadata: {} });
  });
});
