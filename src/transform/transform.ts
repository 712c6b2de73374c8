/**
 * Per-recipient transformation of a stored message just before it is sent.
 *
 * Receives: the message as stored (what the client sent, plus our Received header) and the
 * DKIM key of its From domain, if any.
 * Promises: the bytes to put on the wire — Sokutatsu's control headers (X-Sokutatsu-*) removed,
 * then (tracking and List-Unsubscribe will come here, in that order) the DKIM signature last, so
 * it covers the final bytes. Every other byte is untouched.
 */
import { removeFields } from '../mime/header-section.js';
import { isControlHeader } from '../mime/control-headers.js';
import type { SigningKey } from '../domains/domain-store.js';
import { signMessage } from './dkim.js';

export interface Prepared {
  wire: Buffer;
  /** "d=example.com s=sel1" when signed, else why not */
  dkim: string;
}

export async function transformForRecipient(stored: Buffer, key: SigningKey | null, fromDomain: string | null): Promise<Prepared> {
  const stripped = removeFields(stored, isControlHeader);
  if (!key) return { wire: stripped, dkim: `unsigned: no DKIM key for ${fromDomain ?? 'a message without From:'}` };
  return { wire: await signMessage(stripped, key), dkim: `d=${key.domain} s=${key.selector}` };
}
