import { describe, expect, it } from 'vitest';
import { csvRecords, csvRow, csvHeader, importRows, type ImportRow } from './suppression-csv.js';

async function* chunked(text: string, size: number): AsyncGenerator<string> {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

async function collect<T>(gen: AsyncGenerator<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

const TRICKY = 'address,reason\r\n"a@x.example","bounced, hard"\r\n\r\nb@x.example,"said ""stop""\nand left"\r\nc@x.example,plain\n"d@x.example",""\n';

describe('CSV records', () => {
  it('reads quoted commas, doubled quotes and line breaks, with the line each record starts on, at any chunk size', async () => {
    const expected = [
      { line: 1, fields: ['address', 'reason'] },
      { line: 2, fields: ['a@x.example', 'bounced, hard'] },
      { line: 4, fields: ['b@x.example', 'said "stop"\nand left'] },
      { line: 6, fields: ['c@x.example', 'plain'] },
      { line: 7, fields: ['d@x.example', ''] },
    ];
    for (const size of [1, 2, 3, 5, 7, 1000]) expect(await collect(csvRecords(chunked(TRICKY, size))), `chunks of ${size}`).toEqual(expected);
  });

  it('marks text after a closing quote and an unterminated quote as errors of their record', async () => {
    const records = await collect(csvRecords(chunked('a,b\n"x"y,1\nok,2\n"never ends,3\n', 4)));
    expect(records[1]).toMatchObject({ line: 2, error: expect.stringMatching(/after a closing quote/) });
    expect(records[2]).toEqual({ line: 3, fields: ['ok', '2'] });
    expect(records[3]).toMatchObject({ line: 4, error: expect.stringMatching(/never ends/) });
  });

  it('skips a byte order mark', async () => {
    expect((await collect(csvRecords(chunked('\ufeffaddress\na@x.example\n', 3))))[0]!.fields).toEqual(['address']);
  });
});

describe('import rows', () => {
  it('turns rows into entries and bad rows into errors with their line; defaults scope, state, reason and source', async () => {
    const csv = 'Email,Scope,State,Reason,Created_At,Colour\n' +
      'A@X.example,,,,,red\n' +
      'b@x.example,shop.example,stopped,"unsubscribed, by link",2026-01-02T03:04:05Z,blue\n' +
      'not-an-address,,,,,\n' +
      'c@x.example,global,deliverable,,,\n' +
      'd@x.example,not a domain,,,,\n' +
      'e@x.example,,,,yesterday,\n' +
      'f@x.example,,,,,,extra\n';
    const unknown: string[][] = [];
    const rows = await collect(importRows(chunked(csv, 16), { scope: 'news.example', onUnknownColumns: (n) => unknown.push(n) }));
    expect(unknown).toEqual([['Colour']]);
    expect(rows[0]).toEqual({ line: 2, entry: { address: 'a@x.example', scope: 'news.example', state: 'prohibited', reason: 'imported', source: 'import' } });
    expect(rows[1]).toEqual({ line: 3, entry: { address: 'b@x.example', scope: 'shop.example', state: 'stopped', reason: 'unsubscribed, by link', source: 'import', createdAt: '2026-01-02T03:04:05.000Z' } });
    const errors = rows.slice(2) as Extract<ImportRow, { error: string }>[];
    expect(errors.map((r) => r.line)).toEqual([4, 5, 6, 7, 8]);
    expect(errors.map((r) => r.error)).toEqual([
      expect.stringMatching(/not a mail address/),
      expect.stringMatching(/state must be prohibited .* or stopped/),
      expect.stringMatching(/not a sending domain/),
      expect.stringMatching(/not a date/),
      expect.stringMatching(/7 fields, but the header has 6/),
    ]);
  });

  it('refuses a file without an address column or without any line', async () => {
    await expect(collect(importRows(chunked('name,reason\nx,y\n', 100)))).rejects.toThrow(/no address column/);
    await expect(collect(importRows(chunked('', 100)))).rejects.toThrow(/empty/);
  });

  it('reads back what export writes', async () => {
    const entries = [
      { address: 'a@x.example', scope: 'global', state: 'prohibited' as const, reason: 'hard bounce: address does not exist (userunknown)', source: 'dsn 0abc/1', createdAt: '2026-01-01T00:00:00.000Z' },
      { address: 'b@x.example', scope: 'shop.example', state: 'stopped' as const, reason: ' spaced, "quoted"\r\nand broken ', source: 'manual', createdAt: '2026-02-01T00:00:00.000Z' },
    ];
    const text = csvHeader() + entries.map(csvRow).join('');
    const rows = await collect(importRows(chunked(text, 5)));
    expect(rows.map((r) => ('entry' in r ? r.entry : r))).toEqual(entries.map((e) => ({ ...e, reason: e.reason.trim() })));
  });
});
