/**
 * The header section of a raw RFC 5322 message, read and edited as bytes.
 *
 * Promises: nothing outside the fields asked for is changed; the body is never copied into a
 * string (a 25 MB message costs one Buffer.concat at most).
 */

export interface HeaderField {
  /** lower-case name */
  name: string;
  /** unfolded value, leading/trailing whitespace trimmed, decoded as latin1 (bytes preserved) */
  value: string;
  /** byte offsets of the whole field, folded lines and final CRLF included */
  start: number;
  end: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Offset where the body starts (after the blank line), or the message length when there is none. */
export function headerEnd(message: Buffer): number {
  if (message.length >= 2 && message[0] === 13 && message[1] === 10) return 2; // no headers at all
  const i = message.indexOf(CRLFCRLF);
  return i === -1 ? message.length : i + 4;
}

export function readHeaderFields(message: Buffer): HeaderField[] {
  const end = headerEnd(message);
  const text = message.toString('latin1', 0, end);
  const fields: HeaderField[] = [];
  let pos = 0;
  while (pos < text.length) {
    let lineEnd = text.indexOf('\r\n', pos);
    if (lineEnd === -1) lineEnd = text.length;
    if (lineEnd === pos) break; // the blank line
    let fieldEnd = lineEnd + 2;
    while (fieldEnd < text.length && (text[fieldEnd] === ' ' || text[fieldEnd] === '\t')) {
      const next = text.indexOf('\r\n', fieldEnd);
      fieldEnd = next === -1 ? text.length : next + 2;
    }
    const raw = text.slice(pos, Math.min(fieldEnd, text.length));
    const colon = raw.indexOf(':');
    if (colon > 0) {
      fields.push({
        name: raw.slice(0, colon).trim().toLowerCase(),
        value: raw.slice(colon + 1).replace(/\r\n/g, '').trim(),
        start: pos,
        end: Math.min(fieldEnd, text.length),
      });
    }
    pos = fieldEnd;
  }
  return fields;
}

/** The first field's value by lower-case name. */
export function fieldValue(fields: HeaderField[], name: string): string | null {
  return fields.find((f) => f.name === name)?.value ?? null;
}

/** The message without the fields `drop` selects; returns the same Buffer when none match. */
export function removeFields(message: Buffer, drop: (field: HeaderField) => boolean): Buffer {
  const removed = readHeaderFields(message).filter(drop);
  if (removed.length === 0) return message;
  const parts: Buffer[] = [];
  let pos = 0;
  for (const field of removed) {
    parts.push(message.subarray(pos, field.start));
    pos = field.end;
  }
  parts.push(message.subarray(pos));
  return Buffer.concat(parts);
}

/**
 * Why the message's line endings are not valid CRLF, or null when they are: SMTP allows only
 * CRLF pairs, and a bare CR or LF is how "SMTP smuggling" hides a second message in the first.
 */
export function lineEndingProblem(message: Buffer): string | null {
  if (message.indexOf(0) !== -1) return 'a NUL byte';
  let i = message.indexOf(10);
  while (i !== -1) {
    if (i === 0 || message[i - 1] !== 13) return 'a bare LF (line feed without carriage return)';
    i = message.indexOf(10, i + 1);
  }
  i = message.indexOf(13);
  while (i !== -1) {
    if (message[i + 1] !== 10) return 'a bare CR (carriage return without line feed)';
    i = message.indexOf(13, i + 1);
  }
  return null;
}
