/**
 * Per-recipient transformation of a stored message just before it is sent.
 *
 * Receives: the message as stored (what the client sent, plus our Received header) and the
 * active DKIM keys of its From domain (none, one, or RSA + Ed25519).
 * Promises: the bytes to put on the wire — Sokutatsu's control headers (X-Sokutatsu-*) removed,
 * then (tracking and List-Unsubscribe will come here, in that order) the DKIM signature last, so
 * it covers the final bytes. Every other byte is untouched.
 */
import { removeFields } from '../mime/header-section.js';
import { isControlHeader } from '../mime/control-headers.js';
import { signMessage, type SigningKey } from './dkim.js';

export interface Prepared {
  wire: Buffer;
  /** "d=example.com s=sel1" when signed (several when dual-signed), else why not */
  dkim: string;
}

export function transformForRecipient(stored: Buffer, keys: SigningKey[], fromDomain: string | null): Prepared {
  const stripped = removeFields(stored, isControlHeader);
  if (keys.length === 0) return { wire: stripped, dkim: `unsigned: no DKIM key for ${fromDomain ?? 'a message without From:'}` };
  return { wire: signMessage(stripped, keys), dkim: keys.map((k) => `d=${k.domain} s=${k.selector}`).join(', ') };
}
