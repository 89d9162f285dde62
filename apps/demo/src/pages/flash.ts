import type { FlashMessage, Session } from 'keycard';

/**
 * The one-time messages the pages show after a redirect. keycard keeps them
 * (`session.flash`): in the session, or for a visitor without one in a
 * signed cookie, so nothing a client sets can put words on the page.
 */
export const FLASHES = {
  'signed-in': { kind: 'success', text: 'Welcome back! You are signed in.' },
  registered: { kind: 'success', text: 'Your account is ready. You are signed in.' },
  'signed-out': { kind: 'info', text: 'You have been signed out.' },
  'session-revoked': { kind: 'success', text: 'That session has been signed out.' },
  'others-revoked': { kind: 'success', text: 'All your other sessions have been signed out.' },
  'password-changed': { kind: 'success', text: 'Password changed. Your other sessions have been signed out.' },
  'sign-in-required': { kind: 'info', text: 'Please sign in to continue.' },
  'oidc-failed': { kind: 'error', text: 'Signing in with the identity provider did not work. Try again, or use your password.' },
} as const satisfies Record<string, { kind: 'success' | 'info' | 'error'; text: string }>;

export type FlashCode = keyof typeof FLASHES;

/** A message a page shows once, as keycard's flash gives it back. */
export type ShownFlash = FlashMessage;

/**
 * Queues the flash `code` for the next page, through keycard's
 * `session.flash` (in the session, or a signed cookie for a visitor without
 * one). A store outage drops the flash rather than failing the answer.
 */
export function addFlash(session: Session | undefined, code: FlashCode): void {
  const { kind, text } = FLASHES[code];
  try {
    session?.flash(kind, text);
  } catch {
    // The store is down: the page goes on without its flash.
  }
}

/** The flashes waiting for this page, consumed as they are read (keycard's read-once `session.flashes()`). */
export function takeFlashes(session: Session | undefined): ShownFlash[] {
  try {
    return session?.flashes() ?? [];
  } catch {
    return [];
  }
}
