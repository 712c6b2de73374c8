/**
 * One SMTP listener (submission, submissions or inbound) on smtp-server.
 *
 * Receives: SMTP sessions. Promises, per smtp-server's handler contract (check, reply with an
 * error carrying responseCode, return; save last): a client sees 250 "queued as <ID>" only after
 * the store has the message durably; every refusal carries a code, an enhanced code and a
 * sentence saying what to change; limits the library leaves open (connections per IP, failed
 * AUTH per connection, total DATA time, oversize) are enforced here. Each DATA is counted once
 * in sokutatsu_messages_received_total by result: 250 accepted, 5xx rejected, 4xx deferred (on
 * port 25 only mail for inbound routes; reports and unsubscribe mail are not messages received).
 */
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { MessageStore } from '../store/messages.js';
import { newMessageId } from '../store/messages.js';
import { refusedResult, type Metrics } from '../metrics.js';
import type { AuthGuard } from './auth.js';
import type { User } from './users.js';
import type { TlsMaterial } from './tls.js';
import { domainAllowed, mailboxDomain } from './users.js';
import { networkList, normalizeIp } from './networks.js';
import { prepareMessage } from './prepare.js';
import { smtpError, type SmtpReplyError } from './reply.js';
import { closeConnection, findConnection, keepOwnEnhancedCodes, refuseUnparsableRecipients } from './connections.js';
import { withDeadline } from '../deadline.js';
import type { DomainStore } from '../domains/domain-store.js';
import { requireVerifiedDomain } from './verified-domain.js';
import type { InboundReports } from '../bounce/reports.js';
import type { InboundRouting, RoutedRecipient } from '../inbound/receive.js';

export type ListenerRole = 'submission' | 'submissions' | 'inbound';

export interface ListenerDeps {
  config: Config;
  log: Logger;
  store: MessageStore;
  auth: AuthGuard;
  tls: TlsMaterial;
  metrics: Metrics;
  domains: DomainStore;
  /** port 25's bounce and complaint reports (VERP addresses); without it inbound refuses every recipient */
  reports?: InboundReports;
  /** port 25's unsubscribe mail (u+TOKEN@ addresses of List-Unsubscribe's mailto:) */
  unsubscribes?: InboundUnsubscribes;
  /** port 25's inbound routes (addresses an application receives mail for, src/inbound/) */
  inboundRoutes?: InboundRouting;
  /** shared by all listeners: open connections per client IP */
  connectionsPerIp: Map<string, number>;
  isDraining: () => boolean;
}

/** What port 25 needs of tracking/unsubscribe.ts: which recipients are unsubscribe addresses, and acting on one. */
export interface InboundUnsubscribes {
  accepts(address: string): boolean;
  unsubscribe(address: string): Promise<string>;
}

export function createListener(role: ListenerRole, deps: ListenerDeps): SMTPServer {
  const { config, log } = deps;
  const limits = config.smtp.limits;
  const trusted = networkList(config.smtp.trustedNetworks);
  const counted = new Set<string>();

  // Every refusal is counted and logged with the session, so an operator can answer "why was my mail refused?".
  const reject = (err: SmtpReplyError, session: SMTPServerSession): SmtpReplyError => {
    deps.metrics.smtpRejections.inc({ listener: role, code: String(err.responseCode) });
    const user = (session.user as User | undefined)?.name;
    log.info({ listener: role, session: session.id, ip: normalizeIp(session.remoteAddress), user, from: session.envelope?.mailFrom ? session.envelope.mailFrom.address : undefined, reply: `${err.responseCode} ${err.message}` }, 'smtp refused');
    return err;
  };

  const server: SMTPServer = new SMTPServer({
    name: config.hostname,
    banner: 'Sokutatsu ESMTP',
    secure: role === 'submissions',
    key: deps.tls.key,
    cert: deps.tls.cert,
    size: config.smtp.maxMessageSize,
    authMethods: ['PLAIN', 'LOGIN'],
    // AUTH is enforced in onMailFrom (trusted networks may skip it) and onAuth (TLS first).
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: role === 'inbound' ? ['AUTH'] : [],
    disableReverseLookup: true,
    // Advertised and used; our own replies carry their exact codes (see keepOwnEnhancedCodes).
    hideENHANCEDSTATUSCODES: false,
    maxClients: limits.maxConnections,
    socketTimeout: limits.socketTimeoutSeconds * 1000,
    closeTimeout: config.shutdown.graceSeconds * 1000,
    logger: false,

    onConnect(session, callback) {
      const connection = findConnection(server, session.id);
      if (connection) keepOwnEnhancedCodes(connection);
      if (connection && role === 'inbound') refuseUnparsableRecipients(connection, `5.7.1 Relay access denied: ${config.hostname} does not accept mail for that address here`);
      const ip = normalizeIp(session.remoteAddress);
      const open = (deps.connectionsPerIp.get(ip) ?? 0) + 1;
      deps.connectionsPerIp.set(ip, open);
      counted.add(session.id);
      if (deps.isDraining()) return callback(reject(smtpError(421, '4.3.2', `${config.hostname} is shutting down; try again shortly`), session));
      if (open > limits.maxConnectionsPerIp) {
        log.warn({ session: session.id, ip, open }, 'smtp connection refused: too many connections from this address');
        return callback(reject(smtpError(421, '4.7.0', `Too many connections from ${ip} (limit ${limits.maxConnectionsPerIp}); try again later`), session));
      }
      callback();
    },

    onClose(session) {
      deps.auth.closed(session.id);
      if (!counted.delete(session.id)) return;
      const ip = normalizeIp(session.remoteAddress);
      const open = (deps.connectionsPerIp.get(ip) ?? 1) - 1;
      if (open <= 0) deps.connectionsPerIp.delete(ip);
      else deps.connectionsPerIp.set(ip, open);
    },

    onAuth(auth: SMTPServerAuthentication, session, callback) {
      deps.auth
        .authenticate({ username: auth.username ?? '', password: auth.password ?? '', sessionId: session.id, remoteAddress: session.remoteAddress, secure: session.secure })
        .then((result) => {
          if (result.ok) {
            log.info({ session: session.id, ip: normalizeIp(session.remoteAddress), user: result.user.name }, 'smtp auth ok');
            return callback(null, { user: result.user });
          }
          if (result.disconnect) setImmediate(() => closeConnection(server, session.id, 421, '4.7.0 Too many failed authentication attempts; closing connection'));
          callback(reject(result.error as SmtpReplyError, session));
        })
        .catch((err: Error) => {
          log.error({ session: session.id, err: err.message }, 'smtp auth error');
          callback(reject(smtpError(454, '4.7.0', 'Temporary authentication failure; try again later'), session));
        });
    },

    onMailFrom(address: SMTPServerAddress, session, callback) {
      if (role === 'inbound') return callback();
      const user = session.user as User | undefined;
      if (!user && !trusted.contains(session.remoteAddress)) {
        return callback(reject(smtpError(530, '5.7.0', 'Authentication required: log in with AUTH (after STARTTLS) before sending'), session));
      }
      if (!user || !address.address) return callback(); // null sender <>: the From: header is still checked
      const domain = mailboxDomain(address.address);
      if (domain === null) return callback(reject(smtpError(553, '5.1.7', `Sender address <${address.address}> is not a valid mailbox (local-part@domain)`), session));
      if (!domainAllowed(domain, user.domains)) {
        return callback(reject(smtpError(550, '5.7.1', `Sender domain ${domain} is not allowed for user ${user.name} (allowed: ${user.domains.join(', ') || 'none'})`), session));
      }
      callback();
    },

    onRcptTo(address: SMTPServerAddress, session, callback) {
      if (role === 'inbound') {
        // Only the bounce and unsubscribe addresses of our own deliveries (valid MACs) and the
        // addresses of enabled inbound routes; never a relay.
        const refuse = () => callback(reject(smtpError(550, '5.7.1', `Relay access denied: ${config.hostname} does not accept mail for <${address.address}> here`), session));
        if (session.envelope.rcptTo.length >= limits.maxRecipients) {
          return callback(reject(smtpError(452, '4.5.3', `Too many recipients: at most ${limits.maxRecipients} per message; send the rest in another message`), session));
        }
        if (deps.reports?.target(address.address) || deps.unsubscribes?.accepts(address.address)) return callback();
        if (!deps.inboundRoutes) return refuse();
        return void deps.inboundRoutes.match(address.address).then(
          (route) => {
            if (!route) return refuse();
            // Remembered for DATA: the route that took it (a route changed meanwhile still gets the mail it accepted).
            routedRecipients(session).push({ address: address.address, route: { id: route.id, pattern: route.pattern } });
            callback();
          },
          (err: Error) => {
            log.error({ session: session.id, err: err.message }, 'inbound route lookup failed');
            callback(reject(smtpError(451, '4.3.0', 'Temporary local error; please try again'), session));
          },
        );
      }
      if (session.envelope.rcptTo.length >= limits.maxRecipients) {
        return callback(reject(smtpError(452, '4.5.3', `Too many recipients: at most ${limits.maxRecipients} per message; send the rest in another message`), session));
      }
      callback();
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      if (role === 'inbound') {
        return void receiveReport(stream, session, deps, server).then(
          (id) => callback(null, id ? `2.0.0 Ok: queued as ${id}` : '2.0.0 Report received'),
          (err: Error) => {
            let reply = err as SmtpReplyError;
            if (!('responseCode' in err)) {
              deps.log.error({ session: session.id, err: err.message }, 'inbound report could not be recorded');
              reply = smtpError(451, '4.3.0', 'Temporary local error; please try again');
            }
            // Counted only as mail for inbound routes: a DATA of reports or unsubscribes alone is not a received message.
            if (ROUTED.get(session.envelope)?.length && deps.inboundRoutes) deps.metrics.messagesReceived.inc({ listener: 'inbound', result: refusedResult(reply.responseCode) });
            callback(reject(reply, session));
          },
        );
      }
      receiveData(role, stream, session, deps, server)
        .then((id) => callback(null, `2.0.0 Ok: queued as ${id}`))
        .catch((err: Error) => {
          let reply = err as SmtpReplyError;
          if (!('responseCode' in err)) {
            deps.log.error({ session: session.id, err: err.message }, 'smtp DATA failed unexpectedly');
            reply = smtpError(451, '4.3.0', 'Temporary local error; please try again');
          }
          deps.metrics.messagesReceived.inc({ listener: role, result: refusedResult(reply.responseCode) });
          callback(reject(reply, session));
        });
    },
  });

  server.on('error', (err) => log.error({ listener: role, err: err.message }, 'smtp listener error'));
  return server;
}

async function receiveData(role: ListenerRole, stream: SMTPServerDataStream, session: SMTPServerSession, deps: ListenerDeps, server: SMTPServer): Promise<string> {
  const { config, log } = deps;
  const started = Date.now();
  const ip = normalizeIp(session.remoteAddress);
  const recipients = session.envelope.rcptTo.map((r) => r.address);
  const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  const txLog = { session: session.id, ip, user: (session.user as User | undefined)?.name, from: mailFrom, rcpts: recipients.length };

  const raw = await readStream(stream, config.smtp.limits.dataTimeoutSeconds * 1000, () => {
    log.warn({ ...txLog }, 'smtp DATA took too long: closing connection');
    closeConnection(server, session.id, 421, `4.4.2 DATA not completed within ${config.smtp.limits.dataTimeoutSeconds} s; closing connection`);
  });
  const dataEnd = Date.now();
  if (stream.sizeExceeded) {
    log.info({ ...txLog, size: stream.byteLength }, 'smtp message refused: too large');
    throw smtpError(552, '5.3.4', `Message too big: the limit is ${config.smtp.maxMessageSize} bytes`);
  }

  const id = newMessageId();
  const user = session.user as User | undefined;
  const message = prepareMessage(id, raw, { mailFrom, recipients }, {
    user: user ? { name: user.name, domains: user.domains } : null,
    clientIp: ip,
    helo: session.hostNameAppearsAs || 'unknown',
    protocol: session.transmissionType || 'ESMTP',
    source: role,
  }, { hostname: config.hostname, freeMailDomains: config.policy.freeMailDomains });

  if (config.policy.requireVerifiedDomains) await requireVerifiedDomain(message.headerFrom, deps.domains);

  try {
    // Bounded: the client is told 451 instead of hanging while Redis restarts. The write may still
    // land afterwards; the client then sends again and the message goes twice — never lost.
    await withDeadline(deps.store.accept(message), config.smtp.limits.storeTimeoutSeconds * 1000, `not stored within ${config.smtp.limits.storeTimeoutSeconds} s (is Redis reachable?)`);
  } catch (err) {
    log.error({ ...txLog, err: (err as Error).message }, 'smtp message not stored: replying with a temporary failure');
    throw smtpError(451, '4.3.0', 'Temporary failure storing the message; please try again');
  }
  deps.metrics.messagesReceived.inc({ listener: role, result: 'accepted' });
  deps.metrics.recipientsReceived.inc({ listener: role }, recipients.length);
  deps.metrics.intakeDuration.observe({ listener: role }, (Date.now() - dataEnd) / 1000);
  log.info({ ...txLog, id, size: message.body.length, to: recipients.slice(0, 10), tag: message.tag, ms: Date.now() - started }, 'smtp message queued');
  return id;
}

/**
 * Port 25's recipients taken by inbound routes in this transaction, kept beside the session
 * (smtp-server gives each transaction a fresh envelope; RSET and a new MAIL FROM clear it below).
 */
const ROUTED = new WeakMap<SMTPServerSession['envelope'], RoutedRecipient[]>();

function routedRecipients(session: SMTPServerSession): RoutedRecipient[] {
  let list = ROUTED.get(session.envelope);
  if (!list) ROUTED.set(session.envelope, (list = []));
  return list;
}

/**
 * Port 25's DATA: a DSN, complaint or auto-reply sent to VERP addresses is recorded against the
 * deliveries it names, an unsubscribe mail unsubscribes, and a mail for inbound routes is stored
 * with its POST jobs (src/inbound/receive.ts) — all before the reply, so 250 means it is durable.
 * Reports and unsubscribes come first: they are idempotent, so when storing the routed mail then
 * fails (451) the client's retry changes nothing twice. Returns the routed mail's id, if any.
 */
async function receiveReport(stream: SMTPServerDataStream, session: SMTPServerSession, deps: ListenerDeps, server: SMTPServer): Promise<string | null> {
  const { config, log } = deps;
  const ip = normalizeIp(session.remoteAddress);
  const raw = await readStream(stream, config.smtp.limits.dataTimeoutSeconds * 1000, () => {
    closeConnection(server, session.id, 421, `4.4.2 DATA not completed within ${config.smtp.limits.dataTimeoutSeconds} s; closing connection`);
  });
  if (stream.sizeExceeded) throw smtpError(552, '5.3.4', `Message too big: the limit is ${config.smtp.maxMessageSize} bytes`);
  const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  const rcpts = session.envelope.rcptTo.map((r) => r.address);
  // An unsubscribe is the mail's arrival itself (RFC 2369 mailto:): its content is not read.
  for (const address of rcpts.filter((a) => deps.unsubscribes?.accepts(a))) {
    const outcome = await deps.unsubscribes!.unsubscribe(address);
    log.info({ listener: 'inbound', session: session.id, ip, from, outcome }, 'unsubscribe mail received');
  }
  const targets = deps.reports ? rcpts.map((a) => deps.reports!.target(a)).filter((t) => t !== null) : [];
  if (targets.length > 0) {
    const lines = await deps.reports!.receive(raw, targets);
    log.info({ listener: 'inbound', session: session.id, ip, from, size: raw.length, reports: lines }, 'inbound report received');
  }
  const routed = ROUTED.get(session.envelope) ?? [];
  if (routed.length === 0 || !deps.inboundRoutes) return null;
  let mail;
  try {
    // Bounded like submission's store: 451 instead of a hanging client while Redis restarts.
    mail = await withDeadline(deps.inboundRoutes.receive(raw, from, routed), config.smtp.limits.storeTimeoutSeconds * 1000, `not stored within ${config.smtp.limits.storeTimeoutSeconds} s (is Redis reachable?)`);
  } catch (err) {
    log.error({ listener: 'inbound', session: session.id, ip, from, err: (err as Error).message }, 'inbound route mail not stored: replying with a temporary failure');
    throw smtpError(451, '4.3.0', 'Temporary failure storing the message; please try again');
  }
  deps.metrics.messagesReceived.inc({ listener: 'inbound', result: 'accepted' });
  deps.metrics.recipientsReceived.inc({ listener: 'inbound' }, routed.length);
  log.info({ listener: 'inbound', session: session.id, ip, from, id: mail.id, size: raw.length, routes: [...mail.routes.keys()], to: routed.slice(0, 10).map((r) => r.address) }, 'inbound route mail received');
  return mail.id;
}

/** Reads DATA whole, or gives up after `timeoutMs` however slowly bytes keep arriving. */
function readStream(stream: SMTPServerDataStream, timeoutMs: number, onTimeout: () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      onTimeout();
      reject(smtpError(421, '4.4.2', 'DATA timeout'));
    }, timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      // Past the limit only count: smtp-server keeps reading until the final dot, so we can reply.
      if (!stream.sizeExceeded) {
        chunks.push(chunk);
        size += chunk.length;
      }
    });
    stream.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks, size));
    });
    stream.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
