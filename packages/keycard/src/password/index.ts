export { PasswordHasher, PasswordPolicyError, UnsupportedHashError, OWASP_ARGON2ID } from './hasher.js';
export type { Argon2Parameters, PasswordHasherOptions, VerifyResult } from './hasher.js';
export { checkPassword, normalizePassword, DEFAULT_PASSWORD_POLICY } from './policy.js';
export type { PasswordCheck, PasswordPolicy, PasswordProblem } from './policy.js';
