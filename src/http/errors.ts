/**
 * The admin API's error shape (CONTRACT: `{"error": {"code", "message"}}`) and the HTTP status
 * of each error the services raise.
 */
import type { z } from 'zod';
import { DomainError } from '../domains/domain-service.js';
import { SuppressionInputError } from '../store/suppression-input.js';
import { TargetError } from '../webhooks/target.js';
import { EndpointLimitError } from '../webhooks/endpoints.js';
import { PatternError, RouteLimitError } from '../inbound/routes.js';

/** zod's issues as one sentence naming each field (query parameters, bodies). */
export function issues(error: z.ZodError, what = 'query'): string {
  return error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; ');
}

export function apiError(code: string, message: string) {
  return { error: { code, message } };
}

const DOMAIN_STATUS = { invalid: 400, not_found: 404, exists: 409, conflict: 409 } as const;

/** A service error a client can act on, as status + body; null for anything else (a 500). */
export function knownError(err: unknown): { status: 400 | 404 | 409; body: ReturnType<typeof apiError> } | null {
  if (err instanceof DomainError) return { status: DOMAIN_STATUS[err.code], body: apiError(err.code, err.message) };
  if (err instanceof SuppressionInputError) return { status: 400, body: apiError('invalid', err.message) };
  // Webhook endpoints and inbound routes: the URL, the pattern, too many of them.
  if (err instanceof TargetError) return { status: 400, body: apiError('invalid', `url: ${err.message}`) };
  if (err instanceof PatternError) return { status: 400, body: apiError('invalid', `pattern: ${err.message}`) };
  if (err instanceof EndpointLimitError || err instanceof RouteLimitError) return { status: 409, body: apiError('limit', err.message) };
  return null;
}
