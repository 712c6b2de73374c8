/**
 * `/api/v1/messages`: send by JSON (http/send.ts), search (http/message-search.ts), one
 * message with its timeline (http/message-view.ts), cancel (http/message-cancel.ts).
 *
 * Promises: query and bodies validated with zod (400 naming the field); unknown or expired ids
 * are 404; each route is described in `messageOperations` for the OpenAPI document.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import type { MessageStore } from '../store/messages.js';
import type { DeliveryQueue } from '../queue/delivery-queue.js';
import { RECIPIENT_STATUSES } from '../store/types.js';
import { apiError, issues } from './errors.js';
import { messageView } from './message-view.js';
import { searchMessages, searchQuery } from './message-search.js';
import { cancelMessage } from './message-cancel.js';
import { sendHandler, type SendDeps } from './send.js';
import { sendBody, sendResponse } from './send-body.js';
import { errorBody, type Operation } from './openapi.js';
import { parseBody } from './body.js';
import type { ApiEnv } from './api-guard.js';

export interface MessageRouteDeps extends SendDeps {
  redis: Redis;
  keys: Keys;
  store: MessageStore;
  queue: DeliveryQueue;
}

const ID = /^[0-9a-z]{9,40}$/;
const cancelBody = z.strictObject({ reason: z.string().min(1).max(300).optional() });

export function messageRoutes(deps: MessageRouteDeps): Hono<ApiEnv> {
  const api = new Hono<ApiEnv>();

  api.post('/', sendHandler(deps));

  api.get('/', async (c) => {
    const query = searchQuery.safeParse(c.req.query());
    if (!query.success) return c.json(apiError('invalid_request', issues(query.error)), 400);
    return c.json(await searchMessages(deps.redis, deps.keys, query.data));
  });

  api.get('/:id', async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id)) return c.json(apiError('not_found', `no message with id ${id.slice(0, 60)}`), 404);
    const view = await messageView(deps.store, id);
    return view ? c.json(view) : c.json(apiError('not_found', `no message with id ${id} (unknown, or past its retention period)`), 404);
  });

  api.post('/:id/cancel', async (c) => {
    const id = c.req.param('id');
    if (!ID.test(id)) return c.json(apiError('not_found', `no message with id ${id.slice(0, 60)}`), 404);
    const body = await parseBody(c, cancelBody, true);
    if (!body.ok) return body.response;
    const outcome = await cancelMessage(deps.store, deps.queue, id, body.value.reason ?? `cancelled through the API (token ${c.get('tokenName')})`);
    return outcome ? c.json(outcome) : c.json(apiError('not_found', `no message with id ${id} (unknown, or past its retention period)`), 404);
  });

  return api;
}

const recipientView = z.object({
  address: z.string(),
  status: z.enum(RECIPIENT_STATUSES),
  reason: z.string().nullable(),
  hard: z.boolean().nullable(),
  failure: z.object({ reason: z.string(), group: z.string(), label: z.string() }).nullable(),
  attempts: z.number(),
  events: z.array(z.object({ type: z.string(), at: z.string() }).loose()),
});
const messageViewSchema = z.object({
  id: z.string(), from: z.string(), subject: z.string().nullable(), tag: z.string().nullable(), createdAt: z.string(), sendAt: z.string().nullable(),
  size: z.number(), metadata: z.record(z.string(), z.string()), recipients: z.array(recipientView),
});
const summary = z.object({
  id: z.string(), from: z.string(), subject: z.string().nullable(), tag: z.string().nullable(), createdAt: z.string(),
  recipients: z.array(z.object({ address: z.string(), status: z.enum(RECIPIENT_STATUSES) })),
});

export const messageOperations: Operation[] = [
  {
    method: 'post', path: '/api/v1/messages', summary: 'Send a message (composed from JSON; the same policy and queue as SMTP submission)',
    description: 'Refusals an SMTP client would get come back as 4xx with the same text: 403 refused (From policy: free-mail, unverified domain), 413 message_too_big (smtp.maxMessageSize), 422 invalid_message / too_many_recipients, 503 unavailable (Redis).',
    body: sendBody,
    headers: { 'Idempotency-Key': 'repeat within 24 h → the first request\'s id, nothing sent again (Idempotent-Replayed: true); per token; with a different body: 422' },
    responses: {
      '202': { description: 'stored and queued', body: sendResponse },
      '400': { description: 'invalid body', body: errorBody },
      '403': { description: 'refused by policy', body: errorBody },
      '409': { description: 'a request with the same Idempotency-Key is still being sent', body: errorBody },
      '413': { description: 'too large', body: errorBody },
      '422': { description: 'refused as a message; or idempotency_key_reused: the key was used for a different body within 24 h', body: errorBody },
      '503': { description: 'could not be stored now; retry', body: errorBody },
    },
  },
  {
    method: 'get', path: '/api/v1/messages', summary: 'Search messages, newest first (recipient, tag, status, time range), a page at a time',
    query: searchQuery,
    responses: {
      '200': { description: 'a page; follow nextCursor until null (a page may be short)', body: z.object({ messages: z.array(summary), nextCursor: z.string().nullable() }) },
      '400': { description: 'invalid query', body: errorBody },
    },
  },
  {
    method: 'get', path: '/api/v1/messages/:id', summary: 'A message with each recipient\'s status and timeline',
    responses: { '200': { description: 'the message', body: messageViewSchema }, '404': { description: 'unknown or past retention', body: errorBody } },
  },
  {
    method: 'post', path: '/api/v1/messages/:id/cancel', summary: 'Cancel the recipients not delivered yet (queued, deferred)',
    body: cancelBody,
    responses: {
      '200': { description: 'what was cancelled', body: z.object({ id: z.string(), cancelled: z.array(z.string()), unchanged: z.array(z.object({ address: z.string(), status: z.enum(RECIPIENT_STATUSES) })) }) },
      '404': { description: 'unknown or past retention', body: errorBody },
    },
  },
];
