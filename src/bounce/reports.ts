/**
 * Port 25's reports: DSNs, complaints and auto-replies sent to the VERP address of a delivery,
 * applied to the recipient that address names.
 *
 * Promises: only a VERP address with a valid mac is accepted at all (`target`); what the report
 * says goes through the one classifier (parser + rule table); a final failure makes the recipient
 * `bounced` with the classified reason (also after it was `delivered`: the remote accepted, then
 * gave up), a delayed DSN and an auto-reply are recorded without changing the status, an ARF
 * report is a `complained` event; every kind counts once per recipient, so a replayed or forged
 * copy changes nothing. Never throws on a malformed message (it is logged and dropped) and never
 * answers with a bounce of its own (no backscatter).
 */
import type { Logger } from 'pino';
import type { ReportDecision, ReportStore } from '../store/reports.js';
import type { MessageEvent, RecipientState } from '../store/types.js';
import { classifyBounce, type BounceResult } from './bounce.js';
import type { Rule } from './rules.js';
import type { Verp, VerpTarget } from './verp.js';
import type { SuppressionPolicy } from './suppression-policy.js';

export interface ReportDeps {
  verp: Verp;
  reports: ReportStore;
  log: Logger;
  extraRules?: readonly Rule[];
  /** bounces and complaints may put the address on the suppression list */
  suppression?: SuppressionPolicy;
}

export interface RecordedReport {
  kind: 'bounce' | 'complaint';
  address: string;
  messageId: string;
  rcpt: number;
  result: BounceResult | null;
}

export class InboundReports {
  constructor(private readonly deps: ReportDeps) {}

  /** The delivery a bounce address names, or null when this server takes no mail for it. */
  target(address: string): VerpTarget | null {
    return this.deps.verp.parse(address);
  }

  /** Applies a received report to each VERP recipient it was sent to; returns one line per recipient for the log. */
  async receive(raw: Buffer, targets: VerpTarget[]): Promise<string[]> {
    const { kind, results } = await classifyBounce(raw, { ...(this.deps.extraRules ? { extraRules: this.deps.extraRules } : {}) });
    const lines: string[] = [];
    for (const target of targets) {
      let recorded: RecordedReport | null = null;
      const outcome = await this.deps.reports.apply(target.messageId, target.rcpt, (current) => {
        const result = resultFor(results, current.address);
        const decision = decide(kind, result, current, target.rcpt);
        if (decision && (decision.kind === 'bounce' || decision.kind === 'complaint')) {
          recorded = { kind: decision.kind, address: current.address, messageId: target.messageId, rcpt: target.rcpt, result };
        }
        return decision;
      });
      if (outcome === 'recorded' && recorded) await this.learn(recorded);
      const what = results[0] ? `${kind} ${results[0].reason}` : kind;
      lines.push(`${target.messageId}/${target.rcpt}: ${what}: ${outcome}`);
    }
    return lines;
  }

  /** What a recorded bounce or complaint means for the suppression list; a failure here loses no report. */
  private async learn(what: RecordedReport): Promise<void> {
    const policy = this.deps.suppression;
    if (!policy) return;
    const source = `${what.kind === 'complaint' ? 'complaint' : 'dsn'} ${what.messageId}/${what.rcpt}`;
    try {
      if (what.kind === 'complaint') await policy.afterComplaint(what.address, source);
      else if (what.result) await policy.afterFailure(what.address, what.result, source);
    } catch (err) {
      this.deps.log.warn({ address: what.address, err: (err as Error).message }, 'could not update the suppression list');
    }
  }
}

/** The part of a report about this recipient: the one naming its address, else the only or first failure. */
function resultFor(results: BounceResult[], address: string): BounceResult | null {
  const named = results.find((r) => r.recipient?.toLowerCase() === address.toLowerCase());
  return named ?? results.find((r) => r.reason !== 'delivered') ?? results[0] ?? null;
}

function decide(kind: string, result: BounceResult | null, current: RecipientState, rcpt: number): ReportDecision | null {
  const base = { at: new Date().toISOString(), rcpt, address: current.address };
  if (kind === 'feedback') {
    return { kind: 'complaint', event: { ...base, type: 'complained', source: 'arf', ...(result?.diagnostic ? { detail: result.diagnostic } : {}) } };
  }
  if (kind === 'autoreply') return { kind: 'autoreply', event: { ...base, type: 'auto_replied', source: 'autoreply', ...(result?.diagnostic ? { detail: result.diagnostic.slice(0, 300) } : {}) } };
  if (!result || result.reason === 'delivered') return null; // nothing to learn (success DSN, or nothing readable)
  const failure = { reason: result.reason, group: result.group, label: result.label };
  const event: MessageEvent = {
    ...base, type: result.final ? 'bounced' : 'delayed', source: 'dsn', failure, hard: result.hard,
    ...(result.status ? { enhancedCode: result.status } : {}), ...(result.replyCode ? { code: result.replyCode } : {}),
    ...(result.diagnostic ? { reply: result.diagnostic } : {}),
  };
  if (!result.final) return { kind: `delayed:${result.status ?? ''}`, event };
  // Already given up on (by us or an earlier report): a later report changes nothing.
  if (!['queued', 'deferred', 'delivered'].includes(current.status)) return null;
  const state: RecipientState = { ...current, status: 'bounced', reason: result.diagnostic || result.label, hard: result.hard, failure, updatedAt: Date.now() };
  return { kind: 'bounce', event, state };
}
