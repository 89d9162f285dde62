import type { CookieJar } from '../core/cookie-jar.js';
import { FLASH_COOKIE, FLASH_COOKIE_MAX_AGE, flashesIn, type FlashCookie, type FlashMessage } from '../core/flash.js';

/**
 * An anonymous visitor's flashes, in a signed app cookie (a client cannot
 * put words on the page). The jar is reached only when a flash is written or
 * read, so requests that do neither cost nothing.
 */
export class JarFlashCookie implements FlashCookie {
  /** What this request wrote, so that two flashes in one request both stay. */
  private written: FlashMessage[] | null = null;

  constructor(private readonly jar: () => CookieJar) {}

  read(): FlashMessage[] {
    if (this.written !== null) return this.written;
    const value = this.jar().getSigned(FLASH_COOKIE);
    if (value === null) return [];
    try {
      return flashesIn(JSON.parse(value));
    } catch {
      return [];
    }
  }

  write(messages: readonly FlashMessage[]): void {
    this.written = [...messages];
    this.jar().setSigned(FLASH_COOKIE, JSON.stringify(messages), { maxAge: FLASH_COOKIE_MAX_AGE });
  }

  clear(): void {
    this.written = [];
    this.jar().clear(FLASH_COOKIE);
  }
}
