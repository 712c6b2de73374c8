/**
 * Mail addresses and domain names: the one place that takes them apart.
 */
const MAILBOX = /^[^@\s]+@[^@\s]+$/;
const DOMAIN_NAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/** The domain of `local@domain`, or null for anything else (`a@b@c`, no @): such an address is refused. */
export function mailboxDomain(address: string): string | null {
  return MAILBOX.test(address) ? address.slice(address.lastIndexOf('@') + 1) : null;
}

/** The part after the last @, lower-cased (for addresses already accepted: routing, signing). */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** A fully qualified domain name such as example.co.jp. */
export function isDomainName(value: string): boolean {
  return DOMAIN_NAME.test(value);
}
