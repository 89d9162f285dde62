import { integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * The tables as the queries see them. The database itself is defined by the
 * SQL in migrations.ts (the source of truth); keep the two in step.
 */
export const users = pgTable('users', {
  id: uuid('id').primaryKey(),
  /** As the user typed it; uniqueness is on lower(email) (index users_email_lower). */
  email: text('email').notNull(),
  name: text('name').notNull(),
  passwordHash: text('password_hash').notNull(),
  roles: text('roles').array().notNull(),
  /** Bumped when credentials change; sessions carry it in their principal. */
  authVersion: integer('auth_version').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
});

export type UserRow = typeof users.$inferSelect;

/** Bookkeeping of the migration runner (created by the runner itself). */
export const demoMigrations = pgTable('demo_migrations', {
  id: text('id').primaryKey(),
  appliedAt: timestamp('applied_at', { withTimezone: true, mode: 'date' }).notNull(),
});
