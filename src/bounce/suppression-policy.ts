/**
 * When a failure or a complaint puts an address on the suppression list (issue 5's rules):
 * a hard bounce (the address or its domain does not exist) and a complaint at once, for every
 * sending domain; soft bounces about the mailbox (full, suspended, retries expired) after
 * `suppression.softBounceCount` in a row spanning `softBounceMinHours` — a delivery in between
 * starts the count again; reputation and policy refusals (blocked, spam detected, …) never,
 * since they say nothing about the address.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { GLOBAL, type SuppressionEntry, type SuppressionList } from '../store/suppressions.js';

/** Soft reasons that are about the recipient's mailbox, so a run of them means it is dead. */
const SOFT_ABOUT_THE_ADDRESS: ReadonlySet<string> = new Set(['mailboxfull', 'exceedlimit', 'suspend', 'expired', 'systemfull', 'notaccept']);

export interface ClassifiedFailure {
  reason: string;
  hard: boolean;
  label: string;
}

export class SuppressionPolicy {
  constructor(
    readonly list: SuppressionList,
    private readonly settings: Config['suppression'],
    private readonly log: Logger,
  ) {}

  /** A final failure (bounce, expiry, DSN) of a delivery to `address`; `source` says which. */
  async afterFailure(address: string, failure: ClassifiedFailure, source: string, now = Date.now()): Promise<SuppressionEntry | null> {
    if (failure.hard) return this.suppress(address, `hard bounce: ${failure.label} (${failure.reason})`, source);
    if (!SOFT_ABOUT_THE_ADDRESS.has(failure.reason)) return null;
    const run = await this.list.noteSoftBounce(address, now);
    const hours = (now - run.firstAt) / 3_600_000;
    if (run.count < this.settings.softBounceCount || hours < this.settings.softBounceMinHours) return null;
    return this.suppress(address, `soft bounces: ${run.count} in a row over ${Math.round(hours)} h (last: ${failure.label}, ${failure.reason})`, source);
  }

  async afterComplaint(address: string, source: string): Promise<SuppressionEntry> {
    return this.suppress(address, 'complaint: the recipient reported the mail as spam (feedback loop)', source);
  }

  /** A delivery went through: a run of soft bounces is over. */
  async afterDelivery(address: string): Promise<void> {
    await this.list.clearSoftBounces(address);
  }

  private async suppress(address: string, reason: string, source: string): Promise<SuppressionEntry> {
    const entry = await this.list.add({ address, scope: GLOBAL, state: 'prohibited', reason, source });
    this.log.info({ address: entry.address, scope: entry.scope, reason, source }, 'address suppressed');
    return entry;
  }
}
