import { InvalidSessionValueError } from './errors.js';
import type { JsonValue } from './record.js';

/**
 * Flash messages: one-time notes for the next page ("You are signed in",
 * "That session has been signed out"), kept until they are read once, so
 * they survive the redirect after a form post.
 *
 * They live in the session when the request has one, and otherwise in a
 * signed cookie (`FlashCookie`, provided by the binding), so that anonymous
 * visitors get their flash without a session being created for it. The
 * signature means a client cannot put words on the page.
 */
export interface FlashMessage {
  /** A short kind the page styles ('success', 'info', 'error', …). */
  readonly type: string;
  readonly message: string;
}

/** Where flashes go when the request has no session: the binding backs it with a signed app cookie. */
export interface FlashCookie {
  read(): FlashMessage[];
  write(messages: readonly FlashMessage[]): void;
  clear(): void;
}

/** The session key that holds pending flashes. */
export const FLASH_KEY = 'keycard:flash';
/** The signed cookie that holds an anonymous visitor's flashes. */
export const FLASH_COOKIE = 'kc_flash';
/** Seconds an unread flash cookie lives. */
export const FLASH_COOKIE_MAX_AGE = 300;

const MAX_MESSAGES = 10;
const MAX_TYPE = 32;
const MAX_MESSAGE = 500;

/** A flash as given, checked: a short type, a message of at most 500 characters. */
export function checkedFlash(type: unknown, message: unknown): FlashMessage {
  if (typeof type !== 'string' || type.length === 0 || type.length > MAX_TYPE) {
    throw new InvalidSessionValueError(`a flash type must be a string of 1 to ${MAX_TYPE} characters`);
  }
  if (typeof message !== 'string' || message.length > MAX_MESSAGE) {
    throw new InvalidSessionValueError(`a flash message must be a string of at most ${MAX_MESSAGE} characters`);
  }
  return { type, message };
}

/** `messages` plus `next`, the oldest dropped past ten (a page shows a few, not a backlog). */
export function appended(messages: readonly FlashMessage[], next: FlashMessage): FlashMessage[] {
  return [...messages, next].slice(-MAX_MESSAGES);
}

/** The flashes in a stored value, ignoring anything malformed (a value is never trusted to be what we wrote). */
export function flashesIn(value: unknown): FlashMessage[] {
  if (!Array.isArray(value)) return [];
  const out: FlashMessage[] = [];
  for (const item of value) {
    const flash = item as Partial<FlashMessage> | null;
    if (typeof flash === 'object' && flash !== null && typeof flash.type === 'string' && typeof flash.message === 'string') {
      out.push({ type: flash.type, message: flash.message });
    }
  }
  return out.slice(-MAX_MESSAGES);
}

/** Flashes as a session value. */
export function flashValue(messages: readonly FlashMessage[]): JsonValue {
  return messages.map((flash) => ({ type: flash.type, message: flash.message }));
}
