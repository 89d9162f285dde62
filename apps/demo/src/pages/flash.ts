import { readCookie } from 'keycard';

/**
 * One-time messages shown on the next page. They travel in a short-lived
 * cookie holding only a code from this table, never text: nothing a client
 * sets can put words on the page, and signed-out visitors (who have no
 * session, by design) get their "signed out" message too.
 */
export const FLASHES = {
  'signed-in': { kind: 'success', text: 'Welcome back! You are signed in.' },
  registered: { kind: 'success', text: 'Your account is ready. You are signed in.' },
  'signed-out': { kind: 'info', text: 'You have been signed out.' },
  'session-revoked': { kind: 'success', text: 'That session has been signed out.' },
  'others-revoked': { kind: 'success', text: 'All your other sessions have been signed out.' },
  'password-changed': { kind: 'success', text: 'Password changed. Your other sessions have been signed out.' },
  'sign-in-required': { kind: 'info', text: 'Please sign in to continue.' },
} as const satisfies Record<string, { kind: 'success' | 'info' | 'error'; text: string }>;

export type FlashCode = keyof typeof FLASHES;
export type Flash = (typeof FLASHES)[FlashCode];

export const FLASH_COOKIE = 'flash';
const MAX_AGE_SECONDS = 60;

export function isFlashCode(value: string | null): value is FlashCode {
  return value !== null && Object.hasOwn(FLASHES, value);
}

/** The flash named by the request's cookie, if any (an unknown code is ignored). */
export function readFlash(cookieHeader: string | undefined): FlashCode | null {
  const code = readCookie(cookieHeader, FLASH_COOKIE);
  return isFlashCode(code) ? code : null;
}

export function setFlashCookie(code: FlashCode, secure: boolean): string {
  return `${FLASH_COOKIE}=${code}; Path=/; Max-Age=${MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

export function clearFlashCookie(secure: boolean): string {
  return `${FLASH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}
