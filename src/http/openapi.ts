/**
 * The OpenAPI 3.1 document of the admin API (`GET /api/v1/openapi.json`), built from what each
 * route module declares beside its routes (an Operation per route: its zod schemas for body and
 * query, its responses), so the document and the routes share their schemas and cannot drift;
 * test/api-routes.test.ts checks that every route of the app is in it and nothing else.
 *
 * Promises: a valid OpenAPI 3.1 object; hono paths (`/:id`) as OpenAPI templates (`/{id}`)
 * with their path parameters; bodies and query parameters as JSON Schema (zod's
 * z.toJSONSchema, input side); every operation needs the bearer token.
 */
import { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface Operation {
  method: HttpMethod;
  /** the full hono path, e.g. /api/v1/messages/:id */
  path: string;
  summary: string;
  description?: string;
  /** JSON request body */
  body?: z.ZodType;
  /** request body of another media type (e.g. text/csv), described in words */
  rawBody?: { contentType: string; description: string };
  query?: z.ZodObject;
  /** extra request headers (name → description) */
  headers?: Record<string, string>;
  responses: Record<string, { description: string; body?: z.ZodType }>;
}

/** The error body every failure carries (CONTRACT). */
export const errorBody = z.strictObject({ error: z.strictObject({ code: z.string(), message: z.string() }) });

/** Hono path → OpenAPI path template. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');
}

function schema(type: z.ZodType): unknown {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(type, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

export function openApiDocument(operations: Operation[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const path = openApiPath(op.path);
    const parameters: unknown[] = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (op.query) {
      const json = schema(op.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, s] of Object.entries(json.properties ?? {})) parameters.push({ name, in: 'query', required: json.required?.includes(name) ?? false, schema: s });
    }
    for (const [name, description] of Object.entries(op.headers ?? {})) parameters.push({ name, in: 'header', required: false, description, schema: { type: 'string' } });
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      responses[status] = { description: r.description, ...(r.body ? { content: { 'application/json': { schema: schema(r.body) } } } : {}) };
    }
    responses['401'] ??= { description: 'no valid bearer token', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    responses['429'] ??= { description: 'rate limit of the token (admin.rateLimitPerMinute, shared by every node); see Retry-After', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    const requestBody = op.body
      ? { required: true, content: { 'application/json': { schema: schema(op.body) } } }
      : op.rawBody ? { required: true, content: { [op.rawBody.contentType]: { schema: { type: 'string' } } }, description: op.rawBody.description } : undefined;
    (paths[path] ??= {})[op.method] = {
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      operationId: `${op.method}${path.replace(/\{([^}]+)\}/g, 'By-$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(parameters.length ? { parameters } : {}),
      ...(requestBody ? { requestBody } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Sokutatsu admin API', version, description: 'Every operation needs `Authorization: Bearer <token>` (admin.token or `sokutatsu token create NAME`). Errors: `{"error": {"code", "message"}}`.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: schema(errorBody) },
    },
    paths,
  };
}
