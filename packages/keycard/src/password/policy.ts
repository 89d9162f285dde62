/**
 * Password rules, after NIST SP 800-63B §5.1.1.2 and the OWASP Authentication
 * Cheat Sheet: a length range and nothing else. Every character is allowed
 * (spaces, emoji, any script); nothing is trimmed or truncated; no composition
 * rules. Length is counted in Unicode code points of what the user typed, so
 * "ünïcødé" and "🔑🔑🔑🔑" count as a person would count them.
 *
 * Normalisation: hashing and verification use the NFKC form (NIST: "SHOULD
 * apply ... NFKC or NFKD"), so the same password typed on a keyboard that
 * produces precomposed characters and on one that produces combining marks
 * verifies. The length rule applies to the input, not the normalised form,
 * because NFKC can expand a character (U+FDFA becomes 18) and the user should
 * not be told a 10-character password is too long.
 */

export interface PasswordPolicy {
  /** Fewest code points accepted by `hash` and `checkPassword`. Default 8 (SPEC, NIST minimum). */
  readonly minLength: number;
  /** Most code points accepted anywhere; longer input is refused before any hashing (DoS). Default 128. */
  readonly maxLength: number;
}

export const DEFAULT_PASSWORD_POLICY: PasswordPolicy = Object.freeze({ minLength: 8, maxLength: 128 });

export type PasswordProblem = 'not-a-string' | 'malformed' | 'too-short' | 'too-long';

/** The outcome of `checkPassword`: a value, because a weak password is an expected input, not a failure. */
export type PasswordCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly problem: PasswordProblem; readonly message: string };

// In a `u` regex a well-formed surrogate pair is one code point, so this only
// matches lone surrogates. The native hasher would turn them into U+FFFD, making
// different invalid strings the same password.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Code points in `password`, counting no further than `limit + 1`: the cost is
 * bounded by the policy, not by the size of what a client sent.
 */
export function countCodePoints(password: string, limit: number): number {
  let count = 0;
  for (const _ of password) {
    if (++count > limit) break;
  }
  return count;
}

/** True when `password` has more than `maxLength` code points; O(maxLength) whatever its size. */
export function exceedsMaxLength(password: string, maxLength: number): boolean {
  return countCodePoints(password, maxLength) > maxLength;
}

/**
 * Checks a new password (registration, password change) against the policy.
 * Messages are safe to show to the user and never echo the password.
 */
export function checkPassword(password: unknown, policy: PasswordPolicy = DEFAULT_PASSWORD_POLICY): PasswordCheck {
  if (typeof password !== 'string') {
    return { ok: false, problem: 'not-a-string', message: 'password must be a string' };
  }
  const length = countCodePoints(password, policy.maxLength);
  if (length > policy.maxLength) {
    return { ok: false, problem: 'too-long', message: `password must be at most ${policy.maxLength} characters` };
  }
  if (length < policy.minLength) {
    return { ok: false, problem: 'too-short', message: `password must be at least ${policy.minLength} characters` };
  }
  if (LONE_SURROGATE.test(password)) {
    return { ok: false, problem: 'malformed', message: 'password contains invalid Unicode (an unpaired surrogate)' };
  }
  return { ok: true };
}

/** The form that is hashed: NFKC. Call only on input already bounded by `maxLength`. */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}
