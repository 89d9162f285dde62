import { randomBytes } from 'node:crypto';
import type { Principal, SessionRecord } from '../../core/record.js';
import type { SessionStore } from '../../core/store.js';

export const MINUTE = 60_000;

/** A record relative to the wall clock: stores with TTLs (Redis, SQL sweeps) read it as real time. */
export function sampleRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    id: randomBytes(32).toString('base64url'),
    handle: randomBytes(16).toString('base64url'),
    principal: null,
    data: {},
    createdAt: now,
    lastSeenAt: now,
    authenticatedAt: null,
    idleTimeout: 30 * MINUTE,
    idleExpiresAt: now + 30 * MINUTE,
    absoluteExpiresAt: now + 12 * 60 * MINUTE,
    remember: false,
    rotationDue: false,
    userAgent: null,
    ip: null,
    ...overrides,
  };
}

export function samplePrincipal(overrides: Partial<Principal> = {}): Principal {
  return { id: `user-${randomBytes(6).toString('hex')}`, roles: ['user'], authVersion: 1, ...overrides };
}

/**
 * Subscribes (resolving once the store confirms the subscription) and gives a
 * promise of the first handles published, rejected after `ms`: a deadline, not a sleep.
 */
export async function subscribeOnce(store: SessionStore, ms = 2000): Promise<{ first: Promise<readonly string[]> }> {
  let settle: (handles: readonly string[]) => void = () => {};
  const first = new Promise<readonly string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no revocation published within ${ms} ms`)), ms);
    settle = (handles) => {
      clearTimeout(timer);
      resolve(handles);
    };
  });
  const unsubscribe = await store.onRevoked((handles) => settle(handles));
  // Wrapped in an object: an async function returning a bare promise would wait for it.
  return { first: first.finally(() => unsubscribe()) };
}
