/**
 * DKIM keys: generating one and the public key record receivers look up.
 *
 * Promises: RSA keys as PKCS#8 PEM with an `rsa` record (`p=` the SubjectPublicKeyInfo, as RFC
 * 6376 says); Ed25519 keys with an `ed25519` record whose `p=` is the raw 32-byte key (RFC 8463).
 */
import { generateKeyPairSync } from 'node:crypto';

export const KEY_TYPES = ['rsa2048', 'rsa1024', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export interface DkimKey {
  type: KeyType;
  /** mailauth's algorithm name */
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
  privateKey: string;
  /** the TXT value to publish at <selector>._domainkey.<domain> */
  record: string;
}

export function generateDkimKey(type: KeyType): DkimKey {
  if (type === 'ed25519') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const raw = spki.subarray(spki.length - 32); // the SPKI wrapper of an Ed25519 key is a fixed 12-byte prefix
    return { type, algorithm: 'ed25519-sha256', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=ed25519; p=${raw.toString('base64')}` };
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: type === 'rsa1024' ? 1024 : 2048 });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return { type, algorithm: 'rsa-sha256', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), record: `v=DKIM1; k=rsa; p=${spki.toString('base64')}` };
}

/** A TXT value longer than 255 bytes must be published as several strings (RFC 7208 §3.3). */
export function splitTxt(value: string): string[] {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(value.slice(i, i + 255));
  return parts;
}
