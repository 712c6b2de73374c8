/**
 * Types for the parts of mailauth's DKIM implementation that src/transform/dkim.ts composes
 * (mailauth ships declarations for its public entry points only). Shapes as in mailauth 4.x
 * lib/tools.js, lib/dkim/body/index.js and lib/dkim/header/index.js.
 */
declare module 'mailauth/lib/tools.js' {
  export interface ParsedHeader {
    key: string | null;
    casedKey: string | undefined;
    line: Buffer;
  }
  export function parseHeaders(buf: Buffer): { parsed: ParsedHeader[]; original: Buffer };
  export function getSigningHeaderLines(parsed: ParsedHeader[], fieldNames: string, verify?: boolean): { keys: string; headers: ParsedHeader[] };
  export function formatSignatureHeaderLine(type: 'DKIM', values: Record<string, string | number | undefined>, folded: boolean): string;
}

declare module 'mailauth/lib/dkim/body/index.js' {
  export interface BodyHasher {
    update(chunk: Buffer): void;
    digest(encoding: 'base64'): string;
  }
  export function dkimBody(canonicalization: 'relaxed' | 'simple', hashAlgo: 'sha256', maxBodyLength: number | false): BodyHasher;
}

declare module 'mailauth/lib/dkim/header/index.js' {
  import type { ParsedHeader } from 'mailauth/lib/tools.js';
  export function generateCanonicalizedHeader(
    type: 'DKIM',
    signingHeaderLines: { keys: string; headers: ParsedHeader[] },
    options: { signingDomain: string; selector: string; algorithm: string; canonicalization: string; bodyHash: string; signTime?: Date },
  ): { canonicalizedHeader: Buffer; signatureHeaderLine: string; dkimHeaderOpts: Record<string, string | number | undefined> };
}
