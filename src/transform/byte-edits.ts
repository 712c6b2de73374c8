/**
 * Replacements of byte ranges in a Buffer, applied in one concatenation.
 *
 * Promises: `applyEdits` copies every byte outside the edited ranges as it is; edits must be
 * ascending and apart (an insertion is an edit with start = end).
 */

/** Bytes [start, end) replaced by `bytes`. */
export interface ByteEdit {
  start: number;
  end: number;
  bytes: Buffer;
}

/** `edits` hold offsets of a larger buffer of which `part` starts at `offset`. */
export function applyEdits(part: Buffer, edits: readonly ByteEdit[], offset = 0): Buffer {
  const chunks: Buffer[] = [];
  let pos = 0;
  for (const e of edits) {
    chunks.push(part.subarray(pos, e.start - offset), e.bytes);
    pos = e.end - offset;
  }
  chunks.push(part.subarray(pos));
  return Buffer.concat(chunks);
}
