/**
 * One POST of a webhook body to a checked target.
 *
 * Receives: a Target (src/webhooks/target.ts: URL + the checked address), the body and headers,
 * a timeout. Promises: connects to exactly the checked address (never resolves the name again),
 * with the URL's host as Host header and TLS server name (certificates are verified for it);
 * no redirect is followed (a 3xx is a failure like any other non-2xx); the whole exchange —
 * connect, request, response to its last byte — is bounded by the timeout; at most 64 KB of the
 * response is read; never throws: the outcome is a status or an error text. `extraCa` (PEM) is
 * trusted besides the system's CAs (the CA option would otherwise replace them).
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Target } from './target.js';

export interface PostResult {
  /** the HTTP status, when a response came */
  status: number | null;
  /** why it failed without a response (timeout, refused, TLS, …) */
  error: string | null;
  durationMs: number;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

export function postJson(target: Target, body: string, headers: Record<string, string>, timeoutMs: number, extraCa?: string): Promise<PostResult> {
  const started = Date.now();
  const { url } = target;
  const secure = url.protocol === 'https:';
  return new Promise((resolve) => {
    let settled = false;
    const finish = (status: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, error, durationMs: Date.now() - started });
    };
    const options: https.RequestOptions = {
      method: 'POST',
      host: target.address,
      family: target.family,
      port: url.port || (secure ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      headers: { ...headers, Host: url.host, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) },
      // A fresh connection per POST: a pooled one could outlive the address check it was made for.
      agent: false,
      ...(secure && !isIP(target.host) ? { servername: target.host } : {}),
      ...(secure && extraCa ? { ca: [...rootCertificates, extraCa] } : {}),
    };
    const req = (secure ? https : http).request(options, (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        // The status is all we need; a huge answer is not worth reading.
        if (read > MAX_RESPONSE_BYTES) {
          finish(res.statusCode ?? null, null);
          res.destroy();
        }
      });
      res.on('end', () => finish(res.statusCode ?? null, null));
      res.on('error', () => finish(res.statusCode ?? null, null));
    });
    const timer = setTimeout(() => {
      finish(null, `no complete response within ${timeoutMs / 1000} s`);
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(null, describe(err, target)));
    req.end(body);
  });
}

function describe(err: NodeJS.ErrnoException, target: Target): string {
  const where = `${target.address}:${target.url.port || (target.url.protocol === 'https:' ? 443 : 80)}`;
  if (err.code === 'ECONNREFUSED') return `connection refused by ${where}`;
  if (err.code === 'ECONNRESET') return `connection reset by ${where}`;
  return `${err.code ? `${err.code}: ` : ''}${err.message}`.slice(0, 300);
}
