/**
 * Importing a suppression CSV into the list: the one loop the CLI (`suppress import`) and the
 * admin API (`POST /api/v1/suppressions/import`) share.
 *
 * Receives: the CSV as chunks (a file stream, a request body), the list (null: a dry run that only
 * checks), the scope of rows that name none.
 * Promises: every row checked; bad rows reported with their line (through `onBad`) and skipped;
 * good ones written in batches of 1,000 (addMany: one Lua run per 500); a summary of what was
 * read, imported, replaced and skipped. A header without an address column throws
 * SuppressionInputError before anything is written.
 */
import type { SuppressionEntry, SuppressionList } from './suppressions.js';
import { importRows, type ImportOptions } from './suppression-csv.js';

const BATCH = 1000;

export interface ImportSummary {
  rows: number;
  imported: number;
  replaced: number;
  bad: number;
  dryRun: boolean;
}

export interface ImportHooks extends ImportOptions {
  onBad?: (line: number, error: string) => void;
  onProgress?: (summary: ImportSummary) => void;
  /** onProgress every this many rows */
  progressEvery?: number;
}

export async function importSuppressions(list: SuppressionList | null, chunks: AsyncIterable<string | Buffer>, hooks: ImportHooks = {}): Promise<ImportSummary> {
  const summary: ImportSummary = { rows: 0, imported: 0, replaced: 0, bad: 0, dryRun: list === null };
  let batch: Array<Omit<SuppressionEntry, 'createdAt'> & { createdAt?: string }> = [];
  const flush = async () => {
    if (list && batch.length) for (const replaced of await list.addMany(batch)) if (replaced) summary.replaced++;
    summary.imported += batch.length;
    batch = [];
  };
  const options: ImportOptions = { ...(hooks.scope !== undefined ? { scope: hooks.scope } : {}), ...(hooks.onUnknownColumns ? { onUnknownColumns: hooks.onUnknownColumns } : {}) };
  for await (const row of importRows(chunks, options)) {
    summary.rows++;
    if ('error' in row) {
      summary.bad++;
      hooks.onBad?.(row.line, row.error);
    } else {
      batch.push(row.entry);
      if (batch.length >= BATCH) await flush();
    }
    if (hooks.onProgress && summary.rows % (hooks.progressEvery ?? 10_000) === 0) hooks.onProgress(summary);
  }
  await flush();
  return summary;
}
