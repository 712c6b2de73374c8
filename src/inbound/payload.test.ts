/**
 * The inbound payload without Redis or HTTP: the attachment budget (in order, later ones flagged),
 * header fields unfolded and decoded, address groups flattened, mailparser's failure turned into
 * parseError with the headers still read.
 */
import { describe, expect, it } from 'vitest';
import { inboundPayload, rawHeaders } from './payload.js';

const input = (raw: string) => ({ id: 'm1', route: { id: 'ir_1', pattern: '*@in.example.org' }, receivedAt: '2026-12-06T00:00:00.000Z', envelope: { from: 'a@b.example', to: ['x@in.example.org'] }, raw: Buffer.from(raw) });

describe('inboundPayload', () => {
  it('fills attachments in order while they fit the budget, then flags the rest', async () => {
    const part = (name: string, bytes: number) => [`--b`, `Content-Type: application/octet-stream; name="${name}"`, 'Content-Transfer-Encoding: base64', '', Buffer.alloc(bytes, 1).toString('base64')].join('\r\n');
    const raw = ['From: a@b.example', 'To: undisclosed:;', 'Cc: Team: one@x.example, two@x.example;', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'hi', part('a', 40), part('b', 30), part('c', 10), '--b--', ''].join('\r\n');
    const p = await inboundPayload(input(raw), { attachmentContentBytes: 50 });
    expect(p.attachments.map((a) => [a.filename, a.size, a.contentOmitted, a.content !== undefined])).toEqual([['a', 40, false, true], ['b', 30, true, false], ['c', 10, false, true]]);
    expect(p.cc.map((a) => a.address)).toEqual(['one@x.example', 'two@x.example']);
    expect(p.to).toEqual([]);
    expect(p.text?.trim()).toBe('hi');
    expect(p.html).toBeNull();
    expect(p.parseError).toBeNull();
    expect(p).toMatchObject({ id: 'm1', type: 'inbound', route: { id: 'ir_1' }, subject: null, messageId: null, inReplyTo: null, references: [], date: null });
  });

  it('turns a parse failure into parseError with the raw headers', async () => {
    const raw = `From: a@b.example\r\nSubject: =?UTF-8?B?${Buffer.from('件名').toString('base64')}?=\r\nX-Big: ${'y'.repeat(3_000_000)}\r\n\r\nbody\r\n`;
    const p = await inboundPayload(input(raw), { attachmentContentBytes: 0 });
    expect(p.parseError).toMatch(/could not be parsed/);
    expect(p.headers.find((h) => h.name === 'Subject')?.value).toBe('件名');
    expect(p.text).toBeNull();
  });
});

describe('rawHeaders', () => {
  it('unfolds, decodes encoded words, keeps order and stops at the body', () => {
    const raw = Buffer.from('Received: from a\r\n\tby b\r\nSubject: =?ISO-2022-JP?B?GyRCJEYkOSRIGyhC?=\r\nbroken line\r\n: empty name\r\nReceived: second\r\n\r\nBody: not a header\r\n');
    expect(rawHeaders(raw)).toEqual([
      { name: 'Received', value: 'from a by b' },
      { name: 'Subject', value: 'てすと' },
      { name: 'Received', value: 'second' },
    ]);
  });
});
