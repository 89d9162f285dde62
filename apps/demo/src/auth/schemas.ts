import { checkPassword } from 'keycard/password';
import { z } from 'zod';
import { BODY_NOT_OBJECT } from '../http/errors.js';

/**
 * Request bodies. The same field names serve the JSON API and the HTML forms
 * (which add `_csrf`, stripped here like any unknown key).
 */
/** A string field whose message tells "missing" from "wrong type". */
const text = (name: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `${name} is required` : `${name} must be a string`) });

const email = text('email')
  .trim()
  .min(1, 'email is required')
  .max(254, 'email must be at most 254 characters')
  .pipe(z.email({ error: 'email must be a valid email address' }));

/** A new password: keycard's policy (8–128 characters, counted as a person counts them). */
const newPassword = (name: string) =>
  text(name).superRefine((value, ctx) => {
    const check = checkPassword(value);
    if (!check.ok) ctx.addIssue({ code: 'custom', message: check.message.replace(/^password/, name) });
  });

/** A password being checked, not set: any length the policy could have accepted, else it simply fails. */
const givenPassword = (name: string) =>
  text(name).min(1, `${name} is required`).max(1024, `${name} is too long`);

/** Said when the body is missing, or is JSON but not an object. */
const BODY = { error: BODY_NOT_OBJECT };

/** C0, DEL and C1 controls: NUL is refused by PostgreSQL's text type, and none belongs in a name. */
const CONTROL_CHARACTER = /\p{Cc}/u;
/** Half of a surrogate pair on its own: not text, and it would be stored as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const name = text('name')
  .trim()
  .min(1, 'name is required')
  .max(100, 'name must be at most 100 characters')
  .refine((value) => !CONTROL_CHARACTER.test(value), 'name must not contain control characters')
  .refine((value) => !LONE_SURROGATE.test(value), 'name must be valid Unicode text');

export const RegisterBody = z.object({ email, password: newPassword('password'), name }, BODY);
export type RegisterBody = z.infer<typeof RegisterBody>;

export const LoginBody = z.object(
  {
    email,
    password: givenPassword('password'),
    remember: z.boolean({ error: 'remember must be true or false' }).optional(),
  },
  BODY,
);
export type LoginBody = z.infer<typeof LoginBody>;

/** The sign-in form: a checked box sends "on", an unchecked one sends nothing. */
export const LoginForm = LoginBody.extend({
  remember: z
    .enum(['on', 'true', 'false'], { error: 'remember must be on or absent' })
    .optional()
    .transform((value) => value === 'on' || value === 'true'),
  next: z.string().max(2048).optional(),
});

export const TokenBody = z.object({ email, password: givenPassword('password') }, BODY);
export type TokenBody = z.infer<typeof TokenBody>;

export const PasswordChangeBody = z.object(
  { currentPassword: givenPassword('currentPassword'), newPassword: newPassword('newPassword') },
  BODY,
);
export type PasswordChangeBody = z.infer<typeof PasswordChangeBody>;

export const RolesBody = z.object(
  {
    roles: z
    .array(
      z
        .string({ error: 'each role must be a string' })
        .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a role is 1-32 characters of a-z, 0-9, _ and -, starting with a letter'),
      { error: 'roles must be an array of strings' },
    )
    .max(16, 'at most 16 roles'),
  },
  BODY,
);
export type RolesBody = z.infer<typeof RolesBody>;

/** Route ids are UUIDs; anything else cannot name a user, so it is a 404, not a database error. */
export const UserId = z.uuid();
