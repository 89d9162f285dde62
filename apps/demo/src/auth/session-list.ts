import type { SessionInfo } from 'keycard';

/** A device-list entry as the API shows it; `id` is the public handle, useless as a cookie. */
export interface SessionEntry {
  readonly id: string;
  readonly current: boolean;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly userAgent: string | null;
  readonly ip: string | null;
}

export function sessionEntry(info: SessionInfo, currentHandle: string | null): SessionEntry {
  return {
    id: info.handle,
    current: info.handle === currentHandle,
    createdAt: new Date(info.createdAt).toISOString(),
    lastSeenAt: new Date(info.lastSeenAt).toISOString(),
    userAgent: info.userAgent,
    ip: info.ip,
  };
}
