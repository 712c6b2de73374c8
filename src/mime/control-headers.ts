/**
 * Sokutatsu's control headers (CONTRACT.md): how a client tags, schedules and tunes a message.
 * Intake reads them; delivery removes them before the message leaves.
 */
import type { HeaderField } from './header-section.js';

export const CONTROL_PREFIX = 'x-sokutatsu-';
export const TAG = 'x-sokutatsu-tag';
export const SEND_AT = 'x-sokutatsu-send-at';
export const TRACK = 'x-sokutatsu-track';
export const META_PREFIX = 'x-sokutatsu-meta-';

export function isControlHeader(field: HeaderField): boolean {
  return field.name.startsWith(CONTROL_PREFIX);
}

export interface ControlValues {
  tag: string | null;
  sendAt: number | null;
  track: string | null;
  meta: Record<string, string>;
}

export class ControlHeaderError extends Error {
  override name = 'ControlHeaderError';
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const TRACK_VALUE = /^\s*(none|opens|clicks|opens\s*,\s*clicks|clicks\s*,\s*opens)\s*$/i;

export function readControlHeaders(fields: HeaderField[]): ControlValues {
  const values: ControlValues = { tag: null, sendAt: null, track: null, meta: {} };
  for (const field of fields) {
    if (!isControlHeader(field)) continue;
    if (field.name === TAG) values.tag = field.value.slice(0, 200) || null;
    else if (field.name === SEND_AT) values.sendAt = parseSendAt(field.value);
    else if (field.name === TRACK) values.track = parseTrack(field.value);
    else if (field.name.startsWith(META_PREFIX)) values.meta[field.name.slice(META_PREFIX.length)] = field.value.slice(0, 1000);
  }
  return values;
}

function parseSendAt(value: string): number {
  const ms = RFC3339.test(value) ? Date.parse(value.replace(' ', 'T')) : NaN;
  if (Number.isNaN(ms)) {
    throw new ControlHeaderError(`X-Sokutatsu-Send-At: "${value.slice(0, 60)}" is not an RFC 3339 time such as 2026-12-01T09:00:00+09:00`);
  }
  return ms;
}

function parseTrack(value: string): string {
  if (!TRACK_VALUE.test(value)) {
    throw new ControlHeaderError(`X-Sokutatsu-Track: "${value.slice(0, 60)}" must be none, opens, clicks or opens,clicks`);
  }
  return value.toLowerCase().replace(/\s+/g, '');
}
