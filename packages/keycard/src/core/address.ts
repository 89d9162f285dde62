import { isIP } from 'node:net';

/** Longest textual IPv6 address (45) plus a zone id of reasonable length. */
const MAX_ADDRESS_LENGTH = 64;

/**
 * The client address as keycard records and limits it: the given IPv4 or
 * IPv6 literal (trimmed, lower-cased), or null when the value does not parse
 * as an IP address. Whatever a client managed to put in `X-Forwarded-For`
 * (behind a proxy trusted too widely: "admin", a script, a megabyte) is never
 * stored in a session's device entry nor used as a throttle key.
 */
export function clientAddress(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > MAX_ADDRESS_LENGTH) return null;
  const address = value.trim().toLowerCase();
  return isIP(address) === 0 ? null : address;
}
