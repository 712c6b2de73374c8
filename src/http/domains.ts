/**
 * `/api/v1/domains`: the sending-domain operations of the CLI over HTTP (list, add, get,
 * records, verify, rotate, delete, events), through the same service.
 *
 * Promises: bodies validated with zod (400 naming the field); the service's DomainErrors become
 * 400 / 404 / 409 with its message (src/http/errors.ts); private keys are never in a response.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { verifyReport, type DomainService } from '../domains/domain-service.js';
import { KEY_TYPES } from '../domains/dkim-key.js';
import { parseBody } from './body.js';

export const keyOptions = z.strictObject({
  selector: z.string().min(1).max(63).optional(),
  key: z.enum(KEY_TYPES).optional(),
});
export const addBody = keyOptions.extend({ domain: z.string().min(1).max(253) });

export function domainRoutes(service: DomainService): Hono {
  const api = new Hono();

  api.get('/', async (c) => c.json({ domains: await service.list() }));
  api.post('/', async (c) => {
    const body = await parseBody(c, addBody);
    if (!body.ok) return body.response;
    const { domain, records } = await service.add(body.value.domain, { selector: body.value.selector, keyType: body.value.key });
    return c.json({ ...domain, records }, 201);
  });
  api.get('/:domain', async (c) => {
    const { domain, records } = await service.records(c.req.param('domain'));
    return c.json({ ...domain, records, events: await service.events(domain.domain, 20) });
  });
  api.get('/:domain/records', async (c) => c.json({ records: (await service.records(c.req.param('domain'))).records }));
  api.get('/:domain/events', async (c) => {
    const d = await service.get(c.req.param('domain'));
    return c.json({ events: await service.events(d.domain, 200) });
  });
  api.post('/:domain/verify', async (c) => {
    return c.json(verifyReport(await service.verify(c.req.param('domain'), 'api')));
  });
  api.post('/:domain/rotate', async (c) => {
    const body = await parseBody(c, keyOptions, true);
    if (!body.ok) return body.response;
    const rotated = await service.rotate(c.req.param('domain'), { selector: body.value.selector, keyType: body.value.key });
    return c.json({ domain: rotated.domain.domain, key: rotated.key, records: rotated.records }, 201);
  });
  api.delete('/:domain', async (c) => {
    await service.remove(c.req.param('domain'));
    return c.body(null, 204);
  });

  return api;
}
