/**
 * Inbound route patterns without Redis: what a pattern may be, which route takes an address
 * (exact before wildcard, more literal characters first, case-insensitive), and the glob's cost.
 */
import { describe, expect, it } from 'vitest';
import { globMatch, matchRoute, normalizePattern, PatternError, type InboundRoute } from './routes.js';

let n = 0;
const route = (pattern: string, enabled = true): InboundRoute => ({
  id: `ir_${String(++n).padStart(16, '0')}`, pattern: normalizePattern(pattern), url: 'https://crm.example/in', secret: 's', enabled, createdAt: new Date(2026, 0, 1, 0, 0, n).toISOString(),
});

describe('normalizePattern', () => {
  it('accepts addresses and wildcards, lower-cased', () => {
    expect(normalizePattern(' Support@IN.Shop.Example ')).toBe('support@in.shop.example');
    for (const p of ['*@in.shop.example', 'reply+*@shop.example', '*@*.in.shop.example', 'a*b*c@x.example', "o'brien.x_y-z@shop.example"]) expect(normalizePattern(p)).toBe(p);
  });
  it('refuses what is not local@domain', () => {
    for (const p of ['', 'support', '@shop.example', 'a@', 'a@localhost', 'a@in.*.example', 'a@*', '"a b"@shop.example', 'a@b@shop.example', 'a@-x.example', 'a@shop.example.', `${'a'.repeat(320)}@x.example`]) {
      expect(() => normalizePattern(p), p).toThrow(PatternError);
    }
  });
});

describe('matchRoute', () => {
  const exact = route('support@in.shop.example');
  const anyIn = route('*@in.shop.example');
  const reply = route('reply+*@shop.example');
  const replyOrder = route('reply+order-*@shop.example');
  const sub = route('*@*.mail.example');
  const off = route('off@in.shop.example', false);
  const routes = [anyIn, reply, exact, replyOrder, sub, off];

  it('prefers the exact route, then the most literal wildcard', () => {
    expect(matchRoute(routes, 'support@in.shop.example')).toBe(exact);
    expect(matchRoute(routes, 'SUPPORT@In.Shop.Example')).toBe(exact);
    expect(matchRoute(routes, 'sales@in.shop.example')).toBe(anyIn);
    expect(matchRoute(routes, 'reply+order-7@shop.example')).toBe(replyOrder);
    expect(matchRoute(routes, 'reply+abc@shop.example')).toBe(reply);
    expect(matchRoute(routes, 'reply+@shop.example')).toBe(reply);
    expect(matchRoute(routes, 'a@eu.mail.example')).toBe(sub);
    expect(matchRoute(routes, 'a@x.y.mail.example')).toBe(sub);
  });

  it('takes nothing else: other domains, look-alikes, disabled routes, relay tricks', () => {
    for (const a of ['reply@shop.example', 'x@shop.example', 'support@in.shop.example.evil', 'support@xin.shop.example', 'a@mail.example', 'a@evilmail.example',
      'support%in.shop.example@evil.example', 'in.shop.example', '@in.shop.example', '']) {
      expect(matchRoute(routes, a), a).toBeNull();
    }
    // A disabled exact route does not shadow the enabled wildcard of its domain.
    expect(matchRoute(routes, 'off@in.shop.example')).toBe(anyIn);
  });
});

describe('globMatch', () => {
  it('matches * over any run, also none', () => {
    expect(globMatch('a*b*c', 'abc')).toBe(true);
    expect(globMatch('a*b*c', 'axxbyyc')).toBe(true);
    expect(globMatch('a*b*c', 'axxbyy')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('reply+*', 'reply')).toBe(false);
  });
  it('stays linear-ish on a pattern made to backtrack', () => {
    const started = performance.now();
    expect(globMatch('*a*a*a*a*a*a*a*a*b', 'a'.repeat(300))).toBe(false);
    expect(performance.now() - started).toBeLessThan(50);
  });
});
