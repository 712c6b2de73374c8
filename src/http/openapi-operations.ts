/**
 * OpenAPI operations of the admin routes other than messages (domains, sites, suppressions,
 * stats, webhooks — these only when the app serves them), with the zod schemas their route modules validate with where those modules
 * export them. One list per route module; messages.ts and webhooks.ts keep their own beside their routes.
 * test/api-routes.test.ts fails when a route is added without an operation here (or the reverse).
 */
import { errorBody, type Operation } from './openapi.js';
import { addBody as addDomainBody, keyOptions } from './domains.js';
import { pauseBody } from './sites.js';
import { addBody as addSuppressionBody, importQuery, pageQuery, removeQuery } from './suppressions.js';
import { statsQuery } from './stats.js';

const ok = (description: string) => ({ '200': { description } });
const notFound = { '404': { description: 'unknown', body: errorBody } };
const invalid = { '400': { description: 'invalid input', body: errorBody } };

export const domainOperations: Operation[] = [
  { method: 'get', path: '/api/v1/domains', summary: 'Sending domains with their keys and verification state', responses: ok('{domains}') },
  { method: 'post', path: '/api/v1/domains', summary: 'Add a sending domain (generates its DKIM key); returns the DNS records to publish', body: addDomainBody, responses: { '201': { description: 'the domain and its records' }, ...invalid, '409': { description: 'exists', body: errorBody } } },
  { method: 'get', path: '/api/v1/domains/:domain', summary: 'One domain with its records and recent events', responses: { ...ok('the domain'), ...notFound } },
  { method: 'get', path: '/api/v1/domains/:domain/records', summary: 'The DNS records to publish', responses: { ...ok('{records}'), ...notFound } },
  { method: 'get', path: '/api/v1/domains/:domain/events', summary: 'The domain\'s history (verifications, rotations)', responses: { ...ok('{events}'), ...notFound } },
  { method: 'post', path: '/api/v1/domains/:domain/verify', summary: 'Check the domain\'s records in DNS now', responses: { ...ok('the report per record'), ...notFound } },
  { method: 'post', path: '/api/v1/domains/:domain/rotate', summary: 'Start a DKIM key rotation (new pending key)', body: keyOptions, responses: { '201': { description: 'the new key and records' }, ...invalid, ...notFound } },
  { method: 'delete', path: '/api/v1/domains/:domain', summary: 'Remove a sending domain', responses: { '204': { description: 'removed' }, ...notFound } },
];

export const siteOperations: Operation[] = [
  { method: 'get', path: '/api/v1/sites', summary: 'Destination sites: connections across nodes, limits, backoff, pause', responses: ok('{sites}') },
  { method: 'post', path: '/api/v1/sites/:site/pause', summary: 'Pause delivery to a site (minutes, reason)', body: pauseBody, responses: { ...ok('{site, pausedUntil}'), ...invalid } },
  { method: 'post', path: '/api/v1/sites/:site/resume', summary: 'End a pause or backoff; bring the site\'s waiting jobs forward', responses: ok('{site, resumed, promoted}') },
  { method: 'post', path: '/api/v1/sites/:site/retry-now', summary: 'Bring the site\'s waiting jobs forward', responses: ok('{site, promoted}') },
];

export const suppressionOperations: Operation[] = [
  { method: 'get', path: '/api/v1/suppressions', summary: 'The suppression list, a page at a time (HSCAN cursor)', query: pageQuery, responses: { ...ok('{suppressions, nextCursor}'), ...invalid } },
  { method: 'get', path: '/api/v1/suppressions/export', summary: 'The whole list as CSV (address, scope, state, reason, source, created_at), streamed; POST …/import reads it back', responses: { '200': { description: 'text/csv' } } },
  { method: 'post', path: '/api/v1/suppressions/import', summary: 'Add entries from a CSV body (Content-Type: text/csv, header line; address required). Bad rows are skipped and listed with their line (first 100)', query: importQuery, responses: { ...ok('{rows, imported, replaced, bad, dryRun, errors}'), ...invalid, '415': { description: 'not text/csv' } } },
  { method: 'get', path: '/api/v1/suppressions/:address', summary: 'An address\'s entries', responses: { ...ok('{address, entries}'), ...invalid, ...notFound } },
  { method: 'post', path: '/api/v1/suppressions', summary: 'Suppress an address (every sender, or one sending domain)', body: addSuppressionBody, responses: { '201': { description: 'the entry' }, ...invalid } },
  { method: 'delete', path: '/api/v1/suppressions/:address', summary: 'Remove an address\'s entry (per domain, or all)', query: removeQuery, responses: { '204': { description: 'removed' }, ...invalid, ...notFound } },
];

export const statsOperations: Operation[] = [
  { method: 'get', path: '/api/v1/stats', summary: 'Counts and rates by tag, sending domain and time range (hour or day buckets)', query: statsQuery, responses: { ...ok('counts, rates and buckets'), ...invalid } },
];

// Beside its routes, with the schemas they validate with and the answers' shapes.
export { webhookOperations } from './webhooks.js';

export const adminOperations: Operation[] = [
  { method: 'get', path: '/api/v1/openapi.json', summary: 'This document', responses: ok('OpenAPI 3.1') },
  ...domainOperations,
  ...siteOperations,
  ...suppressionOperations,
  ...statsOperations,
];
