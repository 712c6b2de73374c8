/**
 * `POST /api/v1/messages`: send by JSON. The body is composed into MIME (http/compose.ts),
 * then takes SMTP submission's path: prepareMessage (CRLF, From: policy, free-mail refusal,
 * control headers, Received), policy.requireVerifiedDomains (intake/verified-domain.ts), and
 * store.accept — durable and queued exactly like SMTP mail, with source `api`.
 *
 * Promises: 202 `{id}` only after the message is stored; an SMTP-style refusal becomes a 4xx
 * JSON error carrying the same sentence (and the enhanced status code) an SMTP client would
 * read; size and recipient limits are those of SMTP (smtp.maxMessageSize,
 * smtp.limits.maxRecipients); with `Idempotency-Key`, a repeat within 24 h answers the first
 * id (header `Idempotent-Replayed: true`) and sends nothing; the key with a different body is 422.
 * Every send request is counted once by its final answer (countSends: listener `api` of
 * sokutatsu_messages_received_total), a replay not at all.
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Redis } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { DomainStore } from '../domains/domain-store.js';
import type { Keys } from '../redis/keys.js';
import { newMessageId, type MessageStore } from '../store/messages.js';
import { prepareMessage } from '../intake/prepare.js';
import { requireVerifiedDomain } from '../intake/verified-domain.js';
import { withDeadline } from '../deadline.js';
import type { IntakeMetrics, ReceivedResult } from '../metrics.js';
import { apiError } from './errors.js';
import { parseBody } from './body.js';
import { clientIp } from './client-ip.js';
import { composeMessage, ComposeError } from './compose.js';
import { claim, fingerprint, idempotencyKey, IDEMPOTENCY_SECONDS } from './idempotency.js';
import { sendBody, type SendBody } from './send-body.js';
import type { ApiEnv } from './api-guard.js';

export interface SendDeps {
  redis: Redis;
  keys: Keys;
  store: MessageStore;
  config: Config;
  sendingDomains: Pick<DomainStore, 'sendingDomainFor'>;
}

/** The send API's path (a trailing slash as a client may write it): the body limit and the counting take it. */
export const SEND_PATH = /^\/api\/v1\/messages\/?$/;

/** Recipients of the message a send request stored: set by the handler, read by countSends. */
const storedRecipients = new WeakMap<Context, number>();

/**
 * Counts each send request (POST /api/v1/messages) by the status of its final answer, in front
 * of the body limit so that its 413 counts too — listener `api`, like SMTP intake:
 * 202 accepted (with its recipients and the request → 202 latency); 409 (the key is still being
 * sent) and 5xx deferred: the client is to try again; any other 4xx — invalid body (the zod
 * parser's 400), 403, 413, 422 — rejected. A 202 with `Idempotent-Replayed` is no new message:
 * not counted. Requests the gate refused (401, 429) never get here.
 */
export function countSends(metrics: IntakeMetrics | undefined): MiddlewareHandler {
  return async (c, next) => {
    if (!metrics || c.req.method !== 'POST' || !SEND_PATH.test(c.req.path)) return next();
    const started = Date.now();
    await next();
    const result = sendResult(c.res.status, c.res.headers.has('idempotent-replayed'));
    if (!result) return;
    metrics.messagesReceived.inc({ listener: 'api', result });
    if (result !== 'accepted') return;
    metrics.recipientsReceived.inc({ listener: 'api' }, storedRecipients.get(c) ?? 0);
    metrics.intakeDuration.observe({ listener: 'api' }, (Date.now() - started) / 1000);
  };
}

function sendResult(status: number, replayed: boolean): ReceivedResult | null {
  if (status === 202) return replayed ? null : 'accepted';
  if (status === 409 || status >= 500) return 'deferred';
  // 404: no such route (not a send request).
  if (status >= 400 && status !== 404) return 'rejected';
  return null;
}

/** Base64 grows attachments by 4/3; JSON adds its quoting. The composed message is checked against the real limit. */
export function sendBodyLimit(config: Config): number {
  return Math.ceil(config.smtp.maxMessageSize * 4 / 3) + 1024 * 1024;
}

type Refusal = { status: 400 | 403 | 413 | 422 | 503; code: string; message: string };

export function sendHandler(deps: SendDeps) {
  return async (c: Context<ApiEnv>): Promise<Response> => {
    const parsed = await parseBody(c, sendBody);
    if (!parsed.ok) return parsed.response;
    const body = parsed.value;
    const recipients = body.to.length + body.cc.length + body.bcc.length;
    const max = deps.config.smtp.limits.maxRecipients;
    if (recipients > max) return c.json(apiError('too_many_recipients', `${recipients} recipients: at most ${max} per message (smtp.limits.maxRecipients); send the rest in another message`), 422);

    const key = c.req.header('idempotency-key');
    if (key !== undefined && !/^[\x21-\x7e]{1,255}$/.test(key)) return c.json(apiError('invalid_request', 'Idempotency-Key: 1-255 printable ASCII characters'), 400);
    const id = newMessageId();
    if (key === undefined) return outcome(c, await send(deps, c, body, id, undefined));

    const redisKey = idempotencyKey(deps.keys, c.get('tokenName'), key);
    const waitMs = (deps.config.smtp.limits.storeTimeoutSeconds + 5) * 1000;
    const claimed = await claim(deps.redis, redisKey, id, fingerprint(body), waitMs);
    if (claimed.kind === 'done') return c.json({ id: claimed.id }, 202, { 'Idempotent-Replayed': 'true' });
    if (claimed.kind === 'reused') return c.json(apiError('idempotency_key_reused', `this Idempotency-Key was used within 24 h for a different request (message ${claimed.id}); use a new key for a new message`), 422);
    if (claimed.kind === 'busy') return c.json(apiError('idempotency_in_progress', 'a request with this Idempotency-Key is still being sent; retry shortly'), 409, { 'Retry-After': '1' });
    const result = await send(deps, c, body, id, { key: redisKey, value: claimed.value }).catch(async (err: unknown) => {
      await claimed.release();
      throw err;
    });
    if ('status' in result) await claimed.release();
    return outcome(c, result);
  };
}

function outcome(c: Context, result: Refusal | { id: string; recipients: number }): Response {
  if ('status' in result) return c.json(apiError(result.code, result.message), result.status, result.status === 503 ? { 'Retry-After': '5' } : {});
  storedRecipients.set(c, result.recipients);
  return c.json({ id: result.id }, 202);
}

async function send(deps: SendDeps, c: Context, body: SendBody, id: string, idempotency: { key: string; value: string } | undefined): Promise<Refusal | { id: string; recipients: number }> {
  const { config } = deps;
  let composed;
  try {
    composed = await composeMessage(body, `${id}@${config.hostname}`);
  } catch (err) {
    if (err instanceof ComposeError) return { status: 400, code: 'invalid_request', message: err.message };
    throw err;
  }
  if (composed.raw.length > config.smtp.maxMessageSize) {
    return { status: 413, code: 'message_too_big', message: `the composed message has ${composed.raw.length} bytes: the limit is ${config.smtp.maxMessageSize} (smtp.maxMessageSize)` };
  }
  let message;
  try {
    message = prepareMessage(id, composed.raw, { mailFrom: composed.mailFrom, recipients: composed.recipients }, {
      user: null,
      clientIp: clientIp(c, config.http.trustProxyHops),
      helo: 'api',
      protocol: 'HTTP',
      source: 'api',
    }, { hostname: config.hostname, freeMailDomains: config.policy.freeMailDomains });
    if (config.policy.requireVerifiedDomains) await requireVerifiedDomain(message.headerFrom, deps.sendingDomains);
  } catch (err) {
    const refusal = smtpRefusal(err);
    if (refusal) return refusal;
    throw err;
  }
  // The body's values as given: the header copies are read raw (latin1) and lower-cased by intake.
  if (body.tag) message.tag = body.tag;
  if (body.metadata) message.meta = { ...body.metadata };
  try {
    await withDeadline(deps.store.accept(message, idempotency ? { idempotencyKey: { ...idempotency, ttlSeconds: IDEMPOTENCY_SECONDS } } : {}), config.smtp.limits.storeTimeoutSeconds * 1000, `not stored within ${config.smtp.limits.storeTimeoutSeconds} s (is Redis reachable?)`);
  } catch {
    return { status: 503, code: 'unavailable', message: 'temporary failure storing the message; please try again' };
  }
  return { id, recipients: composed.recipients.length };
}

/** An SMTP reply error of intake as the API's status: 5.7.x policy → 403, 552 → 413, other 5xx → 422, 4xx → 503. */
function smtpRefusal(err: unknown): Refusal | null {
  if (!(err instanceof Error) || !('responseCode' in err) || typeof err.responseCode !== 'number') return null;
  const code = err.responseCode;
  if (code >= 400 && code < 500) return { status: 503, code: 'unavailable', message: err.message };
  if (code === 552) return { status: 413, code: 'message_too_big', message: err.message };
  if (/^5\.7\./.test(err.message)) return { status: 403, code: 'refused', message: err.message };
  return { status: 422, code: 'invalid_message', message: err.message };
}
