import { readCookie } from './cookie.js';
import type { ResolvedOptions } from './options.js';
import type { SessionRecord } from './record.js';
import { SealedSessionCodec } from './sealed-session.js';
import { SessionCookie, type RequestInfo } from './session-cookie.js';

/**
 * The session cookie of sealed-cookie sessions: its value is the whole
 * record, sealed, so every change to the session re-issues it.
 */
export class SealedSessionCookie extends SessionCookie {
  override readonly carriesRecord = true;
  private readonly codec: SealedSessionCodec;

  constructor(options: ResolvedOptions) {
    super(options);
    this.codec = new SealedSessionCodec(options.signer, options.clock, options.random);
  }

  /** The sealed value for `record`; throws `CookieTooLargeError` past the 4 KB a browser keeps. */
  override valueFor(_token: string, record: SessionRecord, requestSecure: boolean): string {
    return this.codec.seal(record, this.nameFor(requestSecure));
  }

  /** The record the request's cookie carries (not yet checked for idle expiry or revocation), or null. */
  open(request: RequestInfo, requestSecure: boolean): { readonly record: SessionRecord; readonly stale: boolean } | null {
    return this.codec.open(readCookie(request.cookieHeader, this.nameFor(requestSecure)));
  }
}
