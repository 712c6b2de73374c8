/**
 * Accuracy on the labelled development corpus (../shared/corpus/bounces, Sisimai's labels).
 * Floors sit a little under the measured scores so a regression fails; raise them as rules improve.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { classifyBounce } from './bounce.js';

const dir = new URL('../../../shared/corpus/bounces/', import.meta.url);
const FLOORS = { reason: 0.95, hard: 0.98 };

interface Label {
  file: string;
  recipient: string;
  reason: string;
  hardbounce: boolean;
}

describe('bounce corpus', () => {
  it(`reason ≥ ${FLOORS.reason * 100}%, hard/soft ≥ ${FLOORS.hard * 100}%`, async () => {
    const labels = readFileSync(new URL('labels.jsonl', dir), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Label);
    const files = readdirSync(new URL('eml/', dir));
    const predictions = new Map<string, Array<{ recipient: string | null; reason: string; hard: boolean }>>();
    for (const file of files) predictions.set(file, (await classifyBounce(readFileSync(new URL(`eml/${file}`, dir)))).results);
    let reason = 0;
    let hard = 0;
    for (const l of labels) {
      const ps = predictions.get(l.file) ?? [];
      const p = ps.find((x) => x.recipient?.toLowerCase() === l.recipient.toLowerCase()) ?? (ps.length === 1 ? ps[0] : undefined);
      if (p?.reason === l.reason) reason++;
      if (p && p.hard === l.hardbounce) hard++;
    }
    const scores = { reason: reason / labels.length, hard: hard / labels.length };
    console.log(`bounce corpus: reason ${(scores.reason * 100).toFixed(1)}%, hard/soft ${(scores.hard * 100).toFixed(1)}% (${labels.length} labels)`);
    expect(scores.reason).toBeGreaterThanOrEqual(FLOORS.reason);
    expect(scores.hard).toBeGreaterThanOrEqual(FLOORS.hard);
  });
});
