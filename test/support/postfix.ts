/**
 * A private Postfix instance for a test: its own config_directory, queue_directory and
 * data_directory under a temp dir, one SMTP listener on a free 127.0.0.1 port (master.cf), logs to
 * a file (no syslog needed), no DNS, no TLS. The machine's default instance (/etc/postfix, port 25)
 * is neither read for its settings nor touched; `stop()` stops the master this started and removes
 * the directory.
 *
 * TEST_KEEP_POSTFIX=1 keeps the directory (config, queue, `maillog`) after the test, to read what
 * Postfix did.
 *
 * Postfix's master must run as root: `postfixUnavailable()` says why it cannot run here (not
 * installed, not root), for `describe.skipIf`.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** Postfix's commands live in /usr/sbin, which a non-login PATH may lack. */
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin` };

/** Why a private Postfix cannot run on this machine, or null when it can. */
export function postfixUnavailable(): string | null {
  if (process.platform !== 'linux') return `Postfix tests run on Linux only (this is ${process.platform})`;
  const conf = spawnSync('postconf', ['-dh', 'daemon_directory'], { env, encoding: 'utf8' });
  if (conf.error || conf.status !== 0) return 'Postfix is not installed (apt-get install postfix; .ci/run does it)';
  const master = join(conf.stdout.trim(), 'master');
  if (!existsSync(master)) return `Postfix's master daemon is missing (${master})`;
  if (process.getuid?.() !== 0) return 'not root: a Postfix instance (its master and queue) needs root';
  return null;
}

export interface PostfixOptions {
  /** myhostname; also the only local domain (mydestination) */
  hostname: string;
  /** the SMTP listener's port on 127.0.0.1; default a free one */
  port?: number;
  /** transport_maps entries: domain → transport (e.g. `smtp:[127.0.0.1]:2526`, `error:5.1.1 …`) */
  transports?: Record<string, string>;
  /** more main.cf parameters, applied last */
  extra?: Record<string, string>;
}

export interface Postfix {
  port: number;
  dir: string;
  /** the instance's log (maillog_file) so far */
  log(): string;
  /** files in the instance's queue (incoming, active, deferred, hold, maildrop) */
  queued(): number;
  stop(): Promise<void>;
}

/** A port the OS says is free on 127.0.0.1 (closed again at once: Postfix's master binds it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startPostfix(options: PostfixOptions): Promise<Postfix> {
  const dir = mkdtempSync(join(tmpdir(), 'sokutatsu-postfix-'));
  chmodSync(dir, 0o755); // Postfix's daemons (user postfix) reach the queue and data directories through it
  const etc = join(dir, 'etc');
  const spool = join(dir, 'spool');
  const maillog = join(dir, 'maillog');
  mkdirSync(etc);
  mkdirSync(spool);
  const port = options.port ?? (await freePort());

  const transports = Object.entries(options.transports ?? {});
  writeFileSync(join(etc, 'transport'), transports.map(([domain, t]) => `${domain}\t${t}\n`).join(''));
  const main: Record<string, string> = {
    compatibility_level: '3.6',
    config_directory: etc,
    queue_directory: spool,
    data_directory: join(dir, 'data'),
    maillog_file: maillog,
    maillog_file_prefixes: dir, // the default (/var, /dev/stdout) refuses a log under /tmp
    syslog_name: 'postfix-test',
    myhostname: options.hostname,
    mydomain: options.hostname,
    myorigin: '$myhostname',
    mydestination: '$myhostname',
    smtpd_banner: '$myhostname ESMTP',
    biff: 'no',
    append_dot_mydomain: 'no',
    readme_directory: 'no',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mynetworks: '127.0.0.0/8',
    smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
    // No recipient is refused at RCPT: Postfix accepts, then its delivery agents decide (and bounce).
    local_recipient_maps: '',
    relay_recipient_maps: '',
    alias_maps: '',
    alias_database: '',
    transport_maps: `texthash:${join(etc, 'transport')}`,
    // Loopback only: no DNS at all (smtp_dns_support_level replaces the deprecated disable_dns_lookups), no TLS.
    smtp_dns_support_level: 'disabled',
    smtp_host_lookup: 'native',
    smtpd_peername_lookup: 'no',
    smtp_tls_security_level: 'none',
    smtpd_tls_security_level: 'none',
    // A test cannot wait for Postfix's hours and days.
    minimal_backoff_time: '1s',
    maximal_backoff_time: '2s',
    queue_run_delay: '1s',
    maximal_queue_lifetime: '1m',
    bounce_queue_lifetime: '1m',
    delay_warning_time: '0',
    smtp_connect_timeout: '5s',
    ...options.extra,
  };
  writeFileSync(join(etc, 'main.cf'), Object.entries(main).map(([k, v]) => `${k} = ${v}\n`).join(''));
  writeFileSync(join(etc, 'master.cf'), masterCf(port));

  const postfix = (...args: string[]) => run('postfix', ['-c', etc, ...args], { env, timeout: 30_000 });
  const log = () => (existsSync(maillog) ? readFileSync(maillog, 'utf8') : '');
  let started = false;
  let onExit: (() => void) | undefined;
  const stop = async () => {
    if (onExit) process.off('exit', onExit);
    const pid = masterPid(spool);
    if (started && pid) {
      await postfix('stop').catch(() => undefined);
      const deadline = Date.now() + 10_000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive(pid)) process.kill(pid, 'SIGKILL'); // our own master only
    }
    if (!process.env.TEST_KEEP_POSTFIX) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await postfix('check');
    await postfix('start');
    started = true;
    // Should the test process end without afterAll (a crash, a timeout), take this instance down with it.
    const pid = masterPid(spool);
    if (pid) {
      onExit = () => { if (alive(pid)) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } };
      process.once('exit', onExit);
    }
    await listening(port, 15_000);
  } catch (err) {
    const tail = log().split('\n').slice(-20).join('\n');
    await stop();
    const { message, stderr } = err as Error & { stderr?: string };
    throw new Error(`private Postfix did not start: ${message.split('\n')[0]}\n${stderr ?? ''}\n${tail}`);
  }
  const queued = () => ['incoming', 'active', 'deferred', 'hold', 'maildrop']
    .map((q) => join(spool, q)).filter((d) => existsSync(d))
    .reduce((n, d) => n + readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length, 0);
  return { port, dir, log, queued, stop };
}

/** Debian's stock services, none chrooted; the only listener is 127.0.0.1:port. */
function masterCf(port: number): string {
  return `# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:${port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

function masterPid(spool: string): number | null {
  try {
    const pid = Number(readFileSync(join(spool, 'pid', 'master.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once something answers on 127.0.0.1:port. */
async function listening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
