/**
 * Reports that arrive after delivery — DSNs, complaints, auto-replies — recorded against the
 * recipient they are about.
 *
 * Promises: each kind of report counts once per recipient (a replayed DSN changes nothing); the
 * state change is decided on the state as it is when applied (a concurrent delivery result is
 * never overwritten with a decision taken on an older state); a report about a message whose
 * history has expired changes nothing. A recorded report's event is published with it (the same
 * Lua run: stream and statistics; then the event log's metrics and subscribers).
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { Retention } from './messages.js';
import { RECORD_REPORT } from './scripts.js';
import { EventLog, type ScriptReply } from '../events/event-log.js';
import { FINAL_STATUSES, type MessageEvent, type RecipientState } from './types.js';

export interface ReportDecision {
  /** what kind of report this is: each kind counts once per recipient */
  kind: string;
  event: MessageEvent;
  /** the recipient's new state, when the report changes it */
  state?: RecipientState;
}

export type ReportOutcome = 'recorded' | 'already seen' | 'unknown recipient';

export interface ReportStore {
  /** `decide` sees the recipient's current state and says what the report means for it (null: nothing). */
  apply(messageId: string, rcpt: number, decide: (current: RecipientState) => ReportDecision | null): Promise<ReportOutcome>;
}

type RecordReport = (...args: string[]) => Promise<ScriptReply>;

export function createReportStore(redis: Redis, keys: Keys, retention: Retention, eventLog: EventLog = new EventLog(redis, keys)): ReportStore {
  redis.defineCommand('recordReport', { numberOfKeys: 5, lua: RECORD_REPORT });
  // ioredis adds defined commands at run time; the typed client does not know them.
  const recordReport = (redis as unknown as { recordReport: RecordReport }).recordReport.bind(redis);

  return {
    async apply(id, rcpt, decide) {
      for (let tries = 0; tries < 5; tries++) {
        const raw = await redis.hget(keys.recipients(id), String(rcpt));
        if (!raw) return 'unknown recipient';
        const current = JSON.parse(raw) as RecipientState;
        const decision = decide(current);
        if (!decision) return 'already seen';
        const becomesFinal = !!decision.state && FINAL_STATUSES.has(decision.state.status) && !FINAL_STATUSES.has(current.status);
        const reply = await recordReport(
          keys.message(id), keys.body(id), keys.recipients(id), keys.events(id), keys.reports(id),
          String(rcpt), current.status, decision.state ? JSON.stringify(decision.state) : '', JSON.stringify(decision.event), decision.kind,
          becomesFinal ? '1' : '0', String(retention.retentionSeconds), String(retention.bodyRetentionSeconds), eventLog.scriptArg(),
        );
        const result = reply[0];
        if (result > 0) await eventLog.published(reply, id);
        if (result !== -1) return result > 0 ? 'recorded' : 'already seen';
      }
      throw new Error(`recipient ${rcpt} of message ${id} keeps changing; report not recorded`);
    },
  };
}
