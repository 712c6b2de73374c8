/**
 * Reaching into smtp-server's connections for what it has no public API for: closing one
 * session with a reason, listing idle sessions for a drain, and keeping our own enhanced status
 * codes in replies. Relies on `server.connections` (a Set) and `connection.send(code, text,
 * context)`, stable across smtp-server 3.x; tests cover each use.
 */
import type { SMTPServer, SMTPServerSession } from 'smtp-server';

export interface ConnectionHandle {
  id: string;
  session: SMTPServerSession;
  send(code: number, text: string | string[], context?: string | false): void;
  close(): void;
}

const OWN_ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

function connections(server: SMTPServer): Set<ConnectionHandle> {
  return (server as unknown as { connections: Set<ConnectionHandle> }).connections;
}

export function findConnection(server: SMTPServer, sessionId: string): ConnectionHandle | undefined {
  for (const c of connections(server)) if (c.id === sessionId) return c;
  return undefined;
}

/** Tells a client why and hangs up. */
export function closeConnection(server: SMTPServer, sessionId: string, code: number, text: string): void {
  const connection = findConnection(server, sessionId);
  if (!connection) return;
  connection.send(code, text);
  connection.close();
}

/**
 * smtp-server adds an enhanced code to every reply from a table keyed by the basic code (550 →
 * 5.1.1), which is wrong for most of our refusals (550 5.7.1 policy, 550 5.6.0 content). Replies
 * whose text already starts with an enhanced code keep it; the library's own replies (syntax
 * errors, SIZE in MAIL FROM) still get its mapped codes.
 */
export function keepOwnEnhancedCodes(connection: ConnectionHandle): void {
  const send = connection.send.bind(connection);
  connection.send = (code, text, context) => send(code, text, typeof text === 'string' && OWN_ENHANCED_CODE.test(text) ? false : context);
}

/**
 * Port 25 relays for nobody, whatever the address looks like: a recipient smtp-server cannot
 * parse (quoted local parts, `a@b@c`, a bare bang path or local part — relay probes) gets the
 * same 550 5.7.1 as every other foreign recipient instead of the library's 501 syntax reply.
 * `MAILBOX_SYNTAX_ERROR` is the context smtp-server gives only that RCPT reply.
 */
export function refuseUnparsableRecipients(connection: ConnectionHandle, text: string): void {
  const send = connection.send.bind(connection);
  connection.send = (code, data, context) => (context === 'MAILBOX_SYNTAX_ERROR' ? send(550, text, false) : send(code, data, context));
}

/** Connections with no mail transaction in progress (used to drain on shutdown). */
export function idleConnections(server: SMTPServer): ConnectionHandle[] {
  return [...connections(server)].filter((c) => !c.session?.envelope?.mailFrom);
}

export function connectionCount(server: SMTPServer): number {
  return connections(server).size;
}
