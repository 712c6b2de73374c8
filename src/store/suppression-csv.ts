/**
 * The suppression list as CSV (RFC 4180): export writes it, import reads it back, also from
 * other tools' files. Columns: address (required), scope, state, reason, source, created_at.
 *
 * Promises: quoted fields (commas, doubled quotes, line breaks) both ways; a record is reported
 * with the line it starts on; a bad row is an error for that row only (the rest goes on); input is
 * read as a stream (a million rows never sit in memory).
 */
import { GLOBAL, type SuppressionEntry } from './suppressions.js';
import { checkAddress, checkReason, checkScope, checkState, checkTime, SuppressionInputError } from './suppression-input.js';

export const CSV_COLUMNS = ['address', 'scope', 'state', 'reason', 'source', 'created_at'] as const;
type Column = (typeof CSV_COLUMNS)[number];
/** Header names other tools use for ours. */
const ALIASES: Record<string, Column> = { email: 'address', email_address: 'address', createdat: 'created_at', created: 'created_at', domain: 'scope' };

export interface CsvRecord {
  /** the line the record starts on (1 = the header) */
  line: number;
  fields: string[];
  /** a syntax problem of this record (unterminated quote, text after a closing quote) */
  error?: string;
}

/** RFC 4180 records from text chunks; lines that are empty are skipped. */
export async function* csvRecords(chunks: AsyncIterable<string | Buffer>): AsyncGenerator<CsvRecord> {
  let line = 1;
  let start = 1;
  let fields: string[] = [];
  let field = '';
  let quoted = false; // inside a quoted field
  let maybeClose = false; // a quote inside a quoted field: closing, unless another quote follows
  let afterQuote = false; // a quoted field has closed; only , or a line end may follow
  let error: string | undefined;
  let first = true;
  let lastCr = false; // the previous character was CR (its LF is the same line break)
  const blank = () => fields.length === 0 && field === '' && !afterQuote;
  const end = (): CsvRecord => {
    fields.push(field);
    const record: CsvRecord = { line: start, fields, ...(error ? { error } : {}) };
    fields = [];
    field = '';
    afterQuote = false;
    error = undefined;
    return record;
  };

  for await (const chunk of chunks) {
    let text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    if (first) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    for (let i = 0; i < text.length; i++) {
      const c = text[i]!;
      const crlf = lastCr && c === '\n';
      lastCr = c === '\r';
      if (maybeClose) {
        maybeClose = false;
        if (c === '"') {
          field += '"';
          continue;
        }
        quoted = false;
        afterQuote = true;
      }
      if (quoted) {
        if (c === '"') maybeClose = true;
        else {
          if ((c === '\n' && !crlf) || c === '\r') line++;
          field += c;
        }
        continue;
      }
      if (crlf) continue;
      if (c === ',') {
        fields.push(field);
        field = '';
        afterQuote = false;
      } else if (c === '\n' || c === '\r') {
        if (!blank()) yield end();
        line++;
        start = line;
      } else if (c === '"' && field === '' && !afterQuote) {
        quoted = true;
      } else {
        if (afterQuote && !error) error = 'text after a closing quote (quote the whole field, and double quotes inside it)';
        field += c;
      }
    }
  }
  if (maybeClose) quoted = false;
  if (quoted) {
    error = `a quoted field starting on line ${start} never ends`;
    yield end();
  } else if (!blank()) yield end();
}

export type ImportRow = { line: number; entry: Omit<SuppressionEntry, 'createdAt'> & { createdAt?: string } } | { line: number; error: string };

export interface ImportOptions {
  /** scope of rows that name none (default global) */
  scope?: string;
  /** called once with header columns that are not ours (they are ignored) */
  onUnknownColumns?: (names: string[]) => void;
}

/**
 * Rows of a suppression CSV with a header, each an entry or an error naming its line. A header
 * without an address column throws SuppressionInputError (nothing can be imported).
 */
export async function* importRows(chunks: AsyncIterable<string | Buffer>, options: ImportOptions = {}): AsyncGenerator<ImportRow> {
  const defaultScope = checkScope(options.scope ?? GLOBAL);
  let columns: Map<Column, number> | null = null;
  let width = 0;
  for await (const record of csvRecords(chunks)) {
    if (!columns) {
      columns = new Map();
      const unknown: string[] = [];
      record.fields.forEach((raw, i) => {
        const name = raw.trim().toLowerCase().replace(/[\s-]+/g, '_');
        const column = (CSV_COLUMNS as readonly string[]).includes(name) ? (name as Column) : ALIASES[name];
        if (!column) return void unknown.push(raw);
        if (columns!.has(column)) throw new SuppressionInputError(`line ${record.line}: the header names ${column} twice`);
        columns!.set(column, i);
      });
      if (!columns.has('address')) throw new SuppressionInputError(`line ${record.line}: the header has no address column (expected a first line like: ${CSV_COLUMNS.join(',')})`);
      if (unknown.length) options.onUnknownColumns?.(unknown);
      width = record.fields.length;
      continue;
    }
    if (record.error) {
      yield { line: record.line, error: record.error };
      continue;
    }
    if (record.fields.length > width) {
      yield { line: record.line, error: `${record.fields.length} fields, but the header has ${width} (quote fields that contain commas)` };
      continue;
    }
    const get = (c: Column) => {
      const i = columns!.get(c);
      return i === undefined ? undefined : record.fields[i];
    };
    try {
      const scopeText = get('scope');
      const createdAt = checkTime(get('created_at'));
      yield {
        line: record.line,
        entry: {
          address: checkAddress(get('address') ?? ''),
          scope: scopeText?.trim() ? checkScope(scopeText) : defaultScope,
          state: checkState(get('state')),
          reason: checkReason(get('reason'), 'imported'),
          source: checkReason(get('source'), 'import'),
          ...(createdAt ? { createdAt } : {}),
        },
      };
    } catch (err) {
      if (!(err instanceof SuppressionInputError)) throw err;
      yield { line: record.line, error: err.message };
    }
  }
  if (!columns) throw new SuppressionInputError('the file is empty (expected a header line, then one row per address)');
}

/** One CSV field, quoted when it must be. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + '\r\n';
}

export function csvRow(e: SuppressionEntry): string {
  return [e.address, e.scope, e.state, e.reason, e.source, e.createdAt].map(csvField).join(',') + '\r\n';
}
