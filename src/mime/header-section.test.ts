import { describe, expect, it } from 'vitest';
import { fieldValue, headerEnd, lineEndingProblem, readHeaderFields, removeFields } from './header-section.js';

const msg = (s: string) => Buffer.from(s, 'latin1');

describe('header section', () => {
  const m = msg('From: a@x.example\r\nSubject: one\r\n two\r\nX-Sokutatsu-Tag: t\r\nTo: b@y.example\r\n\r\nbody\r\nX-Sokutatsu-Tag: in body\r\n');

  it('reads folded fields by lower-case name', () => {
    const fields = readHeaderFields(m);
    expect(fields.map((f) => f.name)).toEqual(['from', 'subject', 'x-sokutatsu-tag', 'to']);
    expect(fieldValue(fields, 'subject')).toBe('one two');
    expect(headerEnd(m)).toBe(m.indexOf('body'));
  });

  it('removes only the selected fields, never the body', () => {
    const out = removeFields(m, (f) => f.name.startsWith('x-sokutatsu-'));
    expect(out.toString('latin1')).toBe('From: a@x.example\r\nSubject: one\r\n two\r\nTo: b@y.example\r\n\r\nbody\r\nX-Sokutatsu-Tag: in body\r\n');
    expect(removeFields(m, () => false)).toBe(m);
  });

  it('keeps 8-bit header and body bytes as they are', () => {
    const sjis = Buffer.concat([msg('Subject: '), Buffer.from([0x93, 0xfa, 0x96, 0x7b]), msg('\r\nX-Sokutatsu-Tag: a\r\n\r\n'), Buffer.from([0x8c, 0xea, 0x0d, 0x0a])]);
    const out = removeFields(sjis, (f) => f.name === 'x-sokutatsu-tag');
    expect(out).toEqual(Buffer.concat([msg('Subject: '), Buffer.from([0x93, 0xfa, 0x96, 0x7b]), msg('\r\n\r\n'), Buffer.from([0x8c, 0xea, 0x0d, 0x0a])]));
  });

  it('finds bare LF, bare CR and NUL', () => {
    expect(lineEndingProblem(msg('a\r\nb\r\n'))).toBeNull();
    expect(lineEndingProblem(msg('a\nb\r\n'))).toMatch(/bare LF/);
    expect(lineEndingProblem(msg('a\rb\r\n'))).toMatch(/bare CR/);
    expect(lineEndingProblem(msg('a\r\n\0\r\n'))).toMatch(/NUL/);
    expect(lineEndingProblem(msg('\nfirst'))).toMatch(/bare LF/);
    expect(lineEndingProblem(msg('end\r'))).toMatch(/bare CR/);
  });
});
