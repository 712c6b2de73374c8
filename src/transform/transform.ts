/**
 * Per-recipient transformation of a stored message just before it is sent.
 *
 * Receives: the message as stored (what the client sent, plus our Received header).
 * Promises: the bytes to put on the wire. Today: Sokutatsu's control headers (X-Sokutatsu-*)
 * removed, every other byte untouched. Tracking, List-Unsubscribe and DKIM join here, in that
 * order, so the signature covers the final bytes (see docs/ARCHITECTURE.md).
 */
import { removeFields } from '../mime/header-section.js';
import { isControlHeader } from '../mime/control-headers.js';

export function transformForRecipient(stored: Buffer): Buffer {
  return removeFields(stored, isControlHeader);
}
