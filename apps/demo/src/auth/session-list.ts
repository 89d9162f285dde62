import type { ListedSession } from 'keycard/nest';

/** A device-list entry as the API shows it; `id` is the public handle, useless as a cookie. */
export interface SessionEntry {
  readonly id: string;
  readonly current: boolean;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly userAgent: string | null;
  readonly ip: string | null;
}

export function sessionEntry(info: ListedSession): SessionEntry {
  return {
    id: info.handle,
    current: info.current,
    createdAt: new Date(info.createdAt).toISOString(),
    lastSeenAt: new Date(info.lastSeenAt).toISOString(),
    userAgent: info.userAgent,
    ip: info.ip,
  };
}
