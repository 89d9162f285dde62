import { BENCH_USER } from '../servers/user.js';

/**
 * Sent by the load generator to the ceilings, which set no cookie: a header of
 * the size of a real session cookie, so every variant receives the same bytes.
 */
export const PLACEHOLDER_COOKIE = `sid=${'x'.repeat(87)}`;

/** The `name=value` pairs of a response's Set-Cookie headers, as a Cookie header. */
export function cookieHeader(setCookies: readonly string[]): string {
  return setCookies
    .map((line) => line.split(';', 1)[0]?.trim() ?? '')
    .filter((pair) => pair.includes('=') && !pair.endsWith('='))
    .join('; ');
}

/** Signs the bench user in and returns the Cookie header to send on reads. */
export async function signIn(baseUrl: string, expectCookie: boolean): Promise<string> {
  const response = await fetch(`${baseUrl}/login`, { method: 'POST' });
  const body = await response.text();
  if (!response.ok) throw new Error(`POST /login answered ${response.status}: ${body.slice(0, 300)}`);
  const cookie = cookieHeader(response.headers.getSetCookie());
  if (expectCookie && cookie === '') throw new Error('POST /login set no cookie');
  return expectCookie ? cookie : PLACEHOLDER_COOKIE;
}

/**
 * Checks that the variant answers what the load will ask: the signed-in user
 * with the cookie and, when it has sessions, 401 without it — so a variant
 * that lets everyone in cannot post a flattering figure.
 */
export async function checkAuthenticatedRead(baseUrl: string, cookie: string, hasSessions: boolean): Promise<void> {
  const response = await fetch(`${baseUrl}/me`, { headers: { cookie } });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET /me with the cookie answered ${response.status}: ${body.slice(0, 300)}`);
  const user = JSON.parse(body) as { id?: unknown };
  if (user.id !== BENCH_USER.id) throw new Error(`GET /me answered ${body.slice(0, 300)}, not the signed-in user`);
  if (!hasSessions) return;
  const anonymous = await fetch(`${baseUrl}/me`);
  await anonymous.arrayBuffer();
  if (anonymous.status !== 401) throw new Error(`GET /me without a cookie answered ${anonymous.status}, expected 401`);
}
