/**
 * A certificate authority made up for one test run, and server certificates it signs, so tests
 * can check verified TLS (MTA-STS enforce, `tls: required`) without the public PKI.
 */
import { generate } from 'selfsigned';

export interface TestCa {
  cert: string;
  key: string;
  /** a certificate for `hostname` (in CN and subjectAltName), signed by this CA */
  issue(hostname: string): Promise<{ cert: string; key: string }>;
}

export async function makeTestCa(): Promise<TestCa> {
  const ca = await generate([{ name: 'commonName', value: 'Sokutatsu test CA' }], {
    keySize: 2048,
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }],
  });
  return {
    cert: ca.cert,
    key: ca.private,
    async issue(hostname) {
      const pems = await generate([{ name: 'commonName', value: hostname }], { keySize: 2048, algorithm: 'sha256', ca: { key: ca.private, cert: ca.cert } });
      return { cert: pems.cert, key: pems.private };
    },
  };
}
