/**
 * The certificate the SMTP listeners present.
 *
 * Promises: the configured cert/key files when `smtp.tls` names them (re-read on reload);
 * otherwise a self-signed certificate for `hostname`, generated once and kept under
 * `dataDir/tls` so clients that pinned it keep working across restarts.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';

export interface TlsMaterial {
  key: Buffer;
  cert: Buffer;
  selfSigned: boolean;
}

export async function loadTls(config: Config, log: Logger): Promise<TlsMaterial> {
  const { cert, key } = config.smtp.tls;
  if (cert || key) {
    if (!cert || !key) throw new Error('smtp.tls: set both cert and key (or neither, for a generated self-signed certificate)');
    return { cert: readFile(cert, 'smtp.tls.cert'), key: readFile(key, 'smtp.tls.key'), selfSigned: false };
  }
  const dir = join(config.dataDir, 'tls');
  const certPath = join(dir, 'selfsigned-cert.pem');
  const keyPath = join(dir, 'selfsigned-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), selfSigned: true };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pems = await generate([{ name: 'commonName', value: config.hostname }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000),
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: config.hostname }, { type: 7, ip: '127.0.0.1' }] }],
  });
  writeFileSync(keyPath, pems.private, { mode: 0o600 });
  writeFileSync(certPath, pems.cert);
  log.warn({ certPath }, `smtp.tls is empty: generated a self-signed certificate for ${config.hostname}; mail clients will warn until you configure a real one`);
  return { cert: Buffer.from(pems.cert), key: Buffer.from(pems.private), selfSigned: true };
}

function readFile(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`${key}: cannot read ${path}: ${(err as Error).message}`);
  }
}
