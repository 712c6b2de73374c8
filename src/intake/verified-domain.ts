/**
 * policy.requireVerifiedDomains: mail must be From a sending domain whose DNS records verified.
 * One check for every way mail comes in (SMTP submission in intake/listener.ts, the HTTP send
 * API in http/send.ts), so the two cannot drift apart.
 *
 * Promises: resolves when the From: domain is a verified sending domain; otherwise throws an
 * SmtpReplyError (550 5.6.0 / 5.7.1) whose text tells the operator what to run.
 */
import type { DomainStore } from '../domains/domain-store.js';
import { domainOf } from '../mime/address.js';
import { smtpError } from './reply.js';

export async function requireVerifiedDomain(headerFrom: string | null, domains: Pick<DomainStore, 'sendingDomainFor'>): Promise<void> {
  if (!headerFrom) throw smtpError(550, '5.6.0', 'Message has no From: header; a From: on a verified sending domain is required');
  const domain = domainOf(headerFrom);
  const sending = await domains.sendingDomainFor(domain);
  if (!sending) {
    throw smtpError(550, '5.7.1', `From: domain ${domain} is not a sending domain of this server; add it with \`sokutatsu domain add ${domain}\`, publish what \`sokutatsu domain records ${domain}\` shows, then \`sokutatsu domain verify ${domain}\``);
  }
  if (!sending.verified) {
    throw smtpError(550, '5.7.1', `From: domain ${domain} is not verified yet: publish what \`sokutatsu domain records ${sending.domain}\` shows, then run \`sokutatsu domain verify ${sending.domain}\``);
  }
}
