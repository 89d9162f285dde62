// #region readme
import { LoginThrottle, type Principal, type Session } from '../../src/index.js';
import { PasswordHasher } from '../../src/password/index.js';

interface User { readonly id: string; readonly roles: string[]; readonly authVersion: number; readonly passwordHash: string }
const hasher = new PasswordHasher();    // argon2id, m=19456 KiB, t=2, p=1; passwords of 8 to 128 code points
const throttle = new LoginThrottle();   // 5 failures per account per 900 s, 50 per client address

async function signIn(session: Session, user: User | null, email: string, password: string, ip: string | undefined) {
  const decision = await throttle.check(email, ip);
  if (!decision.allowed) return { status: 429, retryAfter: decision.retryAfterSeconds }; // send Retry-After
  const result = user ? await hasher.verify(user.passwordHash, password) : await hasher.verifyUnknown(password);
  if (!user || !result.ok) return { status: 401 };   // the same answer, in the same time, for both
  await throttle.recordSuccess(decision.attempt);
  if (result.needsRehash) user = { ...user, passwordHash: await hasher.hash(password) }; // store it
  const principal: Principal = { id: user.id, roles: user.roles, authVersion: user.authVersion };
  await session.signIn(principal);
  return { status: 200 };
}
// #endregion readme

export { signIn };
