import { Injectable } from '@nestjs/common';
import { SessionManager, type IssuedToken, type SessionInfo } from '../core/manager.js';
import type { Principal } from '../core/record.js';
import type { ClientInfo } from '../core/records.js';
import type { RotateOptions, Session, SignInOptions } from '../core/session.js';
import { SessionBinding } from './binding.js';
import type { RequestLike, ResponseLike } from './platform.js';

/** A device-list entry: `current` marks the session of the request that asked. */
export interface ListedSession extends SessionInfo {
  readonly current: boolean;
}

/**
 * Sign-in, sign-out and session management for controllers and services.
 * Thin over `Session` and `SessionManager`; the request's session is passed
 * in (from `@Session()`), so the service stays a singleton.
 */
@Injectable()
export class SessionService {
  constructor(
    readonly manager: SessionManager,
    private readonly binding: SessionBinding,
  ) {}

  /** Signs `principal` in under a new session id (the old one dies at once); `remember` gives a persistent cookie. */
  signIn(session: Session, principal: Principal, options?: SignInOptions): Promise<void> {
    return session.signIn(principal, options);
  }

  /** Destroys the session in the store; the response clears the cookie and sends Clear-Site-Data. */
  signOut(session: Session): Promise<void> {
    return session.signOut();
  }

  /** A new id for the same session (privilege change), keeping its data unless `keepData: false`. */
  rotate(session: Session, options?: RotateOptions): Promise<void> {
    return session.rotate(options);
  }

  /** The user's live sessions, oldest first; `current` (usually the caller's session) is marked. */
  async listSessions(userId: string, current?: Session | null): Promise<ListedSession[]> {
    const sessions = await this.manager.listSessions(userId);
    const mine = current?.principal?.id === userId ? current.handle : null;
    return sessions.map((info) => ({ ...info, current: info.handle === mine }));
  }

  /** Ends one session of the user by its public handle; false when it is not theirs or already gone. */
  revokeSession(userId: string, handle: string): Promise<boolean> {
    return this.manager.revokeSession(userId, handle);
  }

  /** Ends every session of the user, except `except` (the caller's own) when given; returns the ended handles. */
  revokeAll(userId: string, options: { readonly except?: Session } = {}): Promise<string[]> {
    return this.manager.revokeAll(userId, options.except);
  }

  /** Pushes new roles or auth version to every live session of the user; each gets a new id at its next request. */
  refreshPrincipal(principal: Principal): Promise<number> {
    return this.manager.refreshPrincipal(principal);
  }

  /** A session for a client without cookies; it sends `Authorization: Bearer <token>`. Pass `session.client` to record the device. */
  issueToken(principal: Principal, client?: Partial<ClientInfo>): Promise<IssuedToken> {
    return this.manager.issueToken(principal, client);
  }

  /**
   * Stores the session and puts its headers on `response` now. Only for
   * handlers that send the response themselves (`@Res()` without
   * passthrough, or `reply.raw`): call it before sending. Everything else is
   * saved automatically before Nest sends the response.
   */
  commit(request: RequestLike, response: ResponseLike): Promise<void> {
    return this.binding.commit(request, response);
  }
}
