/**
 * DATA encoding: leading dots doubled (RFC 5321 §4.5.2) with native `indexOf` per line — a
 * byte-by-byte loop in JS was the largest single cost of relaying 100 KB messages (~16% of CPU).
 */

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/**
 * The chunk with a dot added before every line-leading dot, or null when it is not clean CRLF
 * (a bare CR or LF, also across the boundary with the previous chunk's last byte).
 * `lastByte` is the previous chunk's last byte, or false at the start of the message.
 */
export function stuffDots(chunk: Buffer, lastByte: number | false): Buffer | null {
  if (lastByte === CR && chunk[0] !== LF) return null;
  if (chunk.indexOf(CR) !== -1 && !crsAreFollowedByLf(chunk)) return null;
  const cuts: number[] = [];
  if (chunk[0] === DOT && (lastByte === LF || lastByte === false)) cuts.push(0);
  let lf = chunk.indexOf(LF);
  while (lf !== -1) {
    const prev = lf === 0 ? lastByte : chunk[lf - 1];
    if (prev !== CR) return null;
    if (chunk[lf + 1] === DOT) cuts.push(lf + 1);
    lf = chunk.indexOf(LF, lf + 1);
  }
  if (cuts.length === 0) return chunk;
  const parts: Buffer[] = [];
  let from = 0;
  for (const at of cuts) {
    parts.push(chunk.subarray(from, at), DOT_BUFFER);
    from = at;
  }
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts, chunk.length + cuts.length);
}

const DOT_BUFFER = Buffer.from('.');

function crsAreFollowedByLf(chunk: Buffer): boolean {
  // A CR as the very last byte is checked against the next chunk (see lastByte above).
  for (let cr = chunk.indexOf(CR); cr !== -1 && cr < chunk.length - 1; cr = chunk.indexOf(CR, cr + 1)) {
    if (chunk[cr + 1] !== LF) return false;
  }
  return true;
}

/**
 * The message as it goes after DATA: dot-stuffed, every line ending CRLF. Stored messages are
 * CRLF-only (intake refuses anything else), so the native path is the one taken; a bare CR or LF
 * from a transform is repaired to CRLF rather than sent as is (RFC 5321 §2.3.8).
 */
export function dotStuffed(message: Buffer): Buffer {
  const clean = message[message.length - 1] === CR ? null : stuffDots(message, false);
  return clean ?? stuffDots(toCrlf(message), false)!;
}

function toCrlf(message: Buffer): Buffer {
  return Buffer.from(message.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}
