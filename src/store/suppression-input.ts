/**
 * What an operator may put on the suppression list (CLI, API, CSV import): addresses, scopes and
 * states checked in one place, with messages that say what is wrong.
 *
 * Promises: a checked address is lower case, `local@domain` with a real domain name; a scope is
 * "global" or a lower-case domain name; errors are SuppressionInputError (a 400 / a usage error).
 */
import { isDomainName } from '../mime/address.js';
import { GLOBAL, type SuppressionEntry, type SuppressionState } from './suppressions.js';

export class SuppressionInputError extends Error {
  override name = 'SuppressionInputError';
}

export const SUPPRESSION_STATES: readonly SuppressionState[] = ['prohibited', 'stopped'];

/** Local part: no spaces, control characters or the characters that delimit addresses. */
const LOCAL_PART = /^[^\s@<>()[\]\\,;:"\x00-\x1f\x7f]{1,64}$/;

/** `local@domain` in lower case, or a SuppressionInputError naming the problem. */
export function checkAddress(value: string): string {
  const address = value.trim().toLowerCase();
  if (address === '') throw new SuppressionInputError('the address is empty');
  if (address.length > 254) throw new SuppressionInputError(`address too long (${address.length} characters, at most 254)`);
  const at = address.lastIndexOf('@');
  const local = at > 0 ? address.slice(0, at) : '';
  const domain = address.slice(at + 1);
  if (at <= 0 || !LOCAL_PART.test(local) || !isDomainName(domain)) {
    throw new SuppressionInputError(`not a mail address: ${JSON.stringify(value.slice(0, 100))} (expected local-part@domain.example)`);
  }
  return address;
}

/** "global" for undefined / "" / "global", else the sending domain in lower case. */
export function checkScope(value: string | undefined): string {
  const scope = (value ?? '').trim().toLowerCase();
  if (scope === '' || scope === GLOBAL) return GLOBAL;
  if (!isDomainName(scope)) throw new SuppressionInputError(`not a sending domain: ${JSON.stringify(scope.slice(0, 100))} (use a domain name, or "global")`);
  return scope;
}

export function checkState(value: string | undefined, fallback: SuppressionState = 'prohibited'): SuppressionState {
  const state = (value ?? '').trim().toLowerCase();
  if (state === '') return fallback;
  if ((SUPPRESSION_STATES as readonly string[]).includes(state)) return state as SuppressionState;
  throw new SuppressionInputError(`state must be prohibited (bounced, complained) or stopped (unsubscribed), not ${JSON.stringify(state.slice(0, 40))}`);
}

export function checkReason(value: string | undefined, fallback: string): string {
  const reason = (value ?? '').trim();
  if (reason.length > 500) throw new SuppressionInputError(`reason too long (${reason.length} characters, at most 500)`);
  return reason === '' ? fallback : reason;
}

/** An ISO time from anything Date.parse reads; undefined for empty. */
export function checkTime(value: string | undefined): string | undefined {
  const text = (value ?? '').trim();
  if (text === '') return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new SuppressionInputError(`not a date/time: ${JSON.stringify(text.slice(0, 40))} (use ISO 8601, e.g. 2026-01-31T12:00:00Z)`);
  return new Date(ms).toISOString();
}

/** An entry with its fields in a fixed order (Redis's JSON encoder reorders them), for output. */
export function orderedEntry(e: SuppressionEntry): SuppressionEntry {
  return { address: e.address, scope: e.scope, state: e.state, reason: e.reason, source: e.source, createdAt: e.createdAt };
}
