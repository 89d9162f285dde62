import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { and, eq, sql } from 'drizzle-orm';
import type { AppDatabase } from '../database/database.js';
import { users, type UserRow } from '../database/schema.js';
import { DATABASE } from '../database/tokens.js';

export interface NewUser {
  readonly email: string;
  readonly name: string;
  readonly passwordHash: string;
  readonly roles: readonly string[];
}

const UNIQUE_VIOLATION = '23505';

/** The only code that touches the users table. */
@Injectable()
export class UsersRepository {
  constructor(@Inject(DATABASE) private readonly db: AppDatabase) {}

  /** The new user, or null when the email is taken (case-insensitively). */
  async create(user: NewUser): Promise<UserRow | null> {
    try {
      const [row] = await this.db
        .insert(users)
        .values({
          id: randomUUID(),
          email: user.email,
          name: user.name,
          passwordHash: user.passwordHash,
          roles: [...user.roles],
          authVersion: 1,
          createdAt: new Date(),
        })
        .returning();
      return row ?? null;
    } catch (error) {
      if (isUniqueViolation(error)) return null;
      throw error;
    }
  }

  async findByEmail(email: string): Promise<UserRow | null> {
    const [row] = await this.db
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = lower(${email})`)
      .limit(1);
    return row ?? null;
  }

  /**
   * Removes a user that was just created, only while it is exactly as
   * created (same hash, first auth version): a registration whose sign-in
   * failed takes its account back, but never one that has since been used.
   * True when it was removed.
   */
  async deleteUnused(created: UserRow): Promise<boolean> {
    const removed = await this.db
      .delete(users)
      .where(and(eq(users.id, created.id), eq(users.passwordHash, created.passwordHash), eq(users.authVersion, created.authVersion)))
      .returning({ id: users.id });
    return removed.length > 0;
  }

  async findById(id: string): Promise<UserRow | null> {
    const [row] = await this.db.select().from(users).where(eq(users.id, id)).limit(1);
    return row ?? null;
  }

  /**
   * Replaces the hash, but only while it is still `expectedHash` (the one the
   * caller checked the password against): a write based on a stale read, such
   * as a sign-in's rehash racing a password change, must not bring the old
   * password back. Null when the user is gone or the hash changed meanwhile.
   * `bumpAuthVersion` marks a credential change (a rehash on sign-in is not
   * one). A single statement: it has committed when this resolves, before any
   * session revocation that follows it.
   */
  async replacePasswordHash(
    id: string,
    expectedHash: string,
    passwordHash: string,
    bumpAuthVersion: boolean,
  ): Promise<UserRow | null> {
    const [row] = await this.db
      .update(users)
      .set({ passwordHash, ...(bumpAuthVersion ? { authVersion: sql`${users.authVersion} + 1` } : {}) })
      .where(and(eq(users.id, id), eq(users.passwordHash, expectedHash)))
      .returning();
    return row ?? null;
  }

  /** A single statement: committed when this resolves, before the sessions are refreshed. */
  async setRoles(id: string, roles: readonly string[]): Promise<UserRow | null> {
    const [row] = await this.db
      .update(users)
      .set({ roles: [...roles] })
      .where(eq(users.id, id))
      .returning();
    return row ?? null;
  }

  /** Adds `role` to the user with this email, if they exist and lack it; returns the changed user. */
  async grantRoleByEmail(email: string, role: string): Promise<UserRow | null> {
    const [row] = await this.db
      .update(users)
      .set({ roles: sql`array_append(${users.roles}, ${role})` })
      .where(sql`lower(${users.email}) = lower(${email}) AND NOT (${role} = ANY(${users.roles}))`)
      .returning();
    return row ?? null;
  }

  /** Removes `role` from the user with this email, if they have it; returns the changed user. */
  async revokeRoleByEmail(email: string, role: string): Promise<UserRow | null> {
    const [row] = await this.db
      .update(users)
      .set({ roles: sql`array_remove(${users.roles}, ${role})` })
      .where(sql`lower(${users.email}) = lower(${email}) AND ${role} = ANY(${users.roles})`)
      .returning();
    return row ?? null;
  }
}

/** Drizzle wraps driver errors; the SQLSTATE is on the error or its cause (pg and PGlite alike). */
function isUniqueViolation(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if ((e as { code?: unknown }).code === UNIQUE_VIOLATION) return true;
  }
  return false;
}
