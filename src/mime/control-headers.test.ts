import { describe, expect, it } from 'vitest';
import { readHeaderFields } from './header-section.js';
import { ControlHeaderError, readControlHeaders } from './control-headers.js';

const fields = (s: string) => readHeaderFields(Buffer.from(s + '\r\n\r\nbody'));

describe('control headers', () => {
  it('reads tag, send-at, track and meta', () => {
    const v = readControlHeaders(fields('X-Sokutatsu-Tag: spring-sale\r\nX-Sokutatsu-Send-At: 2026-12-01T09:00:00+09:00\r\nX-Sokutatsu-Track: opens, clicks\r\nX-Sokutatsu-Meta-Customer-Id: 42'));
    expect(v).toEqual({ tag: 'spring-sale', sendAt: Date.parse('2026-12-01T00:00:00Z'), track: 'opens,clicks', meta: { 'customer-id': '42' } });
  });

  it('refuses a Send-At that is not RFC 3339, naming the header', () => {
    expect(() => readControlHeaders(fields('X-Sokutatsu-Send-At: tomorrow'))).toThrow(ControlHeaderError);
    expect(() => readControlHeaders(fields('X-Sokutatsu-Send-At: 2026-13-45T00:00:00Z'))).toThrow(/X-Sokutatsu-Send-At/);
    expect(() => readControlHeaders(fields('X-Sokutatsu-Track: everything'))).toThrow(/X-Sokutatsu-Track/);
  });
});
