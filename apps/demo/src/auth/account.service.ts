import { Inject, Injectable, Logger } from '@nestjs/common';
import { ConfigError, type AppConfig } from '../config/config.js';
import { existingGeneratedAdminPassword, generatedAdminPassword } from '../config/admin-password.js';
import { APP_CONFIG } from '../config/tokens.js';
import type { AnyRequest } from '../http/platform-request.js';
import { SignInService } from './sign-in.service.js';
import { SessionManager, type ClientInfo, type IssuedToken, type Principal, type Session } from 'keycard';
import { SessionService } from 'keycard/nest';
import type { UserRow } from '../database/schema.js';
import { principalOf } from '../users/user.js';
import { UsersService } from '../users/users.service.js';
import { sessionEntry, type SessionEntry } from './session-list.js';

const MAX_ROLE_RETRIES = 3;

function sameRoles(a: readonly string[], b: readonly string[]): boolean {
  const left = [...a].sort();
  const right = [...b].sort();
  return left.length === right.length && left.every((role, i) => role === right[i]);
}

export type PasswordChangeOutcome =
  | { readonly kind: 'changed' }
  /** The current password is wrong (403). */
  | { readonly kind: 'wrong' }
  | { readonly kind: 'throttled'; readonly retryAfterSeconds: number };

/** Session-side consequences of account actions, shared by the JSON API and the pages. */
@Injectable()
export class AccountService {
  private readonly logger = new Logger('AccountService');

  constructor(
    private readonly manager: SessionManager,
    private readonly sessions: SessionService,
    private readonly users: UsersService,
    private readonly signIns: SignInService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /**
   * Signs the user in under a new session id (the old one, if any, is dead at
   * once) and returns the user as signed in; null when the credentials changed
   * while they were being checked: the session is then signed out again and
   * the caller answers as for a wrong password.
   *
   * `user` was read before the ~60 ms of password hashing, so a password or
   * role change may have committed, and revoked or refreshed the user's
   * sessions, before this session existed. Hence the order: store the session
   * first, then re-read the user. A change that committed before the re-read
   * is seen here; one that commits after it revokes or refreshes a session
   * that is already stored (both services write the database before touching
   * the sessions).
   *
   * A changed auth version (the password changed) fails the sign-in. Changed
   * roles alone do not: the password was right, so the session is signed in
   * again with the fresh roles (and checked again), rather than failing a
   * user whose roles an admin happened to change at that moment.
   */
  async signIn(session: Session, user: UserRow, remember: boolean): Promise<UserRow | null> {
    const signedIn = await this.confirmed(user, async (principal) => {
      await session.signIn(principal, { remember });
      await session.save();
      return { result: null, discard: () => session.signOut() };
    });
    return signedIn?.user ?? null;
  }

  /** A bearer token for the user, checked against a concurrent change like `signIn`; null when the credentials changed. */
  async issueToken(user: UserRow, client: Partial<ClientInfo>): Promise<IssuedToken | null> {
    const issued = await this.confirmed(user, async (principal) => {
      const token = await this.manager.issueToken(principal, client);
      return { result: token, discard: () => this.revokeToken(token.token) };
    });
    return issued?.result ?? null;
  }

  /**
   * Changes the password; every other session of the user is revoked and this
   * one moves to a new id carrying the new auth version. False when
   * `currentPassword` is wrong (nothing changes then). The new hash has
   * committed before the revocation starts, so a sign-in racing this one
   * either sees the new auth version or has its session revoked.
   *
   * When the session store fails after the commit (revocation or rotation),
   * the old hash is put back before the error (503) goes out, so the answer
   * means "not changed" rather than "changed, while the sessions it should
   * end live on"; some other sessions may have been signed out by then, which
   * is the safe side. If even the undo fails, that is logged and the store's
   * error still answers.
   */
  async changePassword(
    session: Session,
    userId: string,
    currentPassword: string,
    newPassword: string,
    request: AnyRequest,
  ): Promise<PasswordChangeOutcome> {
    const current = await this.users.findById(userId);
    if (!current) return { kind: 'wrong' };
    // SPEC: the current-password check counts as a sign-in attempt on the account (429 past the limit),
    // so a stolen session cannot be used to guess the password without bound.
    const checked = await this.signIns.underThrottle(current.email, request, () =>
      this.users.changePassword(current, currentPassword, newPassword),
    );
    if (checked.kind === 'throttled') return checked;
    const changed = checked.result;
    if (!changed) {
      this.signIns.failed(checked.attempt);
      return { kind: 'wrong' };
    }
    await this.signIns.succeeded(checked.attempt);
    const { user } = changed;
    try {
      await this.manager.revokeAll(user.id, session);
      await session.signIn(principalOf(user), { remember: session.remember });
    } catch (error) {
      await this.undoPasswordChange(user, changed.previousHash);
      throw error;
    }
    return { kind: 'changed' };
  }

  private async undoPasswordChange(user: UserRow, previousHash: string): Promise<void> {
    try {
      if (!(await this.users.undoPasswordChange(user, previousHash))) {
        this.logger.warn(`password change of user ${user.id} not undone: the hash changed again meanwhile`);
      }
    } catch (undoError) {
      this.logger.error(`password change of user ${user.id} could not be undone after a session store failure`, (undoError as Error).stack);
    }
  }

  /**
   * Runs `start` (which stores a session for the principal), then re-reads
   * the user: unchanged, the session stands; other roles only, it is
   * discarded and started again with them; another auth version (or no user),
   * it is discarded and the answer is null.
   */
  private async confirmed<T>(
    user: UserRow,
    start: (principal: Principal) => Promise<{ result: T; discard: () => Promise<void> }>,
  ): Promise<{ user: UserRow; result: T } | null> {
    let current = user;
    for (let attempt = 1; ; attempt++) {
      const principal = principalOf(current);
      const started = await start(principal);
      const fresh = await this.users.findById(current.id);
      const valid = fresh !== null && fresh.authVersion === principal.authVersion;
      if (valid && sameRoles(fresh.roles, principal.roles)) return { user: fresh, result: started.result };
      await started.discard();
      // Roles changing again and again under one sign-in: give up rather than loop.
      if (!valid || attempt >= MAX_ROLE_RETRIES) return null;
      current = fresh;
    }
  }

  /** Ends a token's session (bearer tokens are sessions: load it, sign it out). */
  private async revokeToken(token: string): Promise<void> {
    const session = await this.manager.load({ authorization: `Bearer ${token}`, secure: false });
    await session.signOut();
  }

  /** The user's sessions for the API, `current` marking the requester's own (keycard's SessionService decides). */
  async list(userId: string, current: Session): Promise<SessionEntry[]> {
    return (await this.sessions.listSessions(userId, current)).map(sessionEntry);
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
    await this.manager.revokeAll(userId, session);
  }

  /** Admin: signs a user out everywhere. */
  async revokeAll(userId: string): Promise<void> {
    await this.manager.revokeAll(userId);
  }

  /**
   * At start-up (SPEC "Administrators"): the ADMIN_EMAIL account exists with
   * the role admin. Created with ADMIN_PASSWORD when missing; without it, in
   * production the app refuses to start, in development a password is
   * generated into DATA_DIR (0600) and the returned warning says where.
   * An existing account without the role is promoted only if ADMIN_PASSWORD
   * (in development without it: the generated one, if any) is its password;
   * otherwise whoever registered that e-mail may not be the operator, and
   * the app refuses to start until the operator has looked at the account
   * and promoted it on purpose (`npm run admin -- promote`).
   */
  async provisionAdmin(): Promise<{ warning: string | undefined }> {
    const email = this.config.adminEmail;
    if (!email) return { warning: undefined };
    let warning: string | undefined;
    const password = async (): Promise<string> => {
      if (this.config.adminPassword) return this.config.adminPassword;
      if (this.config.production) {
        throw new ConfigError([
          `ADMIN_EMAIL is ${email}, no such account exists, and ADMIN_PASSWORD is not set: ` +
            'set ADMIN_PASSWORD (8 to 128 characters) to create it, or create the account first',
        ]);
      }
      const generated = await generatedAdminPassword(this.config.dataDir);
      warning = `ADMIN_PASSWORD is not set: created the admin account ${email} with the generated password in ${generated.path} (mode 0600). Set ADMIN_PASSWORD in production.`;
      return generated.password;
    };
    const proof = this.config.adminPassword ?? (this.config.production ? undefined : await existingGeneratedAdminPassword(this.config.dataDir));
    const result = await this.users.provisionAdmin(email, password, proof);
    if (result.outcome === 'unproven') throw new ConfigError([unprovenAdminMessage(email, result.proofGiven)]);
    if (result.changed) await this.manager.refreshPrincipal(principalOf(result.user));
    return { warning };
  }

  /** `npm run admin -- promote|demote <email>`: the role changes, and the user's live sessions see it at their next request. */
  async setAdmin(email: string, admin: boolean): Promise<'changed' | 'unchanged' | 'unknown'> {
    const user = await this.users.findByEmail(email);
    if (!user) return 'unknown';
    const changed = await this.users.setAdmin(email, admin);
    if (!changed) return 'unchanged';
    await this.manager.refreshPrincipal(principalOf(changed));
    return 'changed';
  }

  /** Admin: new roles, seen by the user's live sessions on their next request (with a new id). */
  async setRoles(userId: string, roles: readonly string[]): Promise<UserRow | null> {
    const user = await this.users.setRoles(userId, roles);
    if (user) await this.manager.refreshPrincipal(principalOf(user));
    return user;
  }
}

/** Why start-up refuses an existing ADMIN_EMAIL account it cannot tell is the operator's, and what to do. */
function unprovenAdminMessage(email: string, proofGiven: boolean): string {
  return (
    `ADMIN_EMAIL is ${email}, and an account with that e-mail already exists without the role admin, ` +
    (proofGiven ? 'but ADMIN_PASSWORD is not its password' : 'and ADMIN_PASSWORD is not set') +
    ': it is not promoted, because whoever registered that e-mail may not be you. ' +
    `Check that account, then promote it deliberately with \`npm run admin -- promote ${email}\` ` +
    '(or set ADMIN_PASSWORD to its password), and start the app again'
  );
}
