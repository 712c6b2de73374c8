/**
 * `sokutatsu bounce classify` as an operator runs it: a real process on corpus files.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const eml = (name: string): string => fileURLToPath(new URL(`../../shared/corpus/bounces/eml/${name}`, import.meta.url));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('bounce classify', () => {
  it('prints one JSON line per failed recipient', async () => {
    const run = await cli(['bounce', 'classify', '--json', eml('rfc3464-01.eml'), eml('lhost-qmail-01.eml')]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(Object.keys(l)).toEqual(expect.arrayContaining(['file', 'recipient', 'reason', 'hard', 'status', 'diagnostic']));
    expect(lines[0]).toMatchObject({ recipient: 'userunknown@bouncehammer.jp', status: '5.1.1', hard: true });
    expect(lines[1]).toMatchObject({ recipient: 'kijitora@example.ne.jp', reason: 'userunknown', hard: true });
  });

  it('exit 1 for an unreadable file, the others still classified; exit 2 without files', async () => {
    const run = await cli(['bounce', 'classify', '/nonexistent/x.eml', eml('rfc3464-01.eml')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('/nonexistent/x.eml');
    expect(run.stdout).toContain('userunknown@bouncehammer.jp');
    expect((await cli(['bounce', 'classify'])).code).toBe(2);
  });
});
