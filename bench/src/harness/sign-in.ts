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

/** Which API a variant speaks: the bench's two routes, or the reference app's. */
export type BenchApp = 'bench' | 'demo';

/** The authenticated read the load sends. */
export function readPath(app: BenchApp): string {
  return app === 'demo' ? '/api/auth/me' : '/me';
}

/** Signs the bench user in and returns the Cookie header to send on reads. */
export async function signIn(baseUrl: string, expectCookie: boolean, app: BenchApp = 'bench', n = 0): Promise<string> {
  if (app === 'demo') return registerOnDemo(baseUrl, n);
  const response = await fetch(`${baseUrl}/login`, { method: 'POST' });
  const body = await response.text();
  if (!response.ok) throw new Error(`POST /login answered ${response.status}: ${body.slice(0, 300)}`);
  const cookie = cookieHeader(response.headers.getSetCookie());
  if (expectCookie && cookie === '') throw new Error('POST /login set no cookie');
  return expectCookie ? cookie : PLACEHOLDER_COOKIE;
}

/** `count` sessions, signed in one after the other (sessions never share a cookie). */
export async function signInMany(baseUrl: string, expectCookie: boolean, app: BenchApp, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) cookies.push(await signIn(baseUrl, expectCookie, app, i));
  if (expectCookie && new Set(cookies).size !== cookies.length) throw new Error('two sign-ins gave the same cookie');
  return cookies;
}

/**
 * The reference app's real sign-up: a CSRF token (and its pre-session cookie)
 * from `GET /api/auth/csrf`, then `POST /api/auth/register`, which signs the
 * new user in. One argon2 hash per session.
 */
async function registerOnDemo(baseUrl: string, n: number): Promise<string> {
  const csrf = await fetch(`${baseUrl}/api/auth/csrf`);
  const { token } = (await csrf.json()) as { token?: unknown };
  if (typeof token !== 'string') throw new Error(`GET /api/auth/csrf answered ${csrf.status} without a token`);
  const preSession = cookieHeader(csrf.headers.getSetCookie());
  const response = await fetch(`${baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-csrf-token': token, ...(preSession ? { cookie: preSession } : {}) },
    body: JSON.stringify({ email: `bench-${n}-${process.pid}@example.com`, password: 'correct horse battery', name: BENCH_USER.name }),
  });
  const body = await response.text();
  if (response.status !== 201) throw new Error(`POST /api/auth/register answered ${response.status}: ${body.slice(0, 300)}`);
  const cookie = cookieHeader(response.headers.getSetCookie());
  if (cookie === '') throw new Error('POST /api/auth/register set no cookie');
  return cookie;
}

/** Whether a read's body is the signed-in bench user, as each API shapes it. */
function isSignedInUser(app: BenchApp, body: string): boolean {
  const parsed = JSON.parse(body) as { id?: unknown; user?: { name?: unknown } };
  return app === 'demo' ? parsed.user?.name === BENCH_USER.name : parsed.id === BENCH_USER.id;
}

/**
 * Checks that the variant answers what the load will ask: the signed-in user
 * with the cookie and, when it has sessions, 401 without it — so a variant
 * that lets everyone in cannot post a flattering figure.
 */
export async function checkAuthenticatedRead(baseUrl: string, cookie: string, hasSessions: boolean, app: BenchApp = 'bench'): Promise<void> {
  const path = readPath(app);
  const response = await fetch(`${baseUrl}${path}`, { headers: { cookie } });
  const body = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} with the cookie answered ${response.status}: ${body.slice(0, 300)}`);
  if (!isSignedInUser(app, body)) throw new Error(`GET ${path} answered ${body.slice(0, 300)}, not the signed-in user`);
  if (!hasSessions) return;
  const anonymous = await fetch(`${baseUrl}${path}`);
  await anonymous.arrayBuffer();
  if (anonymous.status !== 401) throw new Error(`GET ${path} without a cookie answered ${anonymous.status}, expected 401`);
}
