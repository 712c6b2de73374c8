/**
 * A received bounce message → one classified line per recipient it reports on (parser + classifier).
 * Used by `sokutatsu bounce classify` and, later, by the port-25 intake.
 */
import { classifyRecipient, type Classification, type ClassifyOptions } from './classify.js';
import { parseBounce, type BounceKind, type ParseLimits } from './dsn.js';

export interface BounceResult extends Classification {
  recipient: string | null;
  action: string | null;
}

export async function classifyBounce(raw: Buffer, options: ClassifyOptions & ParseLimits = {}): Promise<{ kind: BounceKind; results: BounceResult[] }> {
  const parsed = await parseBounce(raw, options);
  const results = parsed.recipients.map((r) => ({ recipient: r.recipient, action: r.action, ...classifyRecipient(parsed, r, options) }));
  return { kind: parsed.kind, results };
}
