import { describe, expect, it } from 'vitest';
import { transformForRecipient } from './transform.js';

const stored = (extra = '') => Buffer.from(
  'Received: from client\r\n\tby mta.test.example; Sun, 06 Dec 2026 01:00:00 +0000\r\n' +
  `From: news@shop.example\r\nX-Sokutatsu-Tag: weekly\r\n${extra}Subject: Hi\r\n\r\nHello\r\n`,
);
const LIST = ['List-Unsubscribe: <https://mta.example/u/abc>,\r\n <mailto:u+abc@rp.shop.example>\r\n', 'List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n'];

describe('transformForRecipient', () => {
  it('adds List-Unsubscribe below the trace fields and strips control headers', async () => {
    const { wire } = await transformForRecipient(stored(), { keys: [], fromDomain: 'shop.example', listUnsubscribe: LIST });
    expect(wire.toString()).toBe(
      'Received: from client\r\n\tby mta.test.example; Sun, 06 Dec 2026 01:00:00 +0000\r\n' + LIST.join('') +
      'From: news@shop.example\r\nSubject: Hi\r\n\r\nHello\r\n',
    );
  });

  it("keeps the sender's own List-Unsubscribe instead of adding ours", async () => {
    const own = 'List-Unsubscribe: <mailto:leave@lists.shop.example>\r\n';
    const { wire } = await transformForRecipient(stored(own), { keys: [], fromDomain: 'shop.example', listUnsubscribe: LIST });
    expect(wire.toString()).not.toContain('u+abc');
    expect(wire.toString()).toContain(own);
  });

  it('leaves a message without HTML and without list fields as stored, control headers aside', async () => {
    const result = await transformForRecipient(stored(), { keys: [], fromDomain: 'shop.example', tracking: () => ({ pixelUrl: 'https://mta.example/t/o/x.gif', clickUrl: () => 'https://mta.example/t/c/y' }) });
    expect(result.wire.toString()).not.toContain('X-Sokutatsu-Tag');
    expect(result.links).toEqual([]);
    expect(result.dkim).toBe('unsigned: no DKIM key for shop.example');
  });
});
