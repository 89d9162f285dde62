import { Inject, Injectable } from '@nestjs/common';
import { PasswordHasher } from 'keycard/password';
import type { AppConfig } from '../config/config.js';
import { APP_CONFIG } from '../config/tokens.js';
import type { UserRow } from '../database/schema.js';
import { UsersRepository } from './users.repository.js';

export const ADMIN_ROLE = 'admin';
export const USER_ROLE = 'user';

export interface Registration {
  readonly email: string;
  readonly name: string;
  readonly password: string;
}

/** Account rules: who is admin, how passwords are checked and changed. No HTTP here. */
@Injectable()
export class UsersService {
  constructor(
    private readonly users: UsersRepository,
    private readonly hasher: PasswordHasher,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** The new user, or null when the email is taken (whatever its case). */
  async register(input: Registration): Promise<UserRow | null> {
    const passwordHash = await this.hasher.hash(input.password);
    return this.users.create({
      email: input.email,
      name: input.name,
      passwordHash,
      roles: (isFirstUser) => (this.isAdminEmail(input.email, isFirstUser) ? [USER_ROLE, ADMIN_ROLE] : [USER_ROLE]),
    });
  }

  /**
   * The user when email and password match, else null. An unknown email costs
   * the same hashing work as a wrong password (no account enumeration by timing).
   * A hash from older parameters or bcrypt is upgraded here, on a correct password.
   */
  async verifyCredentials(email: string, password: string): Promise<UserRow | null> {
    const user = await this.users.findByEmail(email);
    if (!user) {
      await this.hasher.verifyUnknown(password);
      return null;
    }
    const result = await this.hasher.verify(user.passwordHash, password);
    if (!result.ok) return null;
    if (result.needsRehash) {
      // Compare-and-set: if the password changed meanwhile, the old one is not written back. The
      // stale row returned then carries the old auth version, and the sign-in is refused (AccountService).
      return (await this.users.replacePasswordHash(user.id, user.passwordHash, await this.hasher.hash(password), false)) ?? user;
    }
    return user;
  }

  /**
   * The updated user (auth version bumped), or null when `currentPassword` is
   * wrong, including when the password was changed elsewhere while it was
   * being checked (the update applies only to the hash that was checked).
   */
  async changePassword(userId: string, currentPassword: string, newPassword: string): Promise<{ user: UserRow; previousHash: string } | null> {
    const user = await this.users.findById(userId);
    if (!user) return null;
    const check = await this.hasher.verify(user.passwordHash, currentPassword);
    if (!check.ok) return null;
    const changed = await this.users.replacePasswordHash(user.id, user.passwordHash, await this.hasher.hash(newPassword), true);
    return changed && { user: changed, previousHash: user.passwordHash };
  }

  /**
   * Puts back the hash a password change replaced, if nothing replaced it
   * since; the auth version moves on again, so a sign-in that used the
   * undone password is refused by its own re-check.
   */
  async undoPasswordChange(changed: UserRow, previousHash: string): Promise<boolean> {
    return (await this.users.replacePasswordHash(changed.id, changed.passwordHash, previousHash, true)) !== null;
  }

  findById(id: string): Promise<UserRow | null> {
    return this.users.findById(id);
  }

  /** Sets a user's roles; the ADMIN_EMAIL account keeps `admin` whatever is asked. */
  async setRoles(id: string, roles: readonly string[]): Promise<UserRow | null> {
    const user = await this.users.findById(id);
    if (!user) return null;
    const wanted = new Set(roles);
    if (this.config.adminEmail && user.email.toLowerCase() === this.config.adminEmail) wanted.add(ADMIN_ROLE);
    return this.users.setRoles(id, [...wanted]);
  }

  /** At start-up: an ADMIN_EMAIL account registered before it was configured becomes admin. */
  async promoteConfiguredAdmin(): Promise<UserRow | null> {
    return this.config.adminEmail ? this.users.grantRoleByEmail(this.config.adminEmail, ADMIN_ROLE) : null;
  }

  private isAdminEmail(email: string, isFirstUser: boolean): boolean {
    return this.config.adminEmail ? email.toLowerCase() === this.config.adminEmail : isFirstUser;
  }
}
