import { Inject, Injectable } from '@nestjs/common';
import { OverloadedError } from 'keycard';
import { PasswordHasher } from 'keycard/password';
import type { AppConfig } from '../config/config.js';
import { APP_CONFIG } from '../config/tokens.js';
import type { UserRow } from '../database/schema.js';
import { UsersRepository } from './users.repository.js';

export const ADMIN_ROLE = 'admin';
export const USER_ROLE = 'user';

/**
 * What start-up found for ADMIN_EMAIL: `ready` (it is admin now; `changed`
 * when it was promoted and its sessions need refreshing), or `unproven` (an
 * account without the role whose password the operator did not prove).
 */
export type AdminProvisioning =
  | { readonly outcome: 'ready'; readonly user: UserRow; readonly changed: boolean }
  | { readonly outcome: 'unproven'; readonly user: UserRow; readonly proofGiven: boolean };

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

  /**
   * Whether registering `email` must be refused as taken: an account has it
   * (whatever its case), or it is ADMIN_EMAIL, which is provisioned at
   * start-up and never registered. Answered before any hashing, so a flood
   * of registrations for taken e-mails costs no argon2 work.
   */
  async isTaken(email: string): Promise<boolean> {
    if (this.isAdminEmail(email)) return true;
    return (await this.users.findByEmail(email)) !== null;
  }

  /**
   * The new user, always with the role `user` only, or null when the email
   * is taken (whatever its case). Rejects with keycard's OverloadedError when
   * the hashing queue is full (503).
   */
  async register(input: Registration): Promise<UserRow | null> {
    if (this.isAdminEmail(input.email)) return null;
    const passwordHash = await this.hasher.hash(input.password);
    return this.users.create({ email: input.email, name: input.name, passwordHash, roles: [USER_ROLE] });
  }

  /** Takes back a just-registered account whose sign-in failed; false when it is gone or was used meanwhile. */
  unregister(created: UserRow): Promise<boolean> {
    return this.users.deleteUnused(created);
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
      let rehashed: string;
      try {
        rehashed = await this.hasher.hash(password);
      } catch (error) {
        // The hashing queue is full: the password was right, so sign in now and upgrade at a later sign-in.
        if (error instanceof OverloadedError) return user;
        throw error;
      }
      // Compare-and-set: if the password changed meanwhile, the old one is not written back. The
      // stale row returned then carries the old auth version, and the sign-in is refused (AccountService).
      return (await this.users.replacePasswordHash(user.id, user.passwordHash, rehashed, false)) ?? user;
    }
    return user;
  }

  /**
   * The updated user (auth version bumped), or null when `currentPassword` is
   * wrong, including when the password was changed elsewhere while it was
   * being checked (the update applies only to the hash that was checked).
   */
  async changePassword(user: UserRow, currentPassword: string, newPassword: string): Promise<{ user: UserRow; previousHash: string } | null> {
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

  /**
   * At start-up (SPEC "Administrators"): makes sure the ADMIN_EMAIL account
   * exists with the role admin. A missing one is created with `password()`
   * (ADMIN_PASSWORD, or a generated one in development). An existing one
   * without the role is promoted only when `proof` (the operator's
   * ADMIN_PASSWORD) verifies against its password: anyone could have
   * registered that e-mail while the app ran without ADMIN_EMAIL, and
   * promoting their account would hand them the admin API. Otherwise the
   * answer is `unproven`, and the caller refuses to start.
   */
  async provisionAdmin(email: string, password: () => Promise<string>, proof: string | undefined): Promise<AdminProvisioning> {
    const existing = await this.users.findByEmail(email);
    if (existing) {
      if (existing.roles.includes(ADMIN_ROLE)) return { outcome: 'ready', user: existing, changed: false };
      if (proof === undefined || !(await this.hasher.verify(existing.passwordHash, proof)).ok) {
        return { outcome: 'unproven', user: existing, proofGiven: proof !== undefined };
      }
      const promoted = await this.users.grantRoleByEmail(email, ADMIN_ROLE);
      return { outcome: 'ready', user: promoted ?? existing, changed: promoted !== null };
    }
    const passwordHash = await this.hasher.hash(await password());
    const created = await this.users.create({ email, name: 'Administrator', passwordHash, roles: [USER_ROLE, ADMIN_ROLE] });
    // Another instance created it at the same moment: take that one (and its role) instead.
    if (!created) return this.provisionAdmin(email, password, proof);
    return { outcome: 'ready', user: created, changed: false };
  }

  /** `npm run admin -- promote|demote`: the changed user, or null when it already was (or was not) admin. */
  async setAdmin(email: string, admin: boolean): Promise<UserRow | null> {
    return admin ? this.users.grantRoleByEmail(email, ADMIN_ROLE) : this.users.revokeRoleByEmail(email, ADMIN_ROLE);
  }

  findByEmail(email: string): Promise<UserRow | null> {
    return this.users.findByEmail(email);
  }

  /** Whether `email` is the configured ADMIN_EMAIL (whatever its case). */
  isAdminEmail(email: string): boolean {
    return this.config.adminEmail !== undefined && email.toLowerCase() === this.config.adminEmail;
  }
}
