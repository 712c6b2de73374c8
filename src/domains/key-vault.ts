/**
 * DKIM private keys at rest: sealed with AES-256-GCM when `domains.keyEncryptionKey` (or
 * SOKUTATSU_KEY_ENCRYPTION_KEY) is set, so a copy of Redis (a backup, an AOF file, a replica)
 * does not hand out the keys that sign the domains' mail.
 *
 * Promises: `seal` output starts with `enc:v1:`; `open` accepts both sealed and plain PEM (keys
 * stored before a secret was set keep working); a wrong or missing secret is an error that says
 * which setting to fix, never a garbled key.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';

const PREFIX = 'enc:v1:';
// Fixed salt: the secret is the only input that varies; the salt only separates this use of it.
const SALT = 'sokutatsu dkim key encryption v1';

export interface KeyVault {
  seal(pem: string): string;
  open(stored: string, what: string): string;
  readonly encrypting: boolean;
}

export function createKeyVault(secret: string): KeyVault {
  const key = secret ? scryptSync(secret, SALT, 32) : null;
  return {
    encrypting: key !== null,
    seal(pem) {
      if (!key) return pem;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const sealed = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
      return `${PREFIX}${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${sealed.toString('base64')}`;
    },
    open(stored, what) {
      if (!stored.startsWith(PREFIX)) return stored;
      if (!key) throw new Error(`the DKIM key of ${what} is encrypted: set domains.keyEncryptionKey (or SOKUTATSU_KEY_ENCRYPTION_KEY) to the secret it was stored with`);
      const [iv, tag, data] = stored.slice(PREFIX.length).split(':');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv ?? '', 'base64'));
        decipher.setAuthTag(Buffer.from(tag ?? '', 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(data ?? '', 'base64')), decipher.final()]).toString('utf8');
      } catch {
        throw new Error(`the DKIM key of ${what} cannot be decrypted: domains.keyEncryptionKey (or SOKUTATSU_KEY_ENCRYPTION_KEY) is not the secret it was stored with`);
      }
    },
  };
}
