/**
 * DKIM signing, the last transformation before a message leaves (the signature must cover the
 * final bytes).
 *
 * Promises: relaxed/relaxed, d= the From domain's registered domain (aligned for DMARC), over
 * the headers receivers care about; the DKIM-Signature header is prepended, nothing else changes.
 */
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { SigningKey } from '../domains/domain-store.js';

/**
 * Signed when present. Over-signing From (listing it once more than present, so a From added in
 * transit breaks the signature) is not possible through mailauth's headerList: it signs each
 * listed field as often as it occurs. Still to do (issue 3).
 */
const SIGNED_HEADERS = [
  'from', 'to', 'cc', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'content-transfer-encoding',
  'reply-to', 'list-unsubscribe', 'list-unsubscribe-post', 'feedback-id',
].join(':');

export async function signMessage(message: Buffer, key: SigningKey): Promise<Buffer> {
  const result = await dkimSign(message, {
    canonicalization: 'relaxed/relaxed',
    headerList: SIGNED_HEADERS,
    signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKey, algorithm: key.algorithm, canonicalization: 'relaxed/relaxed' }],
    // mailauth's typings describe a single-signature shape; its signer reads signatureData (lib/dkim/dkim-signer.js).
  } as unknown as Parameters<typeof dkimSign>[1]);
  const errors = (result.errors ?? []) as unknown[];
  if (errors.length) throw new Error(`DKIM signing for ${key.domain} failed: ${errors.map((e) => (e instanceof Error ? e.message : JSON.stringify(e))).join('; ')}`);
  return Buffer.concat([Buffer.from(result.signatures), message]);
}
