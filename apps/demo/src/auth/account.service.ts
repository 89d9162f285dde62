import { Injectable } from '@nestjs/common';
import { SessionManager, type Session } from 'keycard';
import type { UserRow } from '../database/schema.js';
import { principalOf } from '../users/user.js';
import { UsersService } from '../users/users.service.js';
import { sessionEntry, type SessionEntry } from './session-list.js';

/** Session-side consequences of account actions, shared by the JSON API and the pages. */
@Injectable()
export class AccountService {
  constructor(
    private readonly manager: SessionManager,
    private readonly users: UsersService,
  ) {}

  /** Signs the user in under a new session id (the old one, if any, is dead at once). */
  signIn(session: Session, user: UserRow, remember: boolean): Promise<void> {
    return session.signIn(principalOf(user), { remember });
  }

  /**
   * Changes the password; every other session of the user is revoked and this
   * one moves to a new id carrying the new auth version. False when
   * `currentPassword` is wrong (nothing changes then).
   */
  async changePassword(session: Session, userId: string, currentPassword: string, newPassword: string): Promise<boolean> {
    const user = await this.users.changePassword(userId, currentPassword, newPassword);
    if (!user) return false;
    await this.manager.revokeUser(user.id, session);
    await session.signIn(principalOf(user), { remember: session.remember });
    return true;
  }

  async list(userId: string, currentHandle: string | null): Promise<SessionEntry[]> {
    const sessions = await this.manager.listSessions(userId);
    return sessions.map((info) => sessionEntry(info, currentHandle));
  }

  /** Ends one of the user's sessions; ending the current one signs this client out too. False when not theirs. */
  async revoke(session: Session, userId: string, handle: string): Promise<boolean> {
    if (handle === session.handle) {
      await session.signOut();
      return true;
    }
    return this.manager.revokeSession(userId, handle);
  }

  async revokeOthers(session: Session, userId: string): Promise<void> {
    await this.manager.revokeUser(userId, session);
  }

  /** Admin: signs a user out everywhere. */
  async revokeAll(userId: string): Promise<void> {
    await this.manager.revokeUser(userId);
  }

  /** At start-up: an ADMIN_EMAIL account registered earlier becomes admin, in its live sessions too. */
  async promoteConfiguredAdmin(): Promise<void> {
    const user = await this.users.promoteConfiguredAdmin();
    if (user) await this.manager.refreshPrincipal(principalOf(user));
  }

  /** Admin: new roles, seen by the user's live sessions on their next request (with a new id). */
  async setRoles(userId: string, roles: readonly string[]): Promise<UserRow | null> {
    const user = await this.users.setRoles(userId, roles);
    if (user) await this.manager.refreshPrincipal(principalOf(user));
    return user;
  }
}
